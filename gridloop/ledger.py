"""`gridloop verify-ledger`: check the hash chains of the read model's case histories."""

import sys
from typing import TextIO

from gridloop.settings import Settings
from store.db import database_url, prepare_read_model
from store.ledger import LedgerReport, verify_ledger
from store.models import CaseRecord

INTACT, BROKEN, UNKNOWN_CASE = 0, 1, 2


def run_verify_ledger(settings: Settings, case_no: str | None, out: TextIO = sys.stdout) -> int:
    """Exit code 0 if every chain checked holds, 1 if any is broken, 2 for an unknown case."""
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    with sessions() as session:
        if case_no is not None and session.get(CaseRecord, case_no) is None:
            print(f"gridloop verify-ledger: no case {case_no!r} in the read model", file=sys.stderr)
            return UNKNOWN_CASE
        report = verify_ledger(session, case_no)
    print_report(report, out)
    return INTACT if report.intact else BROKEN


def print_report(report: LedgerReport, out: TextIO) -> None:
    checked = f"{_count(report.cases_checked, 'case')}, {_count(report.events_checked, 'event')}"
    print(f"checked {checked}", file=out)
    for broken in report.breaks:
        print(
            f"BROKEN {broken.case_no} at event {broken.sequence}: {broken.reason.value} "
            f"({broken.detail})",
            file=out,
        )
    if report.intact:
        print("ledger intact", file=out)
    else:
        print(
            f"{_count(len(report.breaks), 'broken case')}; `gridloop rebuild-projection` "
            "restores the rows from Temporal",
            file=out,
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
