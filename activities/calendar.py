"""Deadline arithmetic on the working-day calendar, run as an activity.

The calendar's holiday tables change (a new year's schedule is published each November), so the
workflow never reads them: it asks this activity, and the answer is recorded in its history.
"""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.calendar import CalendarDataMissing, WorkingCalendar
from domain.clocks import Planning, PlanningNeeds
from domain.errors import Refusal
from domain.planning import plan


class CalendarActivities:
    def __init__(self, calendar: WorkingCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="plan_clocks")
    async def plan_clocks(self, needs: PlanningNeeds) -> Planning:
        try:
            return plan(self._calendar, needs)
        except CalendarDataMissing as missing:
            raise ApplicationError(
                str(missing),
                {"year": str(missing.year)},
                type=Refusal.CALENDAR_DATA_MISSING.value,
                non_retryable=True,
            ) from missing
