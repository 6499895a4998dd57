"""Tamper evidence for the read model: each case's business events form a hash chain.

Every row of `case_events` carries `prev_hash` and `hash`::

    hash = sha256(prev_hash + canonical_event(row)).hexdigest()

where `prev_hash` is the `hash` of the case's previous event (sequence - 1) and, for sequence 1,
`GENESIS_HASH` (64 zeros). `prev_hash` is hashed as its 64 ASCII hex characters.

The canonical encoding of one event is the UTF-8 bytes of one JSON object with sorted keys, no
whitespace and non-ASCII characters written as themselves (`ensure_ascii=False`)::

    {"actor":{"department":null,"role":"grid_worker","user_id":"wangge-0107"},
     "at":"2026-03-02T01:00:00.123456+00:00","case_no":"GL-7Q3K9XM2FD",
     "data":{"category":"occupy_road_business",...},"sequence":1,"type":"reported"}

(one line in reality). It is chosen so that an event hashes the same before and after a round
trip through SQLite or PostgreSQL:

* `at` is converted to UTC and always written with six fractional digits: both databases keep
  microseconds, and a datetime's own `isoformat()` drops them when they are zero.
* in `data`, a float with an integral value is written as an integer (2.0 as 2), so that a JSON
  column that normalises numbers cannot change the encoding; other floats are written as
  Python's shortest round-tripping form. NaN and infinities are refused (JSON has none).

Changing this encoding changes every hash: existing rows must then be re-sealed with
`gridloop rebuild-projection`.

`verify_ledger` walks the chains and reports, per case, the first link that does not hold.
"""

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import CaseEventRecord, CaseRecord

GENESIS_HASH = "0" * 64
"""The `prev_hash` of every case's first event."""

# Rows fetched per round trip while verifying: bounded memory whatever the size of the table.
VERIFY_BATCH = 1000


def canonical_event(
    *,
    case_no: str,
    sequence: int,
    type: str,
    at: datetime,
    actor_user_id: str,
    actor_role: str,
    actor_department: str | None,
    data: dict[str, Any],
) -> bytes:
    """The canonical bytes of one business event (see the module docstring)."""
    if at.tzinfo is None:
        raise ValueError("an event's time must be aware")
    document = {
        "actor": {"department": actor_department, "role": actor_role, "user_id": actor_user_id},
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "case_no": case_no,
        "data": _normalised(data),
        "sequence": sequence,
        "type": type,
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """The hash of an event whose canonical bytes are `canonical`, after `prev_hash`."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def record_hash(prev_hash: str, record: CaseEventRecord) -> str:
    """The hash a `case_events` row must carry after `prev_hash`."""
    return chain_hash(prev_hash, _canonical_row(record))


def _canonical_row(row: "CaseEventRecord | _EventRow") -> bytes:
    return canonical_event(
        case_no=row.case_no,
        sequence=row.sequence,
        type=row.type,
        at=row.at,
        actor_user_id=row.actor_user_id,
        actor_role=row.actor_role,
        actor_department=row.actor_department,
        data=row.data,
    )


def _normalised(value: Any) -> Any:
    if isinstance(value, bool):  # before float/int: True is an int to Python, not to JSON
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(item) for item in value]
    return value


# ---- verification ----------------------------------------------------------------------------


class BreakReason(StrEnum):
    """Why a case's chain does not hold, at its first broken link."""

    HASH_MISMATCH = "hash_mismatch"
    """The row's content no longer gives its hash: the row was edited."""
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    """The row's `prev_hash` is not the previous row's hash: a row before it was removed,
    inserted, replaced or re-sealed."""
    SEQUENCE_GAP = "sequence_gap"
    """An event number is missing from the middle of the case: a row was deleted."""
    MISSING_HASH = "missing_hash"
    """The row is unsealed: written before migration 0005 (or its hash was blanked)."""
    TRUNCATED = "truncated"
    """The case row says there are more events than the table holds: the last rows were
    deleted."""
    BEYOND_LAST_EVENT = "beyond_last_event"
    """The row's sequence is past the case row's last event: a row was appended."""


@dataclass(frozen=True)
class LedgerBreak:
    """The first broken link of one case's chain."""

    case_no: str
    sequence: int
    """The first event that cannot be trusted (for a gap or truncation, the first missing)."""
    reason: BreakReason
    detail: str


@dataclass
class LedgerReport:
    cases_checked: int = 0
    events_checked: int = 0
    breaks: list[LedgerBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


class _EventRow(NamedTuple):
    case_no: str
    sequence: int
    type: str
    at: datetime
    actor_user_id: str
    actor_role: str
    actor_department: str | None
    data: dict[str, Any]
    prev_hash: str | None
    hash: str | None


class _CaseRows(NamedTuple):
    case_no: str
    last_event_sequence: int
    events: Iterator[_EventRow]


def verify_ledger(
    session: Session, case_no: str | None = None, *, batch_size: int = VERIFY_BATCH
) -> LedgerReport:
    """Check every case's chain (or only `case_no`'s) against the rows as stored.

    The rows are read in one ordered query, `batch_size` at a time (a server-side cursor on
    PostgreSQL), so memory stays bounded however many events there are; only the breaks are
    kept. A case deleted whole (its row and all its events) leaves nothing to check here: only
    `gridloop rebuild-projection`, which compares with Temporal, brings it back.
    """
    report = LedgerReport()
    for case in _cases(session, case_no, batch_size):
        report.cases_checked += 1
        found, checked = _check_case(case)
        report.events_checked += checked
        if found is not None:
            report.breaks.append(found)
    return report


def _check_case(case: _CaseRows) -> tuple[LedgerBreak | None, int]:
    """The case's first broken link (None if intact) and how many of its events were read."""
    expected, prev_hash = 1, GENESIS_HASH
    found: LedgerBreak | None = None
    checked = 0
    for row in case.events:
        checked += 1
        if found is None:
            found = _check_link(case, row, expected, prev_hash)
        # After a break the rest of the case is only counted: its first broken link is known.
        if found is None and row.hash is not None:
            expected, prev_hash = expected + 1, row.hash
    if found is None and expected - 1 < case.last_event_sequence:
        found = LedgerBreak(
            case.case_no,
            expected,
            BreakReason.TRUNCATED,
            f"events {expected}..{case.last_event_sequence} are missing; the case row's last "
            f"event is {case.last_event_sequence}",
        )
    return found, checked


def _check_link(
    case: _CaseRows, row: _EventRow, expected: int, prev_hash: str
) -> LedgerBreak | None:
    def broken(sequence: int, reason: BreakReason, detail: str) -> LedgerBreak:
        return LedgerBreak(case.case_no, sequence, reason, detail)

    if row.sequence > expected:
        return broken(
            expected,
            BreakReason.SEQUENCE_GAP,
            f"event {expected} is missing; the next row is event {row.sequence}",
        )
    if row.sequence < expected:  # only a sequence below 1 gets here: rows come in order
        return broken(
            row.sequence, BreakReason.SEQUENCE_GAP, f"event numbers start at 1, not {row.sequence}"
        )
    if row.sequence > case.last_event_sequence:
        return broken(
            row.sequence,
            BreakReason.BEYOND_LAST_EVENT,
            f"the case row's last event is {case.last_event_sequence}",
        )
    if row.hash is None or row.prev_hash is None:
        return broken(row.sequence, BreakReason.MISSING_HASH, "the row carries no hash")
    if row.prev_hash != prev_hash:
        previous = "the genesis hash" if row.sequence == 1 else f"event {row.sequence - 1}'s hash"
        return broken(
            row.sequence,
            BreakReason.PREV_HASH_MISMATCH,
            f"prev_hash {row.prev_hash[:12]}… is not {previous} {prev_hash[:12]}…",
        )
    computed = chain_hash(prev_hash, _canonical_row(row))
    if computed != row.hash:
        return broken(
            row.sequence,
            BreakReason.HASH_MISMATCH,
            f"stored hash {row.hash[:12]}… but the row's content hashes to {computed[:12]}…",
        )
    return None


def _cases(session: Session, case_no: str | None, batch_size: int) -> Iterator[_CaseRows]:
    """Each case with its events in sequence order, from one streamed outer join (a case with
    no events at all comes with an empty iterator)."""
    event = CaseEventRecord
    query = (
        select(
            CaseRecord.case_no,
            CaseRecord.last_event_sequence,
            event.sequence,
            event.type,
            event.at,
            event.actor_user_id,
            event.actor_role,
            event.actor_department,
            event.data,
            event.prev_hash,
            event.hash,
        )
        .outerjoin(event, event.case_no == CaseRecord.case_no)
        .order_by(CaseRecord.case_no, event.sequence)
        .execution_options(yield_per=batch_size)
    )
    if case_no is not None:
        query = query.where(CaseRecord.case_no == case_no)
    yield from _grouped(iter(session.execute(query)))


def _grouped(rows: Iterator[Sequence[Any]]) -> Iterator[_CaseRows]:
    """Split the joined rows into cases, lazily (groupby skips whatever a case left unread)."""
    for (case_no, last_sequence), group in groupby(rows, key=itemgetter(0, 1)):
        yield _CaseRows(
            case_no,
            last_sequence,
            # The outer join gives a case without events one row of NULL event columns.
            (_EventRow(case_no, *row[2:]) for row in group if row[2] is not None),
        )
