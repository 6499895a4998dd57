"""Governance KPIs (docs/kpis.md) for a period, whole or cut by department, town, grid, category
or grid worker."""

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import CurrentPrincipal
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from domain.model import Role
from store.models import CategoryRecord, DepartmentRecord, GridRecord, TownRecord, UserRecord
from store.stats import Grouping, KpiRow, kpis

router = APIRouter(prefix="/v1", tags=["statistics"])


class Kpis(KpiRow):
    name: str | None = None


class Stats(BaseModel):
    start: datetime
    end: datetime
    group_by: Grouping
    total: Kpis
    rows: list[Kpis]


@router.get(
    "/stats",
    summary="KPIs for a period: 办结率, 按时办结率, 及时签收率, 满意率, 退单率, 重办率…",
    responses=error_responses(401, 403, 422),
)
def stats(
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[
        date | None, Query(alias="from", description="first day; default: this month's first")
    ] = None,
    end: Annotated[
        date | None,
        Query(alias="to", description="day after the last; default: next month's first"),
    ] = None,
    group_by: Grouping = Grouping.NONE,
) -> Stats:
    """Days are in the calendar's time zone (GRIDLOOP_TIMEZONE). Cases count in the period they
    were reported in, assignments in the period they were given; see docs/kpis.md."""
    if principal.role not in (Role.COORDINATOR, Role.AUDITOR):
        raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
    zone = ZoneInfo(settings.timezone)
    first, after = _period(start, end, datetime.now(zone).date())
    if after <= first:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error")
    period_start = datetime.combine(first, time(0), tzinfo=zone)
    period_end = datetime.combine(after, time(0), tzinfo=zone)
    names = _names(session, group_by)
    rows = kpis(session, period_start, period_end, group_by)
    (total,) = kpis(session, period_start, period_end, Grouping.NONE)
    return Stats(
        start=period_start,
        end=period_end,
        group_by=group_by,
        total=Kpis(**total.model_dump(include=set(KpiRow.model_fields))),
        rows=[
            Kpis(**row.model_dump(include=set(KpiRow.model_fields)), name=names.get(row.key or ""))
            for row in rows
        ],
    )


def _period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    first = start or today.replace(day=1)
    if end is not None:
        return first, end
    next_month = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, next_month


def _names(session: Session, group_by: Grouping) -> dict[str, str]:
    records = {
        Grouping.DEPARTMENT: (DepartmentRecord.code, DepartmentRecord.name),
        Grouping.TOWN: (TownRecord.code, TownRecord.name),
        Grouping.GRID: (GridRecord.code, GridRecord.name),
        Grouping.CATEGORY: (CategoryRecord.code, CategoryRecord.name),
        Grouping.GRID_WORKER: (UserRecord.username, UserRecord.display_name),
    }.get(group_by)
    if records is None:
        return {}
    code, name = records
    return {str(c): str(n) for c, n in session.execute(select(code, name))}
