"""Every trigger of post-hoc review (事后倒查, DESIGN.md §2) opens review work, through the real
workflow on the time-skipping server: an SLA breach on any clock, repeated returns,
dissatisfaction and the re-handling cap, recurrence at follow-up, random sampling. Each review
reaches the read model with the deadline an auditor expects: the end of the working day
`GRIDLOOP_REVIEW_WORKING_DAYS` (10) working days after the review opened.

What test_case_workflow.py already shows about the triggers on the workflow's own state is not
repeated here beyond what the read model needs."""

from collections.abc import Awaitable, Callable
from datetime import date, time, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.calendar import WorkingCalendar
from domain.messages import (
    CompleteWork,
    ConveneConsultation,
    RateFeedback,
    RecordConsultationDecision,
    RecordFollowUp,
    ResolveOnSite,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    VerifyOnSite,
)
from domain.model import FollowUpOutcome, Rating, ReviewTrigger, Stage, Status
from gridloop.settings import Settings
from store.models import ReviewRecord
from tests.driver import (
    ENFORCEMENT,
    HOUSING,
    MARKET,
    CaseUnderTest,
    dispatch,
    record_review,
    sign_and_complete,
    verify_and_rate,
    wait_until_projected,
)
from tests.support import (
    DAY,
    SHANGHAI,
    coordinator,
    department,
    grid_worker,
    reporter,
    request_id,
)

OpenCase = Callable[..., Awaitable[CaseUnderTest]]
REVIEW_WORKING_DAYS = 10
END_OF_WORKING_DAY = time(17, 30)  # the default GRIDLOOP_WORKING_HOURS end at 17:30


def test_the_review_deadline_setting_defaults_to_ten_working_days() -> None:
    assert Settings.model_fields["review_working_days"].default == REVIEW_WORKING_DAYS
    # The workers of these tests read their settings from the environment: it must not move it.
    assert Settings().review_working_days == REVIEW_WORKING_DAYS


async def assert_review_opened(
    case: CaseUnderTest,
    sessions: sessionmaker[Session],
    calendar: WorkingCalendar,
    triggers: tuple[ReviewTrigger, ...],
) -> ReviewRecord:
    """The case awaits review for exactly these triggers (in the order they happened), and the
    read model holds that review work with its deadline."""
    state = await case.case()
    assert (state.stage, state.status) == (Stage.REVIEW, Status.AWAITING_REVIEW)
    assert state.review is not None
    assert state.review.triggers == triggers
    assert [e.data["triggers"] for e in state.events if e.type == "review_opened"] == [
        [t.value for t in triggers]
    ]

    await wait_until_projected(sessions, case)
    with sessions() as session:
        row = session.get(ReviewRecord, state.case_no)
    assert row is not None
    assert row.triggers == [t.value for t in triggers]
    assert row.opened_at == state.review.opened_at
    assert row.recorded_at is None
    assert row.due_at == calendar.add_working_days(row.opened_at, REVIEW_WORKING_DAYS)
    assert_ten_working_days_later(calendar, row.opened_at.astimezone(SHANGHAI).date(), row)
    return row


def assert_ten_working_days_later(
    calendar: WorkingCalendar, opened_on: date, row: ReviewRecord
) -> None:
    """What an auditor reads as "10个工作日内": the opening day does not count; the findings are
    due at the close of the tenth working day after it."""
    assert row.due_at is not None
    due = row.due_at.astimezone(SHANGHAI)
    assert due.time() == END_OF_WORKING_DAY
    assert calendar.is_working_day(due.date())
    days = [opened_on + timedelta(days=n) for n in range(1, (due.date() - opened_on).days + 1)]
    assert sum(calendar.is_working_day(day) for day in days) == REVIEW_WORKING_DAYS


async def assert_recorded_and_archived(
    case: CaseUnderTest, sessions: sessionmaker[Session], opened: ReviewRecord
) -> None:
    await record_review(case)
    assert (await case.case()).stage is Stage.ARCHIVED
    await wait_until_projected(sessions, case)
    await finished(case)
    with sessions() as session:
        row = session.get(ReviewRecord, opened.case_no)
    assert row is not None
    assert (row.outcome, row.root_cause) == ("notice", "签收不及时")
    assert row.recorded_at is not None
    assert row.due_at == opened.due_at  # recording the findings does not move the deadline


async def finished(case: CaseUnderTest) -> None:
    """Wait for an archived case's workflow to complete, so that the fixture's clean-up does not
    race it: terminating a workflow that completes meanwhile fails the test's teardown."""
    await case.result()


# ---- SLA breach: every clock but the reporter's feedback window ------------------------------


async def breach_consultation(case: CaseUnderTest) -> None:
    await case.act(
        ConveneConsultation(
            request_id=request_id(),
            actor=coordinator(),
            participants=(MARKET, HOUSING),
            agenda="联合整治",
        )
    )
    consultation = (await case.case()).consultations[0]
    await case.advance_past(consultation.clock.due_at)
    await case.act(
        RecordConsultationDecision(
            request_id=request_id(),
            actor=coordinator(),
            lead_department=MARKET,
            participants=(MARKET, HOUSING),
            minutes="市场监管牵头",
        )
    )
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)


async def breach_sign_for(case: CaseUnderTest) -> None:
    await dispatch(case, MARKET)
    await case.advance_past((await case.case()).assignments[0].sign_clock.due_at)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)


async def breach_handling(case: CaseUnderTest) -> None:
    await dispatch(case, MARKET)
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    await case.advance_past((await case.case()).assignments[0].handling_clock.due_at)
    await case.act(CompleteWork(request_id=request_id(), actor=department(MARKET), result="迟办"))
    await verify_and_rate(case)


async def breach_final_reply(case: CaseUnderTest) -> None:
    await dispatch(case, MARKET, ENFORCEMENT)
    await sign_and_complete(case, MARKET)
    await sign_and_complete(case, ENFORCEMENT)
    reply_clock = (await case.case()).rounds[0].reply_clock
    assert reply_clock is not None
    await case.advance_past(reply_clock.due_at)
    await case.act(
        SubmitFinalReply(request_id=request_id(), actor=department(MARKET), reply="联合处置完毕")
    )
    await verify_and_rate(case)


async def breach_verification(case: CaseUnderTest) -> None:
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    verification_clock = (await case.case()).rounds[0].verification_clock
    assert verification_clock is not None
    await case.advance_past(verification_clock.due_at)
    await verify_and_rate(case)


BREACHES = {
    "consultation": breach_consultation,
    "sign_for": breach_sign_for,
    "handling": breach_handling,
    "final_reply": breach_final_reply,
    "verification": breach_verification,
}


@pytest.mark.parametrize("clock", list(BREACHES))
async def test_a_breach_of_any_clock_opens_review_work(
    clock: str,
    open_case: OpenCase,
    read_model: sessionmaker[Session],
    calendar: WorkingCalendar,
) -> None:
    case = await open_case()
    await BREACHES[clock](case)
    overdue = [e for e in (await case.case()).events if e.type == "sla_overdue"]
    assert [e.data["clock"] for e in overdue] == [clock]
    opened = await assert_review_opened(case, read_model, calendar, (ReviewTrigger.BREACH,))
    await assert_recorded_and_archived(case, read_model, opened)


async def test_an_unrated_reply_is_nobodys_breach(
    open_case: OpenCase, read_model: sessionmaker[Session]
) -> None:
    case = await open_case(feedback_days=2)
    await case.act(
        ResolveOnSite(
            request_id=request_id(),
            actor=grid_worker(),
            result="已现场处置",
            evidence_urls=("https://evidence.example/after.jpg",),
        )
    )
    window = (await case.case()).feedback_clock
    assert window is not None
    await case.advance_past(window.due_at)
    state = await case.case()
    assert "feedback_not_given" in [e.type for e in state.events]
    assert (state.stage, state.review_triggers, state.review) == (Stage.ARCHIVED, [], None)
    await wait_until_projected(read_model, case)
    with read_model() as session:
        assert session.get(ReviewRecord, state.case_no) is None
    await finished(case)


# ---- repeated returns (退单) ------------------------------------------------------------------


async def return_work(case: CaseUnderTest, code: str) -> None:
    await case.act(
        ReturnWork(request_id=request_id(), actor=department(code), reason="非本部门职责")
    )


async def test_returns_reaching_the_threshold_open_review_work(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(repeated_return_threshold=2)
    await dispatch(case, MARKET)
    await return_work(case, MARKET)
    assert (await case.case()).review_triggers == []  # one return is not yet "repeated"
    await dispatch(case, ENFORCEMENT)
    await return_work(case, ENFORCEMENT)
    assert (await case.case()).review_triggers == [ReviewTrigger.REPEATED_RETURNS]
    await dispatch(case, HOUSING)
    await sign_and_complete(case, HOUSING)
    await verify_and_rate(case)
    opened = await assert_review_opened(
        case, read_model, calendar, (ReviewTrigger.REPEATED_RETURNS,)
    )
    await assert_recorded_and_archived(case, read_model, opened)


async def test_returns_below_the_threshold_open_no_review(
    open_case: OpenCase, read_model: sessionmaker[Session]
) -> None:
    case = await open_case(repeated_return_threshold=3)
    await dispatch(case, MARKET)
    await return_work(case, MARKET)
    await dispatch(case, ENFORCEMENT)
    await return_work(case, ENFORCEMENT)
    await dispatch(case, HOUSING)
    await sign_and_complete(case, HOUSING)
    await verify_and_rate(case)
    state = await case.case()
    assert (state.stage, sum(state.returns.values()), state.review) == (Stage.ARCHIVED, 2, None)
    await finished(case)


# ---- dissatisfaction (不满意) and the re-handling cap ----------------------------------------


async def test_dissatisfaction_opens_review_work_after_the_rehandling(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(max_rehandling_rounds=1)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case, Rating.DISSATISFIED)
    # Re-handled first: the review waits until the case is closed.
    assert (await case.case()).stage is Stage.HANDLE
    await sign_and_complete(case, MARKET, "重新处置")
    await verify_and_rate(case, Rating.BASICALLY_SATISFIED)
    opened = await assert_review_opened(
        case, read_model, calendar, (ReviewTrigger.DISSATISFACTION,)
    )
    await assert_recorded_and_archived(case, read_model, opened)


async def test_dissatisfied_once_the_rehandling_cap_is_reached_forces_review(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(max_rehandling_rounds=1)
    await dispatch(case, MARKET)
    for _ in range(2):
        await sign_and_complete(case, MARKET)
        await verify_and_rate(case, Rating.DISSATISFIED)
    state = await case.case()
    assert state.rehandling_rounds == 1
    assert state.closed_at is not None
    assert state.rating is Rating.DISSATISFIED
    opened = await assert_review_opened(
        case,
        read_model,
        calendar,
        (ReviewTrigger.DISSATISFACTION, ReviewTrigger.REHANDLING_CAP),
    )
    await assert_recorded_and_archived(case, read_model, opened)


async def test_a_dissatisfied_callback_counts_like_the_reporters_own_rating(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(max_rehandling_rounds=0)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await case.act(VerifyOnSite(request_id=request_id(), actor=grid_worker(), passed=True))
    await case.act(
        RateFeedback(request_id=request_id(), actor=coordinator(), rating=Rating.DISSATISFIED)
    )
    await assert_review_opened(
        case,
        read_model,
        calendar,
        (ReviewTrigger.DISSATISFACTION, ReviewTrigger.REHANDLING_CAP),
    )


# ---- recurrence at follow-up (长效跟踪) --------------------------------------------------------


async def test_recurrence_opens_review_work_after_the_last_follow_up(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(follow_up_after=(7 * DAY,))
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)
    await case.advance_past((await case.case()).follow_ups[0].due_at)
    await case.act(
        RecordFollowUp(
            request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.RECURRED
        )
    )
    assert (await case.case()).review_triggers == [ReviewTrigger.RECURRENCE]
    await sign_and_complete(case, MARKET, "再次清理")
    await verify_and_rate(case)
    # Closed again, with its re-check scheduled anew: no review until that re-check is done.
    state = await case.case()
    assert (state.stage, state.review) == (Stage.FOLLOW_UP, None)
    await case.advance_past(state.follow_ups[0].due_at)
    await case.act(
        RecordFollowUp(
            request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.STILL_RESOLVED
        )
    )
    opened = await assert_review_opened(case, read_model, calendar, (ReviewTrigger.RECURRENCE,))
    assert opened.opened_at == (await case.case()).events[-1].at
    await assert_recorded_and_archived(case, read_model, opened)


# ---- random sampling (抽查) -------------------------------------------------------------------


async def test_a_sampled_case_opens_review_work(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(review_sampling_rate=1.0)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)
    opened = await assert_review_opened(case, read_model, calendar, (ReviewTrigger.SAMPLING,))
    await assert_recorded_and_archived(case, read_model, opened)


async def test_a_sampled_case_is_reviewed_after_its_follow_ups(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(review_sampling_rate=1.0, follow_up_after=(7 * DAY,))
    await case.act(
        ResolveOnSite(
            request_id=request_id(),
            actor=grid_worker(),
            result="网格员现场劝导",
            evidence_urls=("https://evidence.example/after.jpg",),
        )
    )
    await case.act(RateFeedback(request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED))
    state = await case.case()
    assert (state.stage, state.review) == (Stage.FOLLOW_UP, None)
    await case.advance_past(state.follow_ups[0].due_at)
    await case.act(
        RecordFollowUp(
            request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.STILL_RESOLVED
        )
    )
    await assert_review_opened(case, read_model, calendar, (ReviewTrigger.SAMPLING,))


# ---- several triggers in one case ----------------------------------------------------------


async def test_triggers_accumulate_in_the_order_they_happened(
    open_case: OpenCase, read_model: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    case = await open_case(
        review_sampling_rate=1.0, repeated_return_threshold=1, max_rehandling_rounds=1
    )
    await dispatch(case, MARKET)
    await return_work(case, MARKET)
    await dispatch(case, HOUSING)
    await case.advance_past((await case.case()).assignments[-1].sign_clock.due_at)
    await sign_and_complete(case, HOUSING)
    await verify_and_rate(case, Rating.DISSATISFIED)
    await sign_and_complete(case, HOUSING, "重新处置")
    await verify_and_rate(case)
    await assert_review_opened(
        case,
        read_model,
        calendar,
        (
            ReviewTrigger.REPEATED_RETURNS,
            ReviewTrigger.BREACH,
            ReviewTrigger.DISSATISFACTION,
            ReviewTrigger.SAMPLING,
        ),
    )
