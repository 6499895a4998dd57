"""A coordinator's control over a running case, and the clocks that keep it from stalling:
suspension, extensions, reassignment and withdrawal, the final-reply and verification clocks, and
actions that arrive together with a timer that is already due."""

import asyncio

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from domain.clocks import ClockKind
from domain.messages import (
    AddProgressNote,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    Dispatch,
    Escalate,
    ReassignWork,
    RequestExtension,
    ResumeCase,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    SuspendCase,
    VerifyOnSite,
    WithdrawWork,
)
from domain.model import AssignmentRole, AssignmentState, ReviewTrigger, RoundReason, Status
from domain.state import Assignment, CaseState
from tests.driver import (
    ENFORCEMENT,
    ENVIRONMENT,
    HOUSING,
    MARKET,
    CaseUnderTest,
    dispatch,
    sign_and_complete,
    verify_and_rate,
)
from tests.histories import HistoryLog
from tests.support import (
    DAY,
    always_working_calendar,
    case_input,
    coordinator,
    department,
    grid_worker,
    make_worker,
    policy,
    request_id,
)

SIGN_FOR_SECONDS = 4


def assignment_of(state: CaseState, code: str) -> Assignment:
    return next(a for a in reversed(state.assignments) if a.department == code)


async def test_a_sign_for_arriving_with_its_overdue_timer_is_late(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    now = await dev_env.get_current_time()
    calendar = always_working_calendar(now.year, now.year + 1)
    quick = policy(sign_for_hours=SIGN_FOR_SECONDS / 3600)
    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        case = await CaseUnderTest.start(dev_env, task_queue, case_input(now, quick), history_log)
        await dispatch(case, MARKET)
        sign_clock = (await case.case()).assignments[0].sign_clock

    # With no worker the deadline passes unnoticed; the sign-for then reaches the next worker
    # in the same workflow task as the timer that fell due.
    await asyncio.sleep((sign_clock.due_at - await dev_env.get_current_time()).total_seconds() + 1)
    sign = asyncio.create_task(
        case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    )
    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        await sign
        state = await case.case()
        await case.close_if_running()

    assert state.assignments[0].sign_clock.overdue_at == sign_clock.due_at
    types = [e.type for e in state.events]
    assert types.index("sla_overdue") < types.index("signed")
    signed = next(e for e in state.events if e.type == "signed")
    assert signed.data["late"] is True
    assert ReviewTrigger.BREACH in state.review_triggers


async def test_a_suspended_case_refuses_whatever_would_move_it(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET, HOUSING)
    await case.act(SuspendCase(request_id=request_id(), actor=coordinator(), reason="等待鉴定"))

    refused = {
        "sign": SignForWork(request_id=request_id(), actor=department(MARKET)),
        "reassign": ReassignWork(
            request_id=request_id(),
            actor=coordinator(),
            department=HOUSING,
            to_department=ENVIRONMENT,
            reason="x",
        ),
        "withdraw": WithdrawWork(
            request_id=request_id(), actor=coordinator(), department=HOUSING, reason="x"
        ),
        "suspend again": SuspendCase(request_id=request_id(), actor=coordinator(), reason="x"),
    }
    for name, command in refused.items():
        assert await case.refusal(command) == "case_suspended", name

    # Notes and escalation neither move the case nor start a clock.
    await case.act(AddProgressNote(request_id=request_id(), actor=department(MARKET), note="在等"))
    await case.act(Escalate(request_id=request_id(), actor=coordinator(), reason="久拖不决"))
    await case.act(ResumeCase(request_id=request_id(), actor=coordinator()))
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    assert assignment_of(await case.case(), MARKET).signed_at is not None


async def test_nothing_to_suspend_without_a_running_clock(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET)
    await case.act(ReturnWork(request_id=request_id(), actor=department(MARKET), reason="非本部门"))
    assert (await case.case()).status is Status.AWAITING_REROUTING
    refusal = await case.refusal(
        SuspendCase(request_id=request_id(), actor=coordinator(), reason="x")
    )
    assert refusal == "no_running_clock"


async def test_an_extension_after_the_breach_keeps_the_first_breach(
    open_case, calendar: WorkingCalendar
) -> None:
    case = await open_case(handling_days=1)
    await dispatch(case, MARKET)
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    clock = (await case.case()).assignments[0].handling_clock
    await case.advance_past(clock.due_at + 3 * DAY)

    ask = RequestExtension(
        request_id=request_id(), actor=department(MARKET), extra_days=1, reason="材料未到"
    )
    await case.act(ask)
    again = RequestExtension(
        request_id=request_id(), actor=department(MARKET), extra_days=2, reason="x"
    )
    assert await case.refusal(again) == "extension_pending"
    await case.act(
        DecideExtension(
            request_id=request_id(), actor=coordinator(), department=MARKET, approve=True
        )
    )
    overdue_before = [e for e in (await case.case()).events if e.type == "sla_overdue"]
    # The new deadline is still in the past: nothing fires again, the breach keeps its moment.
    await case.advance(DAY)
    state = await case.case()
    extended = state.assignments[0].handling_clock
    assert extended.due_at == calendar.add_working_days(clock.due_at, 1)
    assert extended.overdue_at == clock.due_at
    assert [e for e in state.events if e.type == "sla_overdue"] == overdue_before
    assert (await case.snapshot()).flags.overdue


async def test_a_rejected_extension_leaves_the_deadline(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET)
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    due = (await case.case()).assignments[0].handling_clock.due_at
    await case.act(
        RequestExtension(
            request_id=request_id(), actor=department(MARKET), extra_days=5, reason="人手不足"
        )
    )
    await case.act(
        DecideExtension(
            request_id=request_id(),
            actor=coordinator(),
            department=MARKET,
            approve=False,
            comment="理由不充分",
        )
    )
    state = await case.case()
    assert state.assignments[0].handling_clock.due_at == due
    assert state.assignments[0].extensions[0].approved is False
    assert state.events[-1].type == "extension_rejected"


async def test_reassign_and_withdraw_keep_a_joint_case_moving(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET, HOUSING, ENFORCEMENT)
    await case.act(SignForWork(request_id=request_id(), actor=department(ENFORCEMENT)))

    # 住建 never signs: 改派 to 生态环境, which gets fresh clocks.
    await case.act(
        ReassignWork(
            request_id=request_id(),
            actor=coordinator(),
            department=HOUSING,
            to_department=ENVIRONMENT,
            reason="住建未签收，改派生态环境",
        )
    )
    state = await case.case()
    housing, environment = assignment_of(state, HOUSING), assignment_of(state, ENVIRONMENT)
    assert housing.state is AssignmentState.WITHDRAWN
    assert not housing.sign_clock.running
    assert environment.role is AssignmentRole.CO_HANDLER
    assert environment.sign_clock.started_at == housing.withdrawn_at
    assert await case.refusal(SignForWork(request_id=request_id(), actor=department(HOUSING))) == (
        "not_assigned"
    )

    assert (
        await case.refusal(
            WithdrawWork(
                request_id=request_id(), actor=coordinator(), department=MARKET, reason="x"
            )
        )
        == "lead_not_withdrawable"
    )
    assert (
        await case.refusal(
            ReassignWork(
                request_id=request_id(),
                actor=coordinator(),
                department=MARKET,
                to_department=ENFORCEMENT,
                reason="x",
            )
        )
        == "already_assigned"
    )

    # The lead's work can be reassigned; the new department leads the round.
    await case.act(
        ReassignWork(
            request_id=request_id(),
            actor=coordinator(),
            department=MARKET,
            to_department=HOUSING,
            reason="主办改为住建",
        )
    )
    state = await case.case()
    assert state.lead_department == HOUSING
    assert assignment_of(state, HOUSING).role is AssignmentRole.LEAD

    # 综合执法 is not needed after all; withdrawing the last open co-handler can settle the round.
    await sign_and_complete(case, HOUSING)
    await sign_and_complete(case, ENVIRONMENT)
    await case.act(
        WithdrawWork(
            request_id=request_id(), actor=coordinator(), department=ENFORCEMENT, reason="无需配合"
        )
    )
    state = await case.case()
    assert state.status is Status.AWAITING_FINAL_REPLY
    assert [e.type for e in state.events].count("withdrawn") == 1
    await case.act(
        SubmitFinalReply(request_id=request_id(), actor=department(HOUSING), reply="已处置")
    )
    assert (await case.case()).status is Status.AWAITING_VERIFICATION


async def test_a_late_final_reply_and_verification_are_breaches(open_case) -> None:
    case = await open_case(final_reply_hours=4, verification_days=1)
    await dispatch(case, MARKET, HOUSING)
    await sign_and_complete(case, MARKET)
    await sign_and_complete(case, HOUSING)
    reply_clock = (await case.case()).rounds[0].reply_clock
    assert reply_clock is not None
    await case.advance_past(reply_clock.due_at)
    overdue = [e for e in (await case.case()).events if e.type == "sla_overdue"]
    assert [(e.data["clock"], e.data["department"]) for e in overdue] == [
        (ClockKind.FINAL_REPLY.value, MARKET)
    ]

    await case.act(
        SubmitFinalReply(request_id=request_id(), actor=department(MARKET), reply="联合处置完毕")
    )
    state = await case.case()
    assert state.events[-2].type == "final_reply"
    assert state.events[-2].data["late"] is True
    verification_clock = state.rounds[0].verification_clock
    assert verification_clock is not None
    await case.advance_past(verification_clock.due_at)
    snapshot = await case.snapshot()
    assert snapshot.flags.overdue
    assert snapshot.case.events[-2].data["clock"] == ClockKind.VERIFICATION.value

    await verify_and_rate(case)
    state = await case.case()
    assert state.review is not None
    assert state.review.triggers == (ReviewTrigger.BREACH,)
    assert state.breaches() == 2


async def test_a_failed_verification_starts_a_new_round(open_case) -> None:
    case = await open_case()
    await dispatch(case, MARKET)
    await sign_and_complete(case, MARKET)
    await case.act(
        VerifyOnSite(
            request_id=request_id(),
            actor=grid_worker(),
            passed=False,
            notes="货物仍堆放在人行道",
            evidence_urls=("https://evidence.example/still-there.jpg",),
        )
    )
    state = await case.case()
    assert state.status is Status.HANDLING
    assert [r.reason for r in state.rounds] == [
        RoundReason.DISPATCH,
        RoundReason.VERIFICATION_FAILED,
    ]
    assert state.round_assignments()[0].state is AssignmentState.AWAITING_SIGN
    assert "verification_failed" in [e.type for e in state.events]


async def test_a_consultation_that_overruns_is_a_breach(open_case) -> None:
    case = await open_case(consultation_days=1)
    await case.act(
        ConveneConsultation(
            request_id=request_id(), actor=coordinator(), participants=(MARKET, HOUSING)
        )
    )
    clock = (await case.case()).consultations[0].clock
    await case.advance_past(clock.due_at)
    state = await case.case()
    assert state.consultations[0].clock.overdue_at == clock.due_at
    assert ReviewTrigger.BREACH in state.review_triggers


async def test_more_refusals_each_with_its_type(open_case) -> None:
    case = await open_case()
    blank = Dispatch(request_id=request_id(), actor=coordinator(), lead_department=" ")
    assert await case.refusal(blank) == "invalid_routing"
    for _ in range(2):
        await case.act(Escalate(request_id=request_id(), actor=coordinator(), reason="升级"))
    top = Escalate(request_id=request_id(), actor=coordinator(), reason="再升级")
    assert await case.refusal(top) == "top_tier_reached"

    await dispatch(case, MARKET)
    await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
    twice = SignForWork(request_id=request_id(), actor=department(MARKET))
    assert await case.refusal(twice) == "already_signed"
    await case.act(CompleteWork(request_id=request_id(), actor=department(MARKET), result="已处理"))
    late_note = AddProgressNote(request_id=request_id(), actor=department(MARKET), note="补充")
    assert await case.refusal(late_note) == "not_assigned"
