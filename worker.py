"""Temporal worker entry point: the case workflow and its activities on one task queue."""

import asyncio

from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from domain.calendar import WorkingCalendar
from gridloop.logging import configure_logging
from gridloop.settings import Settings, get_settings
from gridloop.temporal import connect
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


async def run_worker(settings: Settings) -> None:
    configure_logging(settings)
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    client = await connect(address, settings.temporal_namespace)
    await build_worker(client, settings).run()


def main() -> None:
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
