"""Builders shared by the tests: actors, a report, a policy, a calendar that covers today, a
worker."""

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from domain.calendar import WorkingCalendar, WorkingPeriod, YearSchedule
from domain.messages import CaseInput
from domain.model import Actor, Location, Report, ReporterContact, Role, SlaPolicy, Source, Urgency
from gridloop.logging import FOREIGN_LOGGERS
from gridloop.settings import Settings
from store.models import DailyTally, StageTally
from store.tallies import recount, tally_zone
from worker import build_worker

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAST_PUBLISHED_YEAR = 2026


def request_id() -> str:
    return uuid.uuid4().hex


def coordinator() -> Actor:
    return Actor(user_id="zhihuishi-01", role=Role.COORDINATOR)


def department(code: str) -> Actor:
    return Actor(user_id=f"{code}-officer", role=Role.DEPARTMENT, department=code)


def grid_worker() -> Actor:
    return Actor(user_id="wangge-0107", role=Role.GRID_WORKER)


def reporter() -> Actor:
    return Actor(user_id="public", role=Role.REPORTER)


def auditor() -> Actor:
    return Actor(user_id="ducha-01", role=Role.AUDITOR)


def policy(**overrides: object) -> SlaPolicy:
    values: dict[str, object] = {
        "sign_for_hours": 2,
        "handling_days": 3,
        "consultation_days": 2,
        "feedback_days": 3,
        "warning_ratio": 0.8,
        "escalation_grace_hours": 8,
        "follow_up_after": (),
        "max_rehandling_rounds": 1,
        "repeated_return_threshold": 2,
        "review_sampling_rate": 0.0,
    }
    values.update(overrides)
    return SlaPolicy.model_validate(values)


def case_input(
    reported_at: datetime, sla: SlaPolicy | None = None, case_no: str | None = None
) -> CaseInput:
    report = Report(
        category="occupy_road_business",
        urgency=Urgency.NORMAL,
        location=Location(address="嘉善县罗星街道解放东路 88 号", latitude=30.84, longitude=120.92),
        grid="luoxing-jiefang-03",
        town="luoxing",
        source=Source.GRID_PATROL,
        description="沿街店铺占道经营，堆放货物影响通行",
        evidence_urls=("https://evidence.example/photo-1.jpg",),
        reporter=ReporterContact(name="张三", phone="13800000000"),
        reported_by=grid_worker(),
        reported_at=reported_at,
    )
    return CaseInput(
        case_no=case_no or f"T{uuid.uuid4().hex[:12].upper()}",
        report=report,
        policy=sla or policy(),
    )


def calendar_through(last_year: int) -> WorkingCalendar:
    """The statutory calendar, plus plain Monday-to-Friday years up to `last_year`.

    Workflow tests run at the test server's clock (the time-skipping server starts years
    ahead), so their deadlines fall in years whose schedule nobody has published yet; those
    years get no holidays here. Tests of the calendar itself use the real tables only.
    """
    filler = {
        year: YearSchedule(holidays=frozenset(), workdays=frozenset())
        for year in range(LAST_PUBLISHED_YEAR + 1, last_year + 1)
    }
    return WorkingCalendar(operator_table=filler)


def always_working_calendar(first_year: int, last_year: int) -> WorkingCalendar:
    """Every moment is working time: for tests on the dev server, whose clock is the real one,
    so that an SLA of a few seconds runs out in a few seconds at any hour of any day."""
    table = {}
    for year in range(first_year, last_year + 1):
        days = (date(year, 1, 1) + timedelta(days=n) for n in range(366))
        weekends = frozenset(d for d in days if d.year == year and d.weekday() >= 5)
        table[year] = YearSchedule(holidays=frozenset(), workdays=weekends)
    whole_day = WorkingPeriod(time(0, 0), time(23, 59, 59, 999999))
    return WorkingCalendar(periods=(whole_day,), operator_table=table)


def write_filler_table(path: Path, last_year: int) -> Path:
    """The same filler years as `calendar_through`, as an operator table file for a process."""
    lines = [
        f"[{year}]\nholidays = []\nworkdays = []\n"
        for year in range(LAST_PUBLISHED_YEAR + 1, last_year + 1)
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def at(text: str) -> datetime:
    """A Shanghai wall-clock moment, e.g. at("2026-03-02 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def make_worker(
    client: Client,
    task_queue: str,
    calendar: WorkingCalendar,
    sessions: sessionmaker[Session],
) -> Worker:
    return build_worker(
        client, Settings(), task_queue=task_queue, calendar=calendar, sessions=sessions
    )


def assert_tallies_match_rows(sessions: sessionmaker[Session], within: float = 30) -> None:
    """The tallies the projection kept change by change are what counting the rows gives. A
    projection may commit between reading them and counting (SQLite reads outside a
    transaction), so a difference must last `within` seconds to fail."""
    deadline = monotonic() + within
    while True:
        with sessions() as session:
            kept = _tallies(session)
            zone = tally_zone(session)
            assert zone is not None, "the tallies were never counted"
            recount(session, zone)
            counted = _tallies(session)
            session.rollback()
        if counted == kept or monotonic() > deadline:
            break
        sleep(0.5)
    assert counted == kept


def _tallies(session: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    days = session.execute(select(DailyTally).order_by(DailyTally.grouping, DailyTally.day))
    stages = session.execute(select(StageTally.stage, StageTally.cases).order_by(StageTally.stage))
    return (
        sorted(
            tuple(getattr(row, c.key) for c in DailyTally.__table__.columns)
            for row in days.scalars()
        ),
        [tuple(row) for row in stages],
    )


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """Put back the logging configuration (root, the foreign loggers, structlog) on exit, for
    tests that configure logging their own way."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved_foreign = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in FOREIGN_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    saved_structlog = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:], root.level = saved_root
        for name, (handlers, level, propagate) in saved_foreign.items():
            lg = logging.getLogger(name)
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
        structlog.configure(**saved_structlog)
