"""Focused tests of the pure case rules, without a Temporal server."""

import pytest

from domain import rules
from domain.calendar import WorkingCalendar
from domain.errors import CaseRuleViolation, Refusal
from domain.messages import AddProgressNote, Command, Dispatch, SignForWork, Urge
from domain.planning import plan
from domain.state import CaseState
from tests.support import HOUR, at, case_input, coordinator, department, request_id

CALENDAR = WorkingCalendar()
MONDAY_MORNING = at("2026-03-02 09:00")


def act(case: CaseState, command: Command) -> None:
    rules.validate(case, command, MONDAY_MORNING)
    planning = plan(CALENDAR, rules.planning_needs(case, command, MONDAY_MORNING))
    rules.apply(case, command, MONDAY_MORNING, planning)


def dispatched_case() -> CaseState:
    case = CaseState.open(case_input(MONDAY_MORNING), sampled_for_review=False)
    act(case, Dispatch(request_id=request_id(), actor=coordinator(), lead_department="market"))
    return case


def test_notes_and_urges_stop_at_the_limit() -> None:
    case = dispatched_case()
    for n in range(rules.MAX_OPTIONAL_ENTRIES):
        if n % 2:
            act(case, Urge(request_id=request_id(), actor=coordinator(), department="market"))
        else:
            act(
                case, AddProgressNote(request_id=request_id(), actor=department("market"), note="n")
            )
    for command in (
        AddProgressNote(request_id=request_id(), actor=department("market"), note="one more"),
        Urge(request_id=request_id(), actor=coordinator(), department="market"),
    ):
        with pytest.raises(CaseRuleViolation) as refused:
            rules.validate(case, command, MONDAY_MORNING)
        assert refused.value.refusal is Refusal.LIMIT_REACHED
    # The case itself still moves.
    act(case, SignForWork(request_id=request_id(), actor=department("market")))


def test_request_ids_are_remembered_for_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "ANSWER_WINDOW", 5)
    case = dispatched_case()
    notes = [
        AddProgressNote(request_id=request_id(), actor=department("market"), note=f"{n}")
        for n in range(6)
    ]
    for note in notes:
        act(case, note)
    assert len(case.answered) == 5
    assert notes[0].request_id not in case.answered
    assert notes[-1].request_id in case.answered


def test_as_of_fires_due_timers_on_a_copy() -> None:
    case = dispatched_case()
    sign_due = case.assignments[0].sign_clock.due_at
    later = case.as_of(sign_due + HOUR)
    assert later is not case
    assert later.assignments[0].sign_clock.overdue_at == sign_due
    assert case.assignments[0].sign_clock.overdue_at is None
    assert case.as_of(MONDAY_MORNING) is case


def test_planning_must_match_what_the_action_asks() -> None:
    command = Dispatch(request_id=request_id(), actor=coordinator(), lead_department="housing")
    fresh = CaseState.open(case_input(MONDAY_MORNING), sampled_for_review=False)
    needs = rules.planning_needs(fresh, command, MONDAY_MORNING)
    assert len(needs.clocks) == 2  # sign-for and handling
    too_little = plan(CALENDAR, needs.model_copy(update={"clocks": needs.clocks[:1]}))
    with pytest.raises(LookupError):
        rules.apply(fresh, command, MONDAY_MORNING, too_little)
