"""Part 4: the read model's queries over 10k and 1M synthetic cases (SQLite by default,
any SQLAlchemy URL with --database-url)."""

import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.measure import Report, Stopwatch, percentile
from store import queries
from store.db import make_engine, prepare_read_model, session_factory
from store.models import AssignmentRecord, CaseRecord, DailyTally, GridRecord, StageTally
from store.reference import DEMO_COUNTY, load_organisation, seed_organisation
from store.stats import Grouping, kpis
from store.tallies import recount
from web.pages.dashboard import AT_RISK_ROWS, AT_RISK_WITHIN, day_period
from web.pages.stats import period, shift

PART = "4 read model"
BATCH = 20_000
SPREAD = timedelta(days=365)
STAGES = ("intake", "handle", "feedback", "follow_up", "review", "archived")
RATINGS = (None, "satisfied", "basically_satisfied", "dissatisfied")
ZONE = ZoneInfo("Asia/Shanghai")


class NotEmpty(RuntimeError):
    """--database-url names a database that already holds cases."""


def _synthetic(
    start: int,
    stop: int,
    now: datetime,
    grids: Sequence[tuple[str, str]],
    departments: Sequence[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(start)  # the same rows for the same sizes, run after run
    cases: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    for n in range(start, stop):
        grid, town = grids[rng.randrange(len(grids))]
        reported_at = now - SPREAD * rng.random()
        stage = STAGES[rng.randrange(len(STAGES))]
        closed = stage in ("follow_up", "review", "archived")
        department = departments[rng.randrange(len(departments))]
        case_no = f"BENCH{n:09d}"
        cases.append(
            {
                "case_no": case_no,
                "lookup_code": None,
                "reported_by": "gridworker",
                "category": "public_health",
                "urgency": "normal",
                "grid": grid,
                "town": town,
                "source": "grid_patrol",
                "description": "垃圾房蚊蝇滋生（合成数据）",
                "address": "合成地址",
                "reporter_name": None,
                "reporter_phone": None,
                "stage": stage,
                "status": "closed" if closed else "handling",
                "tier": "county",
                "lead_department": department,
                "suspended": False,
                "overdue": rng.random() < 0.1,
                "breached": False,
                "reported_at": reported_at,
                "closed_at": reported_at + timedelta(days=3) if closed else None,
                "archived_at": reported_at + timedelta(days=4) if stage == "archived" else None,
                "rating": RATINGS[rng.randrange(len(RATINGS))] if closed else None,
                "rounds": 1,
                "rehandling_rounds": 0,
                "recurrences": 0,
                "returns": 0,
                "review_triggers": [],
                "last_event_sequence": 1,
                "updated_at": reported_at,
            }
        )
        state = "completed" if closed else ("awaiting_sign", "handling")[n % 2]
        sign_due_at, due_at = reported_at + timedelta(hours=4), reported_at + timedelta(days=5)
        assignments.append(
            {
                "assignment_id": f"{case_no}-1-{department}",
                "case_no": case_no,
                "round": 1,
                "department": department,
                "role": "lead",
                "state": state,
                "assigned_at": reported_at,
                "sign_due_at": sign_due_at,
                "due_at": due_at,
                "signed_at": reported_at + timedelta(hours=1) if state != "awaiting_sign" else None,
                "completed_at": reported_at + timedelta(days=2) if closed else None,
                "returned_at": None,
                "withdrawn_at": None,
                "sign_overdue_at": None,
                "overdue_at": None,
                "handling_working_seconds": 3600.0 * 10 if closed else None,
                "running_deadline": {"awaiting_sign": sign_due_at, "handling": due_at}.get(state),
                "extension_days": 0,
                "urge_count": 0,
                "supervision_tier": None,
            }
        )
    return cases, assignments


def _fill(
    engine: Engine,
    have: int,
    want: int,
    now: datetime,
    grids: Sequence[tuple[str, str]],
    departments: Sequence[str],
) -> None:
    for start in range(have, want, BATCH):
        cases, assignments = _synthetic(start, min(start + BATCH, want), now, grids, departments)
        # Core executemany: the driver's batch insert, no ORM unit of work per row.
        with engine.begin() as connection:
            connection.execute(insert(CaseRecord), cases)
            connection.execute(insert(AssignmentRecord), assignments)
    # The tallies the projection would have kept, row by row, had the cases come through it.
    with Session(engine) as session, session.begin():
        recount(session, ZONE)


def _queries(now: datetime, town: str) -> dict[str, Callable[[Session], object]]:
    today = now.astimezone(ZONE).date()
    everything = queries.Visibility(everything=True)
    first = today.replace(day=1)
    month = period(first, ZONE)
    half_year = (period(shift(first, -5), ZONE)[0], month[1])

    def dashboard(session: Session) -> object:
        # What web/pages/dashboard.py reads for one page view.
        return (
            queries.stage_counts(session),
            queries.count_reported(session, *day_period(today, ZONE)),
            queries.count_reported(session, *day_period(today - timedelta(days=1), ZONE)),
            kpis(session, *month, Grouping.NONE),
            queries.open_work(session, due_before=now + AT_RISK_WITHIN, limit=AT_RISK_ROWS),
        )

    return {
        "case list (newest 50)": lambda s: queries.list_cases(
            s, everything, queries.CaseFilters(), limit=50
        ),
        "filtered list (town+stage+overdue)": lambda s: queries.list_cases(
            s,
            everything,
            queries.CaseFilters(town=town, stage="handle", overdue=True),
            limit=50,
        ),
        "dashboard": dashboard,
        # As /stats asks for them: whole months in the county's time zone.
        "KPIs by department, 6 months": lambda s: kpis(s, *half_year, Grouping.DEPARTMENT),
    }


def run_read_model(
    report: Report, url: str, sizes: Sequence[int], repeats: int, *, scratch: bool
) -> None:
    """`scratch`: the database is the bench's own (SQLite) and is thrown away, so skip the
    clean-up; the sizes are then measured side by side, each query taking turns on a copy of the
    database at every smaller size, so that the machine's ups and downs fall on every size alike
    (on a shared two-core VM they move a p50 by up to 2x between minutes). An external database
    is measured size by size as it grows."""
    sessions: sessionmaker[Session] = prepare_read_model(url)
    engine: Engine = sessions.kw["bind"]
    with sessions.begin() as session:
        if session.scalar(select(func.count()).select_from(CaseRecord)):
            raise NotEmpty(f"{engine.url!r} already holds cases: give the bench an empty database")
        seed_organisation(session, load_organisation(DEMO_COUNTY))
        grids = [(g.code, g.town_code) for g in session.scalars(select(GridRecord))]
    departments = (
        "health",
        "market_supervision",
        "comprehensive_enforcement",
        "public_security",
        "transport",
        "housing_construction",
    )
    now = datetime.now(UTC)
    measured = _queries(now, town=grids[0][1])
    p50s: dict[str, dict[int, float]] = {name: {} for name in measured}
    at_size: dict[int, sessionmaker[Session]] = {}
    try:
        have = 0
        for size in sorted(sizes):
            clock = Stopwatch()
            _fill(engine, have, size, now, grids, departments)
            have = size
            # Fresh statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would keep them.
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
            report.add(PART, f"load to {size:,} cases (+ assignments)", clock.seconds(), "s")
            if not scratch:
                _measure(report, measured, {size: sessions}, repeats, p50s)
            elif size != max(sizes):
                at_size[size] = _copy_of(engine, size)
        if scratch:
            _measure(report, measured, at_size | {max(sizes): sessions}, repeats, p50s)
        if len(sizes) > 1:
            for name, medians in p50s.items():
                report.add(
                    PART,
                    f"{name}: p50 {max(sizes):,} / {min(sizes):,}",
                    medians[max(sizes)] / medians[min(sizes)],
                    "x",
                    "target ≤ 2.0",
                )
    finally:
        for copy in at_size.values():
            copy.kw["bind"].dispose()
        if not scratch:
            # Leave an external database as we found it (it held no cases).
            with engine.begin() as connection:
                for record in (AssignmentRecord, CaseRecord, DailyTally, StageTally):
                    connection.execute(delete(record))
        engine.dispose()


def _copy_of(engine: Engine, size: int) -> sessionmaker[Session]:
    """A copy of the SQLite database as it is now, beside it, to query while the original grows."""
    original = Path(str(engine.url.database))
    copy = original.with_name(f"{original.stem}-{size}{original.suffix}")
    with engine.connect() as connection, closing(sqlite3.connect(copy)) as target:
        source = connection.connection.driver_connection
        assert isinstance(source, sqlite3.Connection), "copies are made of SQLite databases only"
        source.backup(target)
    return session_factory(make_engine(f"sqlite:///{copy}"))


def _measure(
    report: Report,
    measured: dict[str, Callable[[Session], object]],
    at_size: dict[int, sessionmaker[Session]],
    repeats: int,
    p50s: dict[str, dict[int, float]],
) -> None:
    """Each query once on every size to warm the caches (as a running server has them), then
    `repeats` rounds in which it runs once on each size in turn."""
    for name, query in measured.items():
        samples: dict[int, list[float]] = {size: [] for size in at_size}
        with ExitStack() as stack:
            open_at = {size: stack.enter_context(maker()) for size, maker in at_size.items()}
            for session in open_at.values():
                query(session)
            for _ in range(repeats):
                for size, session in open_at.items():
                    started = time.perf_counter()
                    query(session)
                    samples[size].append(1000 * (time.perf_counter() - started))
        for size in sorted(samples):
            p50, p95 = percentile(samples[size], 0.5), percentile(samples[size], 0.95)
            p50s[name][size] = p50
            report.add(PART, f"{name} @{size:,}", p50, "ms p50", f"p95 {p95:.1f} ms")
