"""The statistics page, the grid map and its data: the GeoJSON of the demo county, the open and
overdue counts per grid, who may see them, and the chart figures against store.stats."""

import itertools
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.model import Role
from gridloop.http import create_app
from store.models import CaseRecord
from store.reference import DEMO_COUNTY, load_organisation
from store.stats import Grouping, kpis
from tests.api_driver import AUDITOR, COORDINATOR, GRID_WORKER, MARKET, ApiDriver
from tests.conftest import api_settings
from tests.console_driver import Console
from tests.test_stats import assignment_row, case_row
from web.pages.stats import open_cases_by_grid, period
from web.render import HOME

OpenConsole = Callable[..., Awaitable[Console]]
ROOT = Path(__file__).parent.parent
GEOJSON = ROOT / "web" / "static" / "geo" / "jiashan-grids.geojson"
GENERATOR = ROOT / "tools" / "generate_grid_map.py"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CHARTS = re.compile(r'<script type="application/json" id="chart-(\w+)">(.*?)</script>', re.S)


def seeded_grids() -> dict[str, tuple[str, str]]:
    """Every grid code of the demo county, with its community and town."""
    organisation = load_organisation(DEMO_COUNTY)
    return {
        f"{community.code}_g{number:02d}": (community.code, town.code)
        for town in organisation.towns
        for community in town.communities
        for number in range(1, community.grids + 1)
    }


# ---- the GeoJSON -------------------------------------------------------------------------


def test_the_grid_map_has_one_polygon_per_seeded_grid() -> None:
    collection = json.loads(GEOJSON.read_text(encoding="utf-8"))
    grids = [f for f in collection["features"] if f["properties"]["kind"] == "grid"]
    expected = seeded_grids()
    assert len(expected) == 464
    assert sorted(f["properties"]["code"] for f in grids) == sorted(expected)
    for feature in grids:
        properties, geometry = feature["properties"], feature["geometry"]
        assert (properties["community"], properties["town"]) == expected[properties["code"]]
        assert properties["name"]
        # One hexagon: a single closed ring of six corners.
        assert geometry["type"] == "Polygon"
        (ring,) = geometry["coordinates"]
        assert len(ring) == 7
        assert ring[0] == ring[-1]
        west, south, east, north = collection["bbox"]
        assert all(west <= lon <= east and south <= lat <= north for lon, lat in ring)
    # Around Jiashan (about 120.75-121.05 E, 30.72-31.02 N).
    assert collection["bbox"][0] >= 120.7
    assert collection["bbox"][2] <= 121.1
    assert "not surveyed" in collection["metadata"]["description"].lower()


def test_every_community_and_town_is_one_piece_of_the_map() -> None:
    collection = json.loads(GEOJSON.read_text(encoding="utf-8"))
    grids = [f for f in collection["features"] if f["properties"]["kind"] == "grid"]
    # Two grids are neighbours when their hexagons share an edge.
    by_edge: dict[frozenset[tuple[float, float]], list[str]] = defaultdict(list)
    for feature in grids:
        ring = [tuple(point) for point in feature["geometry"]["coordinates"][0]]
        for a, b in itertools.pairwise(ring):
            by_edge[frozenset((a, b))].append(feature["properties"]["code"])
    neighbours: dict[str, set[str]] = defaultdict(set)
    for codes in by_edge.values():
        assert len(codes) <= 2
        if len(codes) == 2:
            neighbours[codes[0]].add(codes[1])
            neighbours[codes[1]].add(codes[0])
    assert connected({f["properties"]["code"] for f in grids}, neighbours)
    for level in ("community", "town"):
        regions: dict[str, set[str]] = defaultdict(set)
        for feature in grids:
            regions[feature["properties"][level]].add(feature["properties"]["code"])
        for region, codes in regions.items():
            assert connected(codes, neighbours), f"{level} {region} is in pieces"
    outlines = {
        f["properties"]["code"] for f in collection["features"] if f["properties"]["kind"] == "town"
    }
    assert outlines == {town for _, town in seeded_grids().values()}


def connected(codes: Iterable[str], neighbours: dict[str, set[str]]) -> bool:
    pending = set(codes)
    frontier = [pending.pop()]
    while frontier:
        for neighbour in neighbours[frontier.pop()] & pending:
            pending.remove(neighbour)
            frontier.append(neighbour)
    return not pending


def test_regenerating_the_grid_map_gives_the_same_file(tmp_path: Path) -> None:
    output = tmp_path / "grids.geojson"
    subprocess.run([sys.executable, str(GENERATOR), "--output", str(output)], check=True)
    assert output.read_bytes() == GEOJSON.read_bytes()
    checked = subprocess.run([sys.executable, str(GENERATOR), "--check"], check=False)
    assert checked.returncode == 0


# ---- the map's counts --------------------------------------------------------------------


def grid_counts(response: Any) -> dict[str, tuple[int, int]]:
    assert response.status_code == 200, response.text
    return {g["code"]: (g["open"], g["overdue"]) for g in response.json()["grids"]}


async def test_the_map_counts_a_case_open_in_its_grid(api: ApiDriver, console: OpenConsole) -> None:
    grid = "dayun_yangqiao_g07"
    coordinator = await console(COORDINATOR)
    before = grid_counts(await coordinator.http.get("/map/data.json")).get(grid, (0, 0))

    case_no = (await api.report(COORDINATOR, grid=grid))["case_no"]
    await api.wait_projected(case_no)

    counts = grid_counts(await coordinator.http.get("/map/data.json"))
    assert counts[grid] == (before[0] + 1, before[1])
    with api.sessions() as session:
        in_sql = session.scalar(
            select(func.count())
            .select_from(CaseRecord)
            .where(CaseRecord.grid == grid, CaseRecord.stage != "archived")
        )
    assert counts[grid][0] == in_sql
    page = await coordinator.page("/map")
    assert 'id="grid-map"' in page.text
    assert "/static/geo/jiashan-grids.geojson" in page.text
    assert "/static/vendor/echarts-6.1.0/echarts.min.js" in page.text
    geojson = await coordinator.http.get("/static/geo/jiashan-grids.geojson")
    assert geojson.status_code == 200

    auditor = await console(AUDITOR)
    assert grid_counts(await auditor.http.get("/map/data.json"))[grid] == counts[grid]


@pytest_asyncio.fixture
async def county_console(
    fresh_county: sessionmaker[Session], tmp_path: Path
) -> AsyncIterator[Callable[[str], Awaitable[Console]]]:
    """The console over a county of the test's own, without Temporal: the rows are the test's."""
    app = create_app(api_settings("unused", tmp_path), None, fresh_county)
    opened: list[Console] = []

    async def open_as(username: str) -> Console:
        browser = Console(app, "en")
        response = await browser.sign_in(username)
        assert response.url.path != "/login"
        opened.append(browser)
        return browser

    yield open_as
    for browser in opened:
        await browser.close()


def open_case(case_no: str, grid: str, *, overdue: bool = False, archived: bool = False) -> Any:
    town = grid.split("_")[0]
    row = case_row(case_no, town, grid, "public_health", "health", GRID_WORKER, datetime.now(UTC))
    row.overdue = overdue
    if archived:
        row.stage, row.status, row.archived_at = "archived", "archived", datetime.now(UTC)
    return row


async def test_the_map_counts_overdue_cases_among_the_open_ones(
    fresh_county: sessionmaker[Session], county_console: Callable[[str], Awaitable[Console]]
) -> None:
    with fresh_county.begin() as session:
        session.add_all(
            [
                open_case("M1", "xitang_xijie_g01"),
                open_case("M2", "xitang_xijie_g01", overdue=True),
                open_case("M3", "xitang_xijie_g01", overdue=True),
                open_case("M4", "xitang_xijie_g01", archived=True),
                open_case("M5", "ganyao_liming_g03", overdue=True),
                open_case("M6", "ganyao_liming_g04", archived=True),
            ]
        )
    coordinator = await county_console(COORDINATOR)
    response = await coordinator.http.get("/map/data.json")
    assert grid_counts(response) == {"ganyao_liming_g03": (1, 1), "xitang_xijie_g01": (3, 2)}
    assert (response.json()["open"], response.json()["overdue"]) == (4, 3)
    with fresh_county() as session:
        assert [(g.grid, g.open, g.overdue) for g in open_cases_by_grid(session)] == [
            ("ganyao_liming_g03", 1, 1),
            ("xitang_xijie_g01", 3, 2),
        ]
    page = (await coordinator.page("/map")).text
    assert "4 open cases in 2 of the county&#39;s 464 grids; 3 of them overdue." in page


async def test_only_the_command_centre_and_auditors_see_statistics_and_the_map(
    api: ApiDriver, console: OpenConsole
) -> None:
    for overseer in (COORDINATOR, AUDITOR):
        browser = await console(overseer)
        page = await browser.page("/stats")
        assert page.url.path == "/stats"
        assert 'id="chart-trend"' in page.text
        assert (await browser.page("/map")).url.path == "/map"
    for user, role in ((MARKET, Role.DEPARTMENT), (GRID_WORKER, Role.GRID_WORKER)):
        browser = await console(user)
        for path in ("/stats", "/map"):
            refused = await browser.http.get(path)
            assert (refused.status_code, refused.headers["location"]) == (303, HOME[role])
        data = await browser.http.get("/map/data.json")
        assert (data.status_code, data.json()["error"]["type"]) == (403, "forbidden")
    stranger = Console(api.app)
    try:
        assert (await stranger.http.get("/map/data.json")).status_code == 303
    finally:
        await stranger.close()


# ---- the statistics page -----------------------------------------------------------------


def march(day: int) -> datetime:
    return datetime(2025, 3, day, 9, tzinfo=SHANGHAI)


def charts_of(page: str) -> dict[str, dict[str, Any]]:
    return {name: json.loads(body) for name, body in CHARTS.findall(page)}


async def test_the_charts_carry_the_figures_of_the_period(
    fresh_county: sessionmaker[Session], county_console: Callable[[str], Awaitable[Console]]
) -> None:
    enforcement, market, health, fire = (
        "comprehensive_enforcement", "market_supervision", "health", "fire_rescue",
    )  # fmt: skip
    with fresh_county.begin() as session:
        session.add_all(
            [
                case_row("S1", "luoxing", "luoxing_xinzhou_g01", "occupy_road_business",
                         enforcement, GRID_WORKER, march(3), closed_at=march(5),
                         rating="satisfied"),
                case_row("S2", "luoxing", "luoxing_xinzhou_g02", "occupy_road_business",
                         enforcement, GRID_WORKER, march(4), closed_at=march(9), breached=True),
                case_row("S3", "weitang", "weitang_jiachen_g01", "food_safety", market,
                         AUDITOR, march(6), closed_at=march(20), rating="dissatisfied"),
                case_row("S4", "dayun", "dayun_dayun_g01", "public_health", health,
                         "resident_1", march(10)),
                case_row("S5", "ganyao", "ganyao_ganyao_g01", "public_health", health,
                         GRID_WORKER, datetime(2025, 1, 20, 9, tzinfo=SHANGHAI),
                         closed_at=datetime(2025, 1, 27, 9, tzinfo=SHANGHAI)),
            ]
        )  # fmt: skip
        session.flush()
        session.add_all(
            [
                assignment_row("T1", "S1", enforcement, "completed", march(3),
                               completed_at=march(4), hours=6),
                assignment_row("T2", "S2", enforcement, "completed", march(4),
                               completed_at=march(8), hours=20),
                assignment_row("T3", "S2", enforcement, "awaiting_sign", march(9), round_=2,
                               sign="-"),
                assignment_row("T4", "S3", market, "completed", march(6), sign="late",
                               completed_at=march(15), late=True, hours=40),
                assignment_row("T5", "S3", market, "completed", march(16), round_=2,
                               completed_at=march(18), hours=8),
                assignment_row("T6", "S4", health, "completed", march(10),
                               completed_at=march(11), hours=5),
                assignment_row("T7", "S4", fire, "handling", march(10), role="co"),
            ]
        )  # fmt: skip

    coordinator = await county_console(COORDINATOR)
    page = (await coordinator.page("/stats?month=2025-03")).text
    assert '<option value="2025-03" selected>' in page
    charts = charts_of(page)
    assert set(charts) == {"trend", "departments", "towns", "categories"}

    months = [date(2024, m, 1) for m in (10, 11, 12)] + [date(2025, m, 1) for m in (1, 2, 3)]
    with fresh_county() as session:
        trend = [kpis(session, *period(m, SHANGHAI), Grouping.NONE)[0] for m in months]
        cuts = {
            g: {row.key: row for row in kpis(session, *period(months[-1], SHANGHAI), g)}
            for g in (Grouping.DEPARTMENT, Grouping.TOWN, Grouping.CATEGORY)
        }
    assert charts["trend"]["categories"] == [f"{m:%Y-%m}" for m in months]
    for series in charts["trend"]["series"]:
        assert series["data"] == [getattr(row, series["key"]) for row in trend], series["key"]
    assert {s["key"] for s in charts["trend"]["series"]} == {
        "reported", "closure_rate", "on_time_closure_rate", "timely_sign_rate",
        "satisfaction_rate",
    }  # fmt: skip
    assert [s["name"] for s in charts["trend"]["series"]][1] == "Closure rate"
    # January's case is in January's figures, March's in March's.
    assert [row.reported for row in trend] == [0, 0, 0, 1, 0, 4]

    for name, grouping in (
        ("departments", Grouping.DEPARTMENT),
        ("towns", Grouping.TOWN),
        ("categories", Grouping.CATEGORY),
    ):
        chart, rows = charts[name], cuts[grouping]
        for series in chart["series"]:
            expected = [getattr(rows[code], series["key"]) for code in chart["codes"]]
            assert series["data"] == expected, (name, series["key"])
    # Busiest first; every department with work in the month.
    assert charts["departments"]["codes"] == [enforcement, market, fire, health]
    assert charts["departments"]["series"][0]["data"] == [3, 2, 1, 1]
    assert (
        charts["departments"]["categories"][0]
        == "County Comprehensive Administrative Law Enforcement Bureau"
    )
    assert set(charts["towns"]["codes"]) == {"luoxing", "weitang", "dayun"}

    # The tiles: March's 办结率 is 3 of 4.
    assert "75.0%" in page
    # Departments ranked by on-time completion (1.0, 1.0, 0.5, none), then by work received.
    ranking = page[page.index("Department ranking") :]
    assert re.findall(r'<a href="/cases\?department=(\w+)">', ranking) == [
        enforcement, health, market, fire,
    ]  # fmt: skip
    # Grid workers only: the auditor's report and the resident's are not ranked.
    workers = page[page.index("Grid worker ranking") : page.index("Department ranking")]
    assert "褚雅琴" in workers
    assert "督查室督查员" not in workers
    assert "resident_1" not in workers


async def test_the_month_defaults_to_this_month(
    county_console: Callable[[str], Awaitable[Console]],
) -> None:
    auditor = await county_console(AUDITOR)
    this_month = f"{datetime.now(SHANGHAI):%Y-%m}"
    for query in ("", "?month=2025-13", "?month=junk", "?month=2999-01", "?month=1999-12"):
        page = (await auditor.page(f"/stats{query}")).text
        assert f'<option value="{this_month}" selected>' in page
        trend = charts_of(page)["trend"]
        assert trend["categories"][-1] == this_month
        assert "No work was assigned in this month." in page
