"""Statistics and the grid map, for the command centre and the auditors.

- `/stats`: one month's governance KPIs (docs/kpis.md): tiles, a six-month trend, the month by
  department, town and category, and the department and grid-worker rankings.
- `/map`: the county's grids shaded by their open or overdue cases; `/map/data.json` gives the
  counts, computed in SQL, for the map to draw and refresh.

The charts are drawn by static/js/charts.js from the JSON blocks the templates embed: the figures
are those of store.stats for the period, the rates as shares between 0 and 1 (null when empty).
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from domain.model import Role, Stage
from gridloop.messages import message
from gridloop.settings import Settings
from store.models import CaseRecord, CommunityRecord, GridRecord, UserRecord
from store.stats import Grouping, KpiRow, kpis
from web.i18n import LANGUAGES, N_, translations
from web.names import Names, names_of
from web.render import HOME, render
from web.session import SignedIn, language_of, sessions_of

router = APIRouter(include_in_schema=False)

# Who reads every department's figures.
OVERSEERS = (Role.COORDINATOR, Role.AUDITOR)
TREND_MONTHS = 6
MONTHS_OFFERED = 24
CATEGORY_BARS = 12
HOTSPOTS = 8
WORKER_ROWS = 10
GRID_MAP = "/static/geo/jiashan-grids.geojson"

Month = Annotated[str | None, Query(max_length=7)]


# ---- the month -------------------------------------------------------------------------------


def month_of(text: str | None, today: date) -> date:
    """The first day of the month `YYYY-MM`, if it is not after this month; this month for
    anything else."""
    this_month = today.replace(day=1)
    found = re.fullmatch(r"(\d{4})-(\d{2})", text or "")
    if found:
        year, month = int(found.group(1)), int(found.group(2))
        if year >= 2000 and 1 <= month <= 12 and date(year, month, 1) <= this_month:
            return date(year, month, 1)
    return this_month


def shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month in the calendar's time zone, half-open."""
    return (
        datetime.combine(month, time(0), tzinfo=zone),
        datetime.combine(shift(month, 1), time(0), tzinfo=zone),
    )


def month_label(month: date, language: str) -> str:
    return str(format_skeleton("yMMMM", month, locale=LANGUAGES.get(language, "zh_CN")))


# ---- /stats ----------------------------------------------------------------------------------


@router.get("/stats")
def statistics(request: Request, me: SignedIn, month: Month = None) -> Response:
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(zone)
    this_month = now.date().replace(day=1)
    chosen = month_of(month, now.date())
    months = [shift(chosen, -n) for n in reversed(range(TREND_MONTHS))]
    with sessions_of(request)() as session:
        trend = [kpis(session, *period(m, zone), Grouping.NONE)[0] for m in months]
        cuts = {
            grouping: kpis(session, *period(chosen, zone), grouping)
            for grouping in (
                Grouping.DEPARTMENT,
                Grouping.TOWN,
                Grouping.CATEGORY,
                Grouping.GRID_WORKER,
            )
        }
        grid_workers = set(
            session.scalars(
                select(UserRecord.username).where(UserRecord.role == Role.GRID_WORKER.value)
            )
        )
    language = language_of(request)
    gettext = translations(language).gettext
    names = names_of(request)
    charts = Charts(gettext, names, language)
    month_row, previous_row = trend[-1], trend[-2]
    offered = [shift(this_month, -n) for n in range(MONTHS_OFFERED)]
    if chosen not in offered:
        offered.append(chosen)
    workers = [row for row in cuts[Grouping.GRID_WORKER] if row.key in grid_workers]
    return render(
        request,
        "stats.html",
        {
            "month_value": f"{chosen:%Y-%m}",
            "month_name": month_label(chosen, language),
            "months": [(f"{m:%Y-%m}", month_label(m, language)) for m in offered],
            "taken_at": now,
            "total": month_row,
            "previous": previous_row,
            "charts": {
                "trend": charts.trend(months, trend),
                "departments": charts.departments(cuts[Grouping.DEPARTMENT]),
                "towns": charts.towns(cuts[Grouping.TOWN]),
                "categories": charts.categories(cuts[Grouping.CATEGORY]),
            },
            "department_ranking": rank_departments(cuts[Grouping.DEPARTMENT]),
            "worker_ranking": rank_grid_workers(workers)[:WORKER_ROWS],
        },
        principal=me,
    )


def rank_departments(rows: list[KpiRow]) -> list[KpiRow]:
    """By on-time completion rate (按时办理率), then by the work received; departments with
    nothing completed in the month last."""
    return sorted(
        (row for row in rows if row.assignments),
        key=lambda r: (
            r.on_time_completion_rate is None,
            -(r.on_time_completion_rate or 0),
            -r.assignments,
            r.key or "",
        ),
    )


def rank_grid_workers(rows: list[KpiRow]) -> list[KpiRow]:
    """By cases reported (发现上报), then by closure rate."""
    return sorted(
        (row for row in rows if row.reported),
        key=lambda r: (-r.reported, -(r.closure_rate or 0), r.key or ""),
    )


@dataclass
class Charts:
    """The JSON each chart is drawn from: categories (labels in the user's language) with their
    codes, and series of counts or rates (shares, null when empty), named for the legend."""

    gettext: Any
    names: Names
    language: str

    def _series(
        self, rows: list[KpiRow], key: str, name: str, kind: str, axis: str
    ) -> dict[str, Any]:
        return {
            "key": key,
            "name": self.gettext(name),
            "type": kind,
            "axis": axis,
            "data": [getattr(row, key) for row in rows],
        }

    def _axes(self) -> dict[str, str]:
        return {"count": self.gettext("Cases"), "rate": self.gettext("Rate")}

    def trend(self, months: list[date], rows: list[KpiRow]) -> dict[str, Any]:
        return {
            "categories": [f"{m:%Y-%m}" for m in months],
            "codes": [f"{m:%Y-%m}" for m in months],
            "link": "/stats?month=",
            "axes": self._axes(),
            "series": [
                self._series(rows, "reported", N_("Cases reported"), "bar", "count"),
                self._series(rows, "closure_rate", N_("Closure rate"), "line", "rate"),
                self._series(
                    rows, "on_time_closure_rate", N_("On-time closure rate"), "line", "rate"
                ),
                self._series(rows, "timely_sign_rate", N_("Timely sign-for rate"), "line", "rate"),
                self._series(rows, "satisfaction_rate", N_("Satisfaction rate"), "line", "rate"),
            ],
        }

    def _cut(
        self, kind: str, rows: list[KpiRow], link: str, series: list[tuple[str, str, str, str]]
    ) -> dict[str, Any]:
        return {
            "categories": [self.names.of(kind, row.key, self.language) for row in rows],
            "codes": [row.key for row in rows],
            "link": link,
            "horizontal": True,
            "axes": self._axes(),
            "series": [self._series(rows, *s) for s in series],
        }

    def departments(self, rows: list[KpiRow]) -> dict[str, Any]:
        """Work received (assignments) and the on-time completion rate, busiest first."""
        busiest = sorted(
            (r for r in rows if r.assignments), key=lambda r: (-r.assignments, r.key or "")
        )
        return self._cut(
            "department",
            busiest,
            "/cases?department=",
            [
                ("assignments", N_("Work assigned"), "bar", "count"),
                ("on_time_completion_rate", N_("On-time completion rate"), "line", "rate"),
                ("timely_sign_rate", N_("Timely sign-for rate"), "line", "rate"),
            ],
        )

    def towns(self, rows: list[KpiRow]) -> dict[str, Any]:
        """Cases reported, closure and on-time closure, in the order of the seed file's codes."""
        return self._cut(
            "town",
            [r for r in rows if r.reported],
            "/cases?town=",
            [
                ("reported", N_("Cases reported"), "bar", "count"),
                ("closure_rate", N_("Closure rate"), "line", "rate"),
                ("on_time_closure_rate", N_("On-time closure rate"), "line", "rate"),
            ],
        )

    def categories(self, rows: list[KpiRow]) -> dict[str, Any]:
        """The categories with the most cases reported, and their on-time closure rate."""
        busiest = sorted((r for r in rows if r.reported), key=lambda r: (-r.reported, r.key or ""))
        return self._cut(
            "category",
            busiest[:CATEGORY_BARS],
            "/cases?category=",
            [
                ("reported", N_("Cases reported"), "bar", "count"),
                ("on_time_closure_rate", N_("On-time closure rate"), "line", "rate"),
            ],
        )


# ---- /map ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridLoad:
    """A grid's open cases (not archived) and how many of them are overdue now."""

    grid: str
    open: int
    overdue: int


def open_cases_by_grid(session: Session) -> list[GridLoad]:
    """Every grid with an open case, by grid code (one GROUP BY over the read model)."""
    query = (
        select(
            CaseRecord.grid,
            func.count().label("open"),
            func.count(case((CaseRecord.overdue.is_(True), 1))).label("overdue"),
        )
        .where(CaseRecord.stage != Stage.ARCHIVED.value)
        .group_by(CaseRecord.grid)
        .order_by(CaseRecord.grid)
    )
    return [
        GridLoad(grid, int(open_), int(overdue)) for grid, open_, overdue in session.execute(query)
    ]


@dataclass(frozen=True)
class Place:
    grid: str
    community: str
    town: str


def places(session: Session) -> tuple[dict[str, Place], dict[str, tuple[str, str]]]:
    """Each grid's community and town, and the communities' names (Chinese, English)."""
    grids = {
        code: Place(code, community, town)
        for code, community, town in session.execute(
            select(GridRecord.code, GridRecord.community_code, GridRecord.town_code)
        )
    }
    communities = {
        code: (name, name_en)
        for code, name, name_en in session.execute(
            select(CommunityRecord.code, CommunityRecord.name, CommunityRecord.name_en)
        )
    }
    return grids, communities


@router.get("/map")
def grid_map(request: Request, me: SignedIn) -> Response:
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    language = language_of(request)
    gettext = translations(language).gettext
    names = names_of(request)
    with sessions_of(request)() as session:
        loads = open_cases_by_grid(session)
        grids, communities = places(session)
    community_names = {code: pair[language != "zh-CN"] for code, pair in communities.items()}
    config = {
        "geojson": GRID_MAP,
        "data": "/map/data.json",
        "cases": "/cases?grid=",
        "names": {
            "grid": {code: names.of("grid", code, language) for code in grids},
            "community": community_names,
            "town": {code: names.of("town", code, language) for code in names.towns},
        },
        "text": {
            "open": gettext("Open cases"),
            "overdue": gettext("Overdue cases"),
            "click": gettext("Click to list the grid's cases"),
            "failed": gettext("The map could not be loaded; reload the page to try again."),
        },
    }
    return render(
        request,
        "map.html",
        {
            "config": config,
            "open_total": sum(g.open for g in loads),
            "overdue_total": sum(g.overdue for g in loads),
            "busy_grids": sum(1 for g in loads if g.open),
            "grid_total": len(grids),
            "towns": town_loads(grids, loads),
            "hotspots": [
                (load, grids.get(load.grid))
                for load in sorted(loads, key=lambda g: (-g.open, -g.overdue, g.grid))[:HOTSPOTS]
            ],
            "community_names": community_names,
        },
        principal=me,
    )


@dataclass
class TownLoad:
    town: str
    grids: int = 0
    busy_grids: int = 0
    open: int = 0
    overdue: int = 0


def town_loads(grids: dict[str, Place], loads: list[GridLoad]) -> list[TownLoad]:
    """Each town's open and overdue cases and grids with open cases, busiest first."""
    towns: dict[str, TownLoad] = {}
    for place in grids.values():
        towns.setdefault(place.town, TownLoad(place.town)).grids += 1
    for load in loads:
        where = grids.get(load.grid)
        if where is not None:
            town = towns[where.town]
            town.open += load.open
            town.overdue += load.overdue
            town.busy_grids += 1 if load.open else 0
    return sorted(towns.values(), key=lambda t: (-t.open, -t.overdue, t.town))


@router.get("/map/data.json")
def grid_map_data(request: Request, me: SignedIn) -> Response:
    """Open and overdue cases per grid; only grids with an open case are listed."""
    if me.role not in OVERSEERS:
        refusal = message("forbidden", language_of(request), {})
        return JSONResponse(
            {"error": {"type": "forbidden", "message": refusal}},
            status_code=status.HTTP_403_FORBIDDEN,
        )
    with sessions_of(request)() as session:
        loads = open_cases_by_grid(session)
    return JSONResponse(
        {
            "as_of": datetime.now(UTC).isoformat(),
            "open": sum(g.open for g in loads),
            "overdue": sum(g.overdue for g in loads),
            "grids": [{"code": g.grid, "open": g.open, "overdue": g.overdue} for g in loads],
        },
        headers={"Cache-Control": "no-store"},
    )
