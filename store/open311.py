"""Read-model queries behind the Open311 GeoReport v2 endpoint (gridloop.open311)."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import CaseRecord, CategoryRecord, DepartmentRecord, GridRecord, TownRecord


@dataclass(frozen=True)
class RequestFilter:
    """Which cases a GET requests lists. `case_nos` overrides the rest, as the standard's
    `service_request_id` does."""

    case_nos: Collection[str] | None = None
    categories: Collection[str] | None = None
    stages: Collection[str] | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None


def find_cases(session: Session, found: RequestFilter, limit: int) -> Sequence[CaseRecord]:
    """Newest first, at most `limit`; both ends of the reporting window included."""
    query = select(CaseRecord)
    if found.case_nos is not None:
        query = query.where(CaseRecord.case_no.in_(set(found.case_nos)))
    else:
        if found.categories is not None:
            query = query.where(CaseRecord.category.in_(set(found.categories)))
        if found.stages is not None:
            query = query.where(CaseRecord.stage.in_(set(found.stages)))
        if found.reported_from is not None:
            query = query.where(CaseRecord.reported_at >= found.reported_from)
        if found.reported_to is not None:
            query = query.where(CaseRecord.reported_at <= found.reported_to)
    query = query.order_by(CaseRecord.reported_at.desc(), CaseRecord.case_no.desc())
    return session.scalars(query.limit(limit)).all()


def categories(session: Session) -> Sequence[CategoryRecord]:
    return session.scalars(select(CategoryRecord).order_by(CategoryRecord.code)).all()


def departments(session: Session) -> dict[str, DepartmentRecord]:
    return {d.code: d for d in session.scalars(select(DepartmentRecord))}


def places(
    session: Session, grid_codes: Collection[str]
) -> dict[str, tuple[GridRecord, TownRecord]]:
    """Each of these grids with its town."""
    if not grid_codes:
        return {}
    rows = session.execute(
        select(GridRecord, TownRecord)
        .join(TownRecord, TownRecord.code == GridRecord.town_code)
        .where(GridRecord.code.in_(set(grid_codes)))
    )
    return {grid.code: (grid, town) for grid, town in rows}
