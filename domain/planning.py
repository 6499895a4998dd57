"""Turn the calendar work an action needs into instants: pure, given a working calendar."""

from datetime import datetime

from domain.calendar import WorkingCalendar
from domain.clocks import ClockPlan, ClockSpec, Planning, PlanningNeeds, ShiftResult


def plan(calendar: WorkingCalendar, needs: PlanningNeeds) -> Planning:
    clocks = tuple(_plan_clock(calendar, spec) for spec in needs.clocks)
    shift = None
    if needs.shift is not None:
        paused = calendar.working_time_between(needs.shift.paused_from, needs.shift.paused_until)
        instants = tuple(calendar.add_working_time(i, paused) for i in needs.shift.instants)
        shift = ShiftResult(paused_working_time=paused, instants=instants)
    return Planning(clocks=clocks, shift=shift)


def _plan_clock(calendar: WorkingCalendar, spec: ClockSpec) -> ClockPlan:
    due = _due(calendar, spec)
    length = calendar.working_time_between(spec.start, due)
    warn = calendar.add_working_time(spec.start, length * spec.warning_ratio)
    escalate = tuple(
        calendar.add_working_hours(due, spec.escalation_grace_hours * step)
        for step in range(1, spec.escalation_steps + 1)
    )
    return ClockPlan(due_at=due, warn_at=warn, escalate_at=escalate)


def _due(calendar: WorkingCalendar, spec: ClockSpec) -> datetime:
    if spec.working_days is not None:
        return calendar.add_working_days(spec.extend_from or spec.start, spec.working_days)
    assert spec.working_hours is not None, "ClockSpec holds days or hours"
    return calendar.add_working_hours(spec.start, spec.working_hours)
