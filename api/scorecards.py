"""Scorecards (docs/scorecards.md): each department's or grid worker's KPIs, post-hoc review
findings and composite score for a period, ranked; as JSON, or as the monthly assessment report
(月度考核表) in .xlsx or CSV. For the command centre and the auditors."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.auth import CurrentPrincipal
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from domain.model import Role
from domain.scoring import ScorecardKind, ScoringRules
from gridloop import assessment
from gridloop.assessment import Period
from gridloop.settings import Settings
from store.scorecards import Scorecard, scorecards

router = APIRouter(prefix="/v1", tags=["scorecards"])

READERS = (Role.COORDINATOR, Role.AUDITOR)

Month = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="YYYY-MM; default: this month. Not together with from/to.",
    ),
]
From = Annotated[
    date | None, Query(alias="from", description="first day; default: this month's first")
]
To = Annotated[
    date | None,
    Query(alias="to", description="day after the last; default: the next month's first"),
]


class Scorecards(BaseModel):
    kind: ScorecardKind
    start: datetime
    end: datetime
    title: str
    """The report's title, e.g. 嘉善县网格化管理月度考核表（2026年11月）· 部门."""
    generated_at: datetime
    rules: ScoringRules
    """The weights, penalties and handling-time target the scores were computed with."""
    rows: list[Scorecard]
    """Ranked: the best score first, rows without a score last."""


@dataclass(frozen=True)
class _Taken:
    """The scorecards of one request, and what they were taken with."""

    period: Period
    generated_at: datetime
    rules: ScoringRules
    rows: list[Scorecard]


ERRORS = error_responses(401, 403, 422)


@router.get(
    "/scorecards",
    summary="Scorecards: KPIs, review findings and composite score per department or grid worker",
    responses=ERRORS,
)
def scorecard_list(
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    kind: ScorecardKind = ScorecardKind.DEPARTMENT,
    month: Month = None,
    start: From = None,
    end: To = None,
) -> Scorecards:
    """Days are in the calendar's time zone (GRIDLOOP_TIMEZONE). Cases count in the period they
    were reported in, assignments in the period they were given, reviews in the period their
    findings were recorded in; the formula is in docs/scorecards.md."""
    taken = _take(principal.role, session, settings, kind, month, start, end)
    zone = ZoneInfo(settings.timezone)
    first, after = taken.period.bounds(zone)
    return Scorecards(
        kind=kind,
        start=first,
        end=after,
        title=assessment.title_of(settings.scorecard_title, taken.period, kind),
        generated_at=taken.generated_at,
        rules=taken.rules,
        rows=taken.rows,
    )


@router.get(
    "/scorecards.xlsx",
    summary="Scorecards as the monthly assessment report (月度考核表), Excel",
    response_class=Response,
    responses={200: {"content": {assessment.XLSX_TYPE: {}}}, **ERRORS},
)
def scorecard_workbook(
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    kind: ScorecardKind = ScorecardKind.DEPARTMENT,
    month: Month = None,
    start: From = None,
    end: To = None,
) -> Response:
    """The parameters of `GET /v1/scorecards`."""
    taken = _take(principal.role, session, settings, kind, month, start, end)
    return _file(
        assessment.to_xlsx(_report(taken, kind, settings)),
        assessment.XLSX_TYPE,
        assessment.file_name(kind, taken.period, "xlsx"),
    )


@router.get(
    "/scorecards.csv",
    summary="Scorecards as the monthly assessment report (月度考核表), CSV in UTF-8 with BOM",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **ERRORS},
)
def scorecard_csv(
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    kind: ScorecardKind = ScorecardKind.DEPARTMENT,
    month: Month = None,
    start: From = None,
    end: To = None,
) -> Response:
    """The parameters of `GET /v1/scorecards`."""
    taken = _take(principal.role, session, settings, kind, month, start, end)
    return _file(
        assessment.to_csv(_report(taken, kind, settings)),
        assessment.CSV_TYPE,
        assessment.file_name(kind, taken.period, "csv"),
    )


def _take(
    role: Role,
    session: Session,
    settings: Settings,
    kind: ScorecardKind,
    month: str | None,
    start: date | None,
    end: date | None,
) -> _Taken:
    if role not in READERS:
        raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(zone)
    period = _period(month, start, end, now.date())
    rules = settings.scoring_rules(kind)
    rows = scorecards(session, *period.bounds(zone), kind, rules)
    return _Taken(period, now, rules, rows)


def _period(month: str | None, start: date | None, end: date | None, today: date) -> Period:
    if month is not None:
        if start is not None or end is not None:
            raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error")
        year, number = (int(part) for part in month.split("-"))
        return Period.month(date(year, number, 1))
    first = start or today.replace(day=1)
    after = end or assessment.next_month(first)
    if after <= first:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error")
    return Period(first, after)


def _report(taken: _Taken, kind: ScorecardKind, settings: Settings) -> assessment.Report:
    return assessment.report(
        taken.rows,
        kind,
        taken.rules,
        title=settings.scorecard_title,
        period=taken.period,
        generated_at=taken.generated_at,
    )


def _file(content: bytes, media_type: str, name: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
