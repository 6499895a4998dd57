"""The web console over HTTP, as a browser without JavaScript uses it: sign-in, CSRF, the case
list and its exports, the case page's forms, the report form."""

import csv
import io
import re
from collections.abc import Awaitable, Callable

from openpyxl import load_workbook

from tests.api_driver import COORDINATOR, ENFORCEMENT, GRID_WORKER, MARKET, MY_GRID, ApiDriver
from tests.console_driver import Console

OpenConsole = Callable[..., Awaitable[Console]]


def action_names(page: str) -> set[str]:
    return set(re.findall(r'action="/cases/[^/"]+/do/([a-z/-]+)"', page))


async def test_signing_in_goes_where_the_user_was_going(api: ApiDriver) -> None:
    browser = Console(api.app)
    try:
        first = await browser.http.get("/cases?stage=handle")
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=/cases"
        await browser.page("/login?next=/cases")
        refused = await browser.post(
            "/login", {"username": COORDINATOR, "password": "wrong", "next": "/cases"}
        )
        assert refused.status_code == 401
        assert 'role="alert"' in refused.text
        signed_in = await browser.post(
            "/login", {"username": COORDINATOR, "password": COORDINATOR, "next": "/cases"}
        )
        assert (signed_in.status_code, signed_in.url.path) == (200, "/cases")
        elsewhere = await browser.post(
            "/login",
            {"username": COORDINATOR, "password": COORDINATOR, "next": "//evil.example/"},
        )
        assert elsewhere.url.host == "gridloop.test"
        await browser.post("/logout", {})
        assert (await browser.http.get("/dashboard")).status_code == 303
    finally:
        await browser.close()


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    coordinator = await console(COORDINATOR)
    await coordinator.page(f"/cases/{case_no}")
    dispatch = {"lead_department": MARKET}
    for fields, use_token in ((dispatch, False), (dispatch | {"csrf_token": "forged"}, False)):
        refused = await coordinator.post(f"/cases/{case_no}/do/dispatch", fields, csrf=use_token)
        assert refused.status_code == 403
    case = await api.case(COORDINATOR, case_no)
    assert (case["stage"], case["assignments"]) == ("report", [])

    accepted = await coordinator.post(f"/cases/{case_no}/do/dispatch", dispatch)
    assert accepted.status_code == 200
    assert (await api.case(COORDINATOR, case_no))["stage"] == "handle"


async def test_the_case_page_offers_what_the_case_allows_now(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    coordinator = await console(COORDINATOR)
    offered = action_names((await coordinator.page(f"/cases/{case_no}")).text)
    assert {"dispatch", "consultation", "escalate"} <= offered
    assert not offered & {"sign", "complete", "verification", "review", "resume"}

    page = await coordinator.post(
        f"/cases/{case_no}/do/dispatch",
        [("lead_department", MARKET), ("co_departments", ENFORCEMENT), ("note", "联合处置")],
    )
    assert page.url.path == f"/cases/{case_no}"
    offered = action_names(page.text)
    assert {"urge", "reassign", "withdraw", "suspend"} <= offered
    assert "dispatch" not in offered

    market = await console(MARKET)
    assert action_names((await market.page(f"/cases/{case_no}")).text) >= {"sign", "return"}
    signed = await market.post(f"/cases/{case_no}/do/sign", {})
    offered = action_names(signed.text)
    assert {"complete", "extension", "notes"} <= offered
    assert "sign" not in offered


async def test_a_refused_action_is_explained_on_the_page_in_the_users_language(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, case_no, "sign")
    for language, words in (("zh-CN", "已签收"), ("en", "has already signed")):
        market = await console(MARKET, language)
        await market.page(f"/cases/{case_no}")
        again = await market.post(f"/cases/{case_no}/do/sign", {})
        assert again.status_code == 409
        assert words in again.text
    events = await api.events(COORDINATOR, case_no)
    assert [e["type"] for e in events].count("signed") == 1


async def test_a_grid_worker_reports_in_its_own_grids(api: ApiDriver, console: OpenConsole) -> None:
    worker = await console(GRID_WORKER)
    form = (await worker.page("/cases/new")).text
    offered_grids = set(re.findall(r'<option value="([a-z_0-9]+_g\d\d)"', form))
    assert MY_GRID in offered_grids
    assert all(grid.startswith("luoxing_xinzhou_") for grid in offered_grids)

    page = await worker.post(
        "/cases/new",
        {
            "category": "occupy_road_business",
            "grid": MY_GRID,
            "urgency": "major",
            "address": "新洲社区 5 幢",
            "description": "网页上报：占道经营",
            "idempotency_key": "web-report-1",
        },
    )
    case_no = page.url.path.rsplit("/", 1)[-1]
    api.noted(case_no)
    assert page.status_code == 200
    case = await api.case(COORDINATOR, case_no)
    assert (case["urgency"], case["reported_by"], case["source"]) == (
        "major",
        GRID_WORKER,
        "grid_patrol",
    )

    elsewhere = await worker.post(
        "/cases/new",
        {
            "category": "occupy_road_business",
            "grid": "weitang_jiachen_g01",
            "address": "x",
            "description": "x",
        },
    )
    assert elsewhere.status_code == 409  # not one of its grids: refused, with the form kept
    assert 'role="alert"' in elsewhere.text


async def test_the_case_list_exports_what_it_shows(api: ApiDriver, console: OpenConsole) -> None:
    marker = f"导出测试-{api.key()[:6]}"
    numbers = [
        (await api.report(GRID_WORKER, description=f"{marker} {n}"))["case_no"] for n in range(3)
    ]
    for case_no in numbers:
        await api.wait_projected(case_no)
    coordinator = await console(COORDINATOR)
    listed = await coordinator.page(f"/cases?text={marker}")
    assert all(case_no in listed.text for case_no in numbers)
    # The filter form as a browser sends it, every "All" an empty value.
    submitted = await coordinator.page(f"/cases?stage=&status=&urgency=&town=&text={marker}")
    assert all(case_no in submitted.text for case_no in numbers)

    exported = await coordinator.http.get(f"/cases/export.csv?text={marker}")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0][0] == "案件编号" or rows[0][0] == "Case number"
    assert sorted(row[0] for row in rows[1:]) == sorted(numbers)

    workbook = load_workbook(
        io.BytesIO((await coordinator.http.get(f"/cases/export.xlsx?text={marker}")).content)
    )
    sheet = workbook.active
    assert sheet is not None
    assert sorted(str(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True)) == sorted(
        numbers
    )
    assert all(row[2] == "占道经营" for row in sheet.iter_rows(min_row=2, values_only=True))


async def test_the_dashboard_shows_the_loop_and_the_work_at_risk(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.wait_projected(case_no)
    coordinator = await console(COORDINATOR)
    page = (await coordinator.page("/dashboard")).text
    assert 'href="/cases?stage=handle"' in page
    work = (await coordinator.page("/dashboard/work")).text
    assert case_no in work  # its sign-for deadline is hours away
    market = await console(MARKET)
    assert (await market.http.get("/dashboard")).headers["location"] == "/queue"
