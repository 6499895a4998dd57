"""Temporal worker entry point: the case workflow and its activities on one task queue."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.projection import ProjectionActivities
from activities.webhooks import WebhookActivities
from domain.calendar import WorkingCalendar
from gridloop.settings import Settings
from store.db import database_url, prepare_read_model
from workflows.case import CaseWorkflow
from workflows.notification import NotificationDelivery

# Projection writes are short blocking database calls, one case at a time each.
PROJECTION_THREADS = 8


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    calendar: WorkingCalendar | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> Worker:
    """The worker for `settings`; tests pass their own task queue, calendar and database."""
    calendar = calendar or WorkingCalendar.from_settings(
        settings.working_hours, settings.timezone, settings.holiday_table
    )
    sessions = sessions or prepare_read_model(
        database_url(settings.database_url, settings.data_dir), migrate=settings.migrate_on_start
    )
    webhooks = WebhookActivities(sessions, settings)
    projection = ProjectionActivities(sessions, calendar, settings.review_working_days)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CaseWorkflow, NotificationDelivery],
        activities=[
            CalendarActivities(calendar).plan_clocks,
            projection.project_changes,
            projection.project_case,
            webhooks.plan_delivery,
            webhooks.deliver_notification,
            webhooks.record_delivery_failure,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=PROJECTION_THREADS),
    )


def main() -> None:
    """`python worker.py` is `gridloop worker`."""
    from gridloop.cli import main as gridloop

    gridloop(["worker"])


if __name__ == "__main__":
    main()
