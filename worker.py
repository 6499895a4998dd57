"""Temporal worker entry point: the case workflow and its activities on one task queue."""

from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from domain.calendar import WorkingCalendar
from gridloop.settings import Settings
from workflows.case import CaseWorkflow


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> Worker:
    """The worker for `settings`; tests pass their own task queue and calendar."""
    calendar = calendar or WorkingCalendar.from_settings(
        settings.working_hours, settings.timezone, settings.holiday_table
    )
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CaseWorkflow],
        activities=[CalendarActivities(calendar).plan_clocks],
    )


def main() -> None:
    """`python worker.py` is `gridloop worker`."""
    from gridloop.cli import main as gridloop

    gridloop(["worker"])


if __name__ == "__main__":
    main()
