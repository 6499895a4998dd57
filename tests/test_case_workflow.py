"""The case workflow through every stage and path, on the time-skipping test server."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain import rules
from domain.calendar import WorkingCalendar
from domain.messages import (
    AddProgressNote,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    DepartmentDeadline,
    Dispatch,
    Escalate,
    RateFeedback,
    RecordConsultationDecision,
    RecordFollowUp,
    RequestExtension,
    ResolveOnSite,
    ResumeCase,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    SuspendCase,
    Urge,
    VerifyOnSite,
)
from domain.model import (
    AssignmentState,
    FeedbackChannel,
    FollowUpOutcome,
    Rating,
    ReviewTrigger,
    RoundReason,
    Stage,
    Status,
    Tier,
)
from domain.state import CaseState
from tests.driver import (
    ENFORCEMENT,
    ENVIRONMENT,
    HOUSING,
    MARKET,
    CaseUnderTest,
    dispatch,
    record_review,
    sign_and_complete,
    verify_and_rate,
)
from tests.histories import HistoryLog
from tests.support import (
    DAY,
    case_input,
    coordinator,
    department,
    grid_worker,
    make_worker,
    policy,
    reporter,
    request_id,
)


async def test_single_department_dispatch_to_archive(open_case) -> None:
    case = await open_case()
    assert (await case.case()).stage is Stage.REPORT

    await dispatch(case, MARKET)
    state = await case.case()
    assert (state.stage, state.status) == (Stage.HANDLE, Status.HANDLING)
    assert [a.department for a in state.assignments] == [MARKET]
    assert state.assignments[0].sign_clock.due_at < state.assignments[0].handling_clock.due_at

    await sign_and_complete(case, MARKET, "已清理占道物品并约谈店主")
    assert (await case.case()).status is Status.AWAITING_VERIFICATION
    await verify_and_rate(case)

    summary = await case.result()
    assert summary.rating is Rating.SATISFIED
    assert summary.breaches == 0
    assert summary.review_triggers == ()
    state = await case.case()
    assert state.stage is Stage.ARCHIVED
    assert state.reply == "已清理占道物品并约谈店主"
    assert await case.event_types() == [
        "reported",
        "dispatched",
        "round_started",
        "signed",
        "completed",
        "awaiting_verification",
        "verified",
        "awaiting_feedback",
        "feedback_rated",
        "closed",
        "archived",
    ]
    assert [e.sequence for e in state.events] == list(range(1, len(state.events) + 1))


async def test_joint_handling_return_extension_and_breach(
    open_case, calendar: WorkingCalendar
) -> None:
    case = await open_case()
    await dispatch(case, MARKET, ENFORCEMENT, HOUSING)

    # 综合执法 returns the work; the case goes back to consult and is re-routed to 生态环境.
    await case.act(
        ReturnWork(request_id=request_id(), actor=department(ENFORCEMENT), reason="非本部门职责")
    )
    state = await case.case()
    assert (state.stage, state.status) == (Stage.CONSULT, Status.AWAITING_REROUTING)
    assert state.returns == {ENFORCEMENT: 1}
    await dispatch(case, MARKET, HOUSING, ENVIRONMENT)
    state = await case.case()
    assert state.status is Status.HANDLING
    assert sorted(a.department for a in state.assignments if a.active) == sorted(
        [MARKET, HOUSING, ENVIRONMENT]
    )

    # 市场监管 asks for two more working days and gets them.
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    old_due = next(a for a in state.assignments if a.department == MARKET).handling_clock.due_at
    await case.act(
        RequestExtension(
            request_id=request_id(), actor=department(MARKET), extra_days=2, reason="需等待检测报告"
        )
    )
    await case.act(
        DecideExtension(
            request_id=request_id(), actor=coordinator(), department=MARKET, approve=True
        )
    )
    state = await case.case()
    market = next(a for a in state.assignments if a.department == MARKET)
    assert market.handling_clock.due_at == calendar.add_working_days(old_due, 2)
    assert market.extensions[0].approved is True

    # 生态环境 finishes; 住建 signs but lets the handling deadline pass.
    await sign_and_complete(case, ENVIRONMENT)
    await case.act(SignForWork(request_id=request_id(), actor=department(HOUSING)))
    housing = next(a for a in (await case.case()).assignments if a.department == HOUSING)
    await case.advance_past(housing.handling_clock.warn_at)
    assert "sla_warning" in await case.event_types()
    await case.advance_past(housing.handling_clock.due_at)
    snapshot = await case.snapshot()
    housing = next(a for a in snapshot.case.assignments if a.department == HOUSING)
    assert housing.handling_clock.breached
    assert snapshot.flags.overdue
    assert housing.urge_count == 1
    await case.advance_past(housing.handling_clock.escalate_at[0])
    housing = next(a for a in (await case.case()).assignments if a.department == HOUSING)
    assert housing.supervision_tier is Tier.TOWN

    types = await case.event_types()
    overdue = [e for e in (await case.case()).events if e.type == "sla_overdue"]
    assert {e.data["department"] for e in overdue} == {HOUSING}
    assert types.index("sla_warning") < types.index("sla_overdue") < types.index("supervised")

    # The lead completes; the case waits for the last co-handler, then for the lead's reply.
    await case.act(
        CompleteWork(request_id=request_id(), actor=department(MARKET), result="已立案查处")
    )
    assert (await case.case()).status is Status.HANDLING
    assert (
        await case.refusal(
            SubmitFinalReply(request_id=request_id(), actor=department(MARKET), reply="x")
        )
        == "handling_unfinished"
    )
    await case.act(
        CompleteWork(request_id=request_id(), actor=department(HOUSING), result="已拆除违建雨棚")
    )
    assert (await case.case()).status is Status.AWAITING_FINAL_REPLY
    assert (
        await case.refusal(
            SubmitFinalReply(request_id=request_id(), actor=department(HOUSING), reply="x")
        )
        == "not_lead"
    )
    await case.act(
        SubmitFinalReply(
            request_id=request_id(), actor=department(MARKET), reply="三部门联合处置完毕"
        )
    )
    await verify_and_rate(case)

    state = await case.case()
    assert state.stage is Stage.REVIEW
    assert state.review is not None
    assert ReviewTrigger.BREACH in state.review.triggers
    await record_review(case)
    summary = await case.result()
    assert summary.returns == 1
    assert summary.breaches == 1


async def test_suspension_pauses_the_clock(open_case, calendar: WorkingCalendar) -> None:
    case = await open_case()
    await dispatch(case, MARKET)
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    before = (await case.case()).assignments[0].handling_clock

    await case.act(SuspendCase(request_id=request_id(), actor=coordinator(), reason="等待法院裁定"))
    assert (await case.snapshot()).flags.suspended
    await case.advance(10 * DAY)  # far beyond the old deadline: nothing may fire
    assert "sla_overdue" not in await case.event_types()
    await case.act(ResumeCase(request_id=request_id(), actor=coordinator()))

    state = await case.case()
    suspension = state.suspensions[0]
    assert suspension.resumed_at is not None
    paused = calendar.working_time_between(suspension.suspended_at, suspension.resumed_at)
    after = state.assignments[0].handling_clock
    assert paused > timedelta(0)
    assert suspension.paused_working_time == paused
    assert calendar.working_time_between(before.due_at, after.due_at) == paused
    assert after.due_at == calendar.add_working_time(before.due_at, paused)
    assert not after.breached


async def test_on_site_resolution_skips_to_feedback(open_case) -> None:
    case = await open_case()
    await case.act(
        ResolveOnSite(
            request_id=request_id(),
            actor=grid_worker(),
            result="网格员现场劝导，店主已收回货物",
            evidence_urls=("https://evidence.example/after.jpg",),
        )
    )
    state = await case.case()
    assert (state.stage, state.status) == (Stage.FEEDBACK, Status.AWAITING_FEEDBACK)
    assert state.rounds == []
    assert state.assignments == []
    await case.act(
        RateFeedback(
            request_id=request_id(),
            actor=coordinator(),
            rating=Rating.BASICALLY_SATISFIED,
            channel=FeedbackChannel.CALLBACK,
        )
    )
    summary = await case.result()
    assert summary.rating is Rating.BASICALLY_SATISFIED
    assert summary.rounds == 0


async def test_no_rating_within_the_window_closes_the_case(open_case) -> None:
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
    summary = await case.result()
    assert summary.rating is None
    assert "feedback_not_given" in await case.event_types()


async def test_dissatisfied_is_rehandled_then_satisfied(open_case) -> None:
    case = await open_case(max_rehandling_rounds=1)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case, Rating.DISSATISFIED)

    state = await case.case()
    assert (state.stage, state.status) == (Stage.HANDLE, Status.HANDLING)
    assert [r.reason for r in state.rounds] == [RoundReason.DISPATCH, RoundReason.REHANDLING]
    assert state.rehandling_rounds == 1
    assert [a.state for a in state.assignments] == [
        AssignmentState.COMPLETED,
        AssignmentState.AWAITING_SIGN,
    ]
    await sign_and_complete(case, MARKET, "重新处置，已彻底清理")
    await verify_and_rate(case, Rating.SATISFIED)

    state = await case.case()
    assert state.rating is Rating.SATISFIED
    assert state.review is not None
    assert state.review.triggers == (ReviewTrigger.DISSATISFACTION,)
    await record_review(case)
    assert (await case.result()).rehandling_rounds == 1


async def test_rehandling_cap_forces_review(open_case) -> None:
    case = await open_case(max_rehandling_rounds=0)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case, Rating.DISSATISFIED)

    state = await case.case()
    assert state.closed_at is not None
    assert (state.stage, state.status) == (Stage.REVIEW, Status.AWAITING_REVIEW)
    assert state.review is not None
    assert set(state.review.triggers) == {
        ReviewTrigger.DISSATISFACTION,
        ReviewTrigger.REHANDLING_CAP,
    }


async def test_recurrence_at_follow_up_opens_a_new_round(open_case) -> None:
    case = await open_case(follow_up_after=(7 * DAY, 30 * DAY))
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)
    state = await case.case()
    assert (state.stage, state.status) == (Stage.FOLLOW_UP, Status.FOLLOW_UP_SCHEDULED)

    too_early = RecordFollowUp(
        request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.STILL_RESOLVED
    )
    assert await case.refusal(too_early) == "follow_up_not_due"
    await case.advance_past(state.follow_ups[0].due_at)
    assert (await case.case()).status is Status.FOLLOW_UP_DUE
    await case.act(
        RecordFollowUp(
            request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.RECURRED
        )
    )

    state = await case.case()
    assert (state.stage, state.status) == (Stage.HANDLE, Status.HANDLING)
    assert state.rounds[-1].reason is RoundReason.RECURRENCE
    assert state.recurrences == 1
    assert state.closed_at is None
    await sign_and_complete(case, MARKET, "再次清理并纳入重点巡查")
    await verify_and_rate(case)

    for _ in range(2):
        state = await case.case()
        pending = next(f for f in state.follow_ups if f.recorded_at is None)
        await case.advance_past(pending.due_at)
        await case.act(
            RecordFollowUp(
                request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.STILL_RESOLVED
            )
        )
    state = await case.case()
    assert state.review is not None
    assert state.review.triggers == (ReviewTrigger.RECURRENCE,)
    await record_review(case)
    assert (await case.result()).recurrences == 1


async def test_review_by_sign_for_breach(open_case) -> None:
    case = await open_case()
    await dispatch(case, HOUSING)
    sign_clock = (await case.case()).assignments[0].sign_clock
    await case.advance_past(sign_clock.due_at)
    await sign_and_complete(case, HOUSING)
    signed = next(e for e in (await case.case()).events if e.type == "signed")
    assert signed.data["late"] is True
    await verify_and_rate(case)
    state = await case.case()
    assert state.review is not None
    assert state.review.triggers == (ReviewTrigger.BREACH,)
    await record_review(case)
    assert (await case.result()).breaches == 1


async def test_review_by_sampling(open_case) -> None:
    case = await open_case(review_sampling_rate=1.0)
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await verify_and_rate(case)
    state = await case.case()
    assert state.review is not None
    assert state.review.triggers == (ReviewTrigger.SAMPLING,)


async def test_consultation_decision_sets_per_department_deadlines(
    open_case, calendar: WorkingCalendar
) -> None:
    case = await open_case()
    await case.act(Escalate(request_id=request_id(), actor=coordinator(), reason="涉及多个部门"))
    await case.act(
        ConveneConsultation(
            request_id=request_id(),
            actor=coordinator(),
            participants=(MARKET, HOUSING),
            agenda="沿街违建与占道经营联合整治",
        )
    )
    state = await case.case()
    assert (state.stage, state.status, state.tier) == (Stage.CONSULT, Status.CONSULTING, Tier.TOWN)

    decided_at = await case.now()
    await case.act(
        RecordConsultationDecision(
            request_id=request_id(),
            actor=coordinator(),
            lead_department=HOUSING,
            co_departments=(MARKET,),
            deadlines=(DepartmentDeadline(department=HOUSING, handling_days=10),),
            participants=(MARKET, HOUSING, "town_command_office"),
            minutes="住建牵头拆除，市场监管配合取缔占道",
        )
    )
    state = await case.case()
    assert state.consultations[0].decided_at is not None
    assert not state.consultations[0].clock.running
    due = {a.department: a.handling_clock.due_at for a in state.assignments}
    assert due[HOUSING].date() == calendar.add_working_days(decided_at, 10).date()
    assert due[MARKET].date() == calendar.add_working_days(decided_at, 3).date()
    assert state.rounds[0].reason is RoundReason.CONSULTATION
    # Escalated to town: an SLA breach can be escalated once more, to the county.
    assert len(state.assignments[0].handling_clock.escalate_at) == 1


async def test_illegal_actions_are_refused_before_history(open_case) -> None:
    case = await open_case()
    assert (
        await case.refusal(
            RateFeedback(request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED)
        )
        == "not_awaiting_feedback"
    )
    assert (
        await case.refusal(
            Dispatch(request_id=request_id(), actor=grid_worker(), lead_department=MARKET)
        )
        == "not_permitted"
    )
    await dispatch(case, MARKET)
    events_before = len((await case.case()).events)
    accepted_before = await case.accepted_updates()

    refusals = {
        "not_assigned": SignForWork(request_id=request_id(), actor=department(HOUSING)),
        "not_signed": CompleteWork(request_id=request_id(), actor=department(MARKET), result="x"),
        "no_pending_extension": DecideExtension(
            request_id=request_id(), actor=coordinator(), department=MARKET, approve=True
        ),
        "not_awaiting_feedback": RateFeedback(
            request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED
        ),
        "wrong_stage": VerifyOnSite(request_id=request_id(), actor=grid_worker(), passed=True),
        "not_suspended": ResumeCase(request_id=request_id(), actor=coordinator()),
    }
    for expected, command in refusals.items():
        assert await case.refusal(command) == expected, type(command).__name__

    assert len((await case.case()).events) == events_before
    assert await case.accepted_updates() == accepted_before


async def test_duplicate_request_ids_have_one_effect(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET)
    sign = SignForWork(request_id=request_id(), actor=department(MARKET))
    first = await case.act(sign)
    second = await case.act(sign)
    assert first == second

    urge = Urge(request_id=request_id(), actor=coordinator(), department=MARKET, message="请尽快")
    await case.urge(urge)
    await case.urge(urge)
    state = await case.case()
    assert [e.type for e in state.events].count("signed") == 1
    assert [e.type for e in state.events].count("urged") == 1
    assert state.assignments[0].urge_count == 1


async def test_deadline_beyond_the_known_calendar_is_refused(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    bare_calendar = WorkingCalendar()
    async with make_worker(time_skipping_env.client, task_queue, bare_calendar, read_model):
        now = await time_skipping_env.get_current_time()
        case = await CaseUnderTest.start(
            time_skipping_env, task_queue, case_input(now, policy(handling_days=365)), history_log
        )
        refused = await case.refusal(
            Dispatch(request_id=request_id(), actor=coordinator(), lead_department=MARKET),
            by_validator=False,
        )
        assert refused == "calendar_data_missing"
        state = await case.case()
        assert state.stage is Stage.REPORT
        assert state.assignments == []


async def test_a_defect_fails_one_action_and_leaves_the_case_unchanged(
    open_case, monkeypatch: pytest.MonkeyPatch, history_log: HistoryLog
) -> None:
    case = await open_case()
    history_log.forget(case.handle.id)
    await dispatch(case, MARKET)
    before = await case.case()
    note_rule = rules.RULES[AddProgressNote]

    def half_applied(case_state: CaseState, *args: object) -> None:
        case_state.assignments[0].urge_count += 100
        raise LookupError("simulated defect")

    monkeypatch.setattr(note_rule, "apply", half_applied)
    note = AddProgressNote(request_id=request_id(), actor=department(MARKET), note="进展")
    assert await case.refusal(note, by_validator=False) == "internal_error"
    assert await case.case() == before

    monkeypatch.undo()
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    assert (await case.case()).assignments[0].signed_at is not None
