"""Property-based tests of the case rules: any sequence of actions and elapsed time keeps the
case consistent, and a refused action changes nothing."""

from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain import rules
from domain.calendar import WorkingCalendar
from domain.errors import CaseRuleViolation
from domain.messages import (
    AddProgressNote,
    Command,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    Dispatch,
    Escalate,
    RateFeedback,
    ReassignWork,
    RecordConsultationDecision,
    RecordFollowUp,
    RecordReviewFindings,
    RequestExtension,
    ResolveOnSite,
    ResumeCase,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    SuspendCase,
    Urge,
    VerifyOnSite,
    WithdrawWork,
)
from domain.model import (
    AssignmentState,
    FollowUpOutcome,
    Rating,
    ReviewOutcome,
    Stage,
    Status,
)
from domain.planning import plan
from domain.state import Assignment, CaseState, ClockOwner, Consultation, HandlingRound
from tests.support import (
    DAY,
    at,
    auditor,
    case_input,
    coordinator,
    department,
    grid_worker,
    policy,
    reporter,
    request_id,
)

CALENDAR = WorkingCalendar()
DEPARTMENTS = ("market", "enforcement", "housing")
STATUSES_OF_STAGE = {
    Stage.REPORT: {Status.AWAITING_TRIAGE},
    Stage.CONSULT: {Status.CONSULTING, Status.AWAITING_REROUTING},
    Stage.HANDLE: {Status.HANDLING, Status.AWAITING_FINAL_REPLY, Status.AWAITING_VERIFICATION},
    Stage.FEEDBACK: {Status.AWAITING_FEEDBACK},
    Stage.FOLLOW_UP: {Status.FOLLOW_UP_SCHEDULED, Status.FOLLOW_UP_DUE},
    Stage.REVIEW: {Status.AWAITING_REVIEW},
    Stage.ARCHIVED: {Status.ARCHIVED},
}

departments = st.sampled_from(DEPARTMENTS)
ACTIONS = [
    "resolve", "dispatch", "convene", "decide", "escalate", "sign", "complete", "return", "note",
    "extend", "decide_extension", "suspend", "resume", "urge", "reply", "verify", "rate",
    "follow_up", "review", "wrong_role", "reassign", "withdraw",
]  # fmt: skip


def _command(kind: str, dept: str, other: str, flag: bool) -> Command:
    rid = request_id()
    builders = {
        "resolve": lambda: ResolveOnSite(
            request_id=rid, actor=grid_worker(), result="ok", evidence_urls=("https://e/1",)
        ),
        "dispatch": lambda: Dispatch(
            request_id=rid,
            actor=coordinator(),
            lead_department=dept,
            co_departments=(other,) if other != dept else (),
        ),
        "convene": lambda: ConveneConsultation(
            request_id=rid, actor=coordinator(), participants=(dept, other)
        ),
        "decide": lambda: RecordConsultationDecision(
            request_id=rid,
            actor=coordinator(),
            lead_department=dept,
            co_departments=(other,) if other != dept else (),
            participants=(dept,),
            minutes="m",
        ),
        "escalate": lambda: Escalate(request_id=rid, actor=coordinator(), reason="r"),
        "sign": lambda: SignForWork(request_id=rid, actor=department(dept)),
        "complete": lambda: CompleteWork(request_id=rid, actor=department(dept), result="done"),
        "return": lambda: ReturnWork(request_id=rid, actor=department(dept), reason="not ours"),
        "note": lambda: AddProgressNote(request_id=rid, actor=department(dept), note="n"),
        "extend": lambda: RequestExtension(
            request_id=rid, actor=department(dept), extra_days=2, reason="r"
        ),
        "decide_extension": lambda: DecideExtension(
            request_id=rid, actor=coordinator(), department=dept, approve=flag
        ),
        "suspend": lambda: SuspendCase(request_id=rid, actor=coordinator(), reason="r"),
        "resume": lambda: ResumeCase(request_id=rid, actor=coordinator()),
        "urge": lambda: Urge(request_id=rid, actor=coordinator(), department=dept),
        "reply": lambda: SubmitFinalReply(request_id=rid, actor=department(dept), reply="r"),
        "verify": lambda: VerifyOnSite(request_id=rid, actor=grid_worker(), passed=flag),
        "rate": lambda: RateFeedback(
            request_id=rid,
            actor=reporter(),
            rating=Rating.SATISFIED if flag else Rating.DISSATISFIED,
        ),
        "follow_up": lambda: RecordFollowUp(
            request_id=rid,
            actor=grid_worker(),
            outcome=FollowUpOutcome.STILL_RESOLVED if flag else FollowUpOutcome.RECURRED,
        ),
        "review": lambda: RecordReviewFindings(
            request_id=rid, actor=auditor(), root_cause="c", outcome=ReviewOutcome.NONE
        ),
        "wrong_role": lambda: Dispatch(request_id=rid, actor=auditor(), lead_department=dept),
        "reassign": lambda: ReassignWork(
            request_id=rid,
            actor=coordinator(),
            department=dept,
            to_department=other if other != dept else "emergency",
            reason="r",
        ),
        "withdraw": lambda: WithdrawWork(
            request_id=rid, actor=coordinator(), department=dept, reason="r"
        ),
    }
    return builders[kind]()


def _check_invariants(
    case: CaseState, now: datetime, first_breaches: dict[tuple[int, str], datetime]
) -> None:
    assert [e.sequence for e in case.events] == list(range(1, len(case.events) + 1))
    assert case.status in STATUSES_OF_STAGE[case.stage]
    if case.stage is Stage.HANDLE:
        assert case.current_round is not None
    active = [a.department for a in case.round_assignments() if a.active]
    assert len(active) == len(set(active))
    if case.closed_at is not None:
        assert case.stage in (Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED)
    if case.stage in (Stage.FEEDBACK, Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED):
        assert not any(a.active for a in case.assignments)
    for assignment in case.assignments:
        if assignment.state is AssignmentState.COMPLETED:
            assert assignment.signed_at is not None
            assert not assignment.handling_clock.running
    wakeup = case.next_wakeup()
    assert wakeup is None or wakeup > now
    if case.suspended:
        assert case.stage in (Stage.CONSULT, Stage.HANDLE)
        paused_at = case.suspensions[-1].suspended_at
        assert all(clock.started_at <= paused_at for clock in case.running_clocks())
    # A breach dates from the first time a clock ran out, whatever happens to it later.
    for owner, clock in case.owned_clocks():
        if clock.overdue_at is not None:
            key = (_owner_key(owner), clock.kind.value, clock.started_at)
            assert first_breaches.setdefault(key, clock.overdue_at) == clock.overdue_at
    assert len(case.answered) <= rules.ANSWER_WINDOW


def _owner_key(owner: ClockOwner) -> str:
    if isinstance(owner, Assignment):
        return owner.assignment_id
    if isinstance(owner, HandlingRound):
        return f"round-{owner.number}"
    return "consultation" if isinstance(owner, Consultation) else "case"


def _candidates() -> list[tuple[str, str, str, bool]]:
    return [
        (kind, dept, other, flag)
        for kind in ACTIONS
        for dept in DEPARTMENTS
        for other in DEPARTMENTS
        for flag in (True, False)
    ]


def _is_legal(case: CaseState, command: Command, now: datetime) -> bool:
    try:
        rules.validate(case, command, now)
    except CaseRuleViolation:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_sequence_keeps_the_case_consistent(data: st.DataObject) -> None:
    now = at("2026-03-02 09:00")
    sla = policy(follow_up_after=(3 * DAY,), max_rehandling_rounds=1, review_sampling_rate=0)
    case = CaseState.open(case_input(now, sla), sampled_for_review=False)
    first_breaches: dict[tuple[str, str, datetime], datetime] = {}
    for _ in range(data.draw(st.integers(min_value=1, max_value=40), label="steps")):
        move = data.draw(st.sampled_from(["wait", "legal", "legal", "legal", "any"]), label="move")
        if move == "wait":
            now += timedelta(hours=data.draw(st.integers(min_value=1, max_value=72)))
            case.fire_timers(now)
            _check_invariants(case, now, first_breaches)
            continue
        commands = [_command(*candidate) for candidate in _candidates()]
        if move == "legal":
            commands = [c for c in commands if _is_legal(case, c, now)] or commands
        command = data.draw(st.sampled_from(commands), label="command")
        before = case.model_dump()
        if not _is_legal(case, command, now):
            assert case.model_dump() == before
            continue
        planning = plan(CALENDAR, rules.planning_needs(case, command, now))
        answer = rules.apply(case, command, now, planning)
        assert rules.apply(case, command, now, planning) == answer
        _check_invariants(case, now, first_breaches)
    event(f"reached {case.stage.value}")
    event(f"{len(case.events) // 10 * 10}+ events")
