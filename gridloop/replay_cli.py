"""`gridloop replay`: check that the current workflow code reproduces recorded case histories,
for given cases or for every case closed (办结) in a period. Run it before deploying a worker
with changed workflow code (docs/audit.md)."""

import argparse
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from temporalio.service import RPCError

from gridloop.logging import get_logger
from gridloop.replay import CaseReplay, replay_cases
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.db import database_url, prepare_read_model
from store.models import CaseRecord

log = get_logger(__name__)
BAR_WIDTH = 30


async def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Exit code 0 if every history replayed deterministically, 1 if any did not, 2 if there
    was nothing to replay."""
    case_numbers = list(args.case_numbers)
    if args.closed_from is not None:
        case_numbers += _closed_between(settings, args.closed_from, args.closed_to)
    if not case_numbers:
        print(
            "gridloop replay: name cases or give --closed-from; nothing to replay", file=sys.stderr
        )
        return 2
    try:
        client = await connect(settings.effective_temporal_address, settings.temporal_namespace)
    except (RuntimeError, RPCError) as exc:
        log.error("cannot replay: is Temporal running?", error=str(exc))
        return 1
    progress = _ProgressBar(len(case_numbers))
    summary = await replay_cases(client, case_numbers, progress=progress.advance)
    progress.finish()
    for case in summary.failures:
        print(f"NOT DETERMINISTIC  {case.case_no}  {_why(case)}")
    runs = sum(len(case.runs) for case in summary.cases)
    print(
        f"replayed {len(summary.cases)} cases ({runs} runs): "
        f"{len(summary.cases) - len(summary.failures)} deterministic, "
        f"{len(summary.failures)} failed"
    )
    return 1 if summary.failures else 0


def _closed_between(settings: Settings, first: date, last: date | None) -> list[str]:
    zone = ZoneInfo(settings.timezone)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine((last or datetime.now(zone).date()) + timedelta(days=1), time(), zone)
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    with sessions() as session:
        return list(
            session.scalars(
                select(CaseRecord.case_no)
                .where(CaseRecord.closed_at >= start, CaseRecord.closed_at < end)
                .order_by(CaseRecord.closed_at, CaseRecord.case_no)
            )
        )


def _why(case: CaseReplay) -> str:
    if case.error is not None:
        return case.error
    failed = next(run for run in case.runs if run.failure is not None)
    first_line = (failed.failure or "").splitlines()[0]
    return f"run {failed.number} ({failed.run_id}): {first_line}"


class _ProgressBar:
    """A bar on a terminal; on a log or pipe, only the summary that follows."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.live = sys.stderr.isatty()

    def advance(self, case: CaseReplay) -> None:
        self.done += 1
        self.failed += not case.deterministic
        if self.live:
            filled = BAR_WIDTH * self.done // self.total
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            sys.stderr.write(f"\r[{bar}] {self.done}/{self.total}  failed {self.failed}")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.live:
            sys.stderr.write("\n")
