"""The console in a real browser (Debian's Chromium through Playwright): the whole loop by its
users, the language switch, a refused action explained, a forged form refused. Every page
visited is saved as a screenshot under tests/artifacts/screenshots/."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Browser

from tests.api_driver import COORDINATOR, ENFORCEMENT, GRID_WORKER, MARKET, ApiDriver
from tests.browser_support import User, case_number_in


async def test_the_language_follows_the_switch(browser: Browser, site: str) -> None:
    coordinator = await User.sign_in(browser, site, COORDINATOR)
    page = coordinator.page
    await coordinator.go("/dashboard")
    assert await page.text_content("h1") == "工作台"
    await page.click(".lang-switch button[value=en]")
    await page.wait_for_load_state("networkidle")
    assert await page.text_content("h1") == "Dashboard"
    await coordinator.shot("dashboard-en")
    await page.click(".lang-switch button[value=zh-CN]")
    await page.wait_for_load_state("networkidle")
    assert await page.text_content("h1") == "工作台"
    await coordinator.close()


async def test_a_refused_action_shows_its_reason(
    browser: Browser, site: str, api: ApiDriver
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    market = await User.sign_in(browser, site, MARKET)
    await market.go(f"/cases/{case_no}")
    # Someone at the same department signs first, through the API, while the page is open.
    await api.act(MARKET, case_no, "sign")
    sign = await market.open_action("sign")
    await market.page.click(f"{sign} button[type=submit]")
    await market.page.wait_for_load_state("networkidle")
    alert = await market.page.text_content("#actions .alert")
    assert alert is not None
    assert "已签收" in alert
    await market.shot("case-refused-action")
    await market.close()


async def test_a_forged_form_is_refused(browser: Browser, site: str, api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    coordinator = await User.sign_in(browser, site, COORDINATOR)
    await coordinator.go(f"/cases/{case_no}")
    page = coordinator.page
    dispatch = await coordinator.open_action("dispatch")
    await page.eval_on_selector(
        f"{dispatch} input[name=csrf_token]", "field => field.value = 'forged'"
    )
    await page.click(f"{dispatch} button[type=submit]")
    await page.wait_for_load_state("networkidle")
    assert "表单已失效" in (await page.content())
    assert (await api.case(COORDINATOR, case_no))["stage"] == "report"
    await coordinator.close()


async def test_a_coordinator_reports_and_dispatches_to_two_departments(
    browser: Browser, site: str, api: ApiDriver
) -> None:
    coordinator = await User.sign_in(browser, site, COORDINATOR)
    page = coordinator.page
    await coordinator.go("/cases/new")
    await coordinator.shot("case-new")
    await page.select_option("#category", "occupy_road_business")
    await page.select_option("#grid", "luoxing_xinzhou_g01")
    await page.select_option("#source", "hotline_12345")
    await page.fill("#address", "罗星街道解放东路 88 号")
    await page.fill("#description", "12345 来电：沿街店铺占道经营，货物堆放至人行道")
    await page.fill("#reporter_phone", "13800000000")
    await page.click("form[action='/cases/new'] button[type=submit]")
    await page.wait_for_load_state("networkidle")
    case_no = case_number_in(page.url)
    api.noted(case_no)
    assert "查询码" in (await page.text_content(".alert.ok") or "")

    dispatch = await coordinator.open_action("dispatch")
    await page.select_option(f"{dispatch} select[name=lead_department]", ENFORCEMENT)
    await page.check(f"{dispatch} input[name=co_departments][value={MARKET}]")
    await page.click(f"{dispatch} button[type=submit]")
    await page.wait_for_load_state("networkidle")
    await coordinator.shot("case-dispatched")
    case = await api.case(COORDINATOR, case_no)
    assert sorted(a["department"] for a in case["assignments"]) == sorted([ENFORCEMENT, MARKET])
    await coordinator.close()


async def closed_this_month(user: User) -> int:
    """The closure tile's count: "本月 closed / reported"."""
    await user.go("/dashboard")
    note = await user.page.text_content(".tile .tile-note")
    assert note is not None
    return int(note.split("/")[0].split()[-1])


async def test_the_whole_loop_in_the_browser(browser: Browser, site: str, api: ApiDriver) -> None:
    coordinator = await User.sign_in(browser, site, COORDINATOR)
    closed_before = await closed_this_month(coordinator)

    # 指挥室 reports a 12345 call and dispatches it to 综合执法 (lead) and 市场监管.
    page = coordinator.page
    await coordinator.go("/cases/new")
    await page.select_option("#category", "occupy_road_business")
    await page.select_option("#grid", "luoxing_xinzhou_g01")
    await page.select_option("#source", "hotline_12345")
    await page.fill("#address", "罗星街道解放东路 96 号")
    await page.fill("#description", "12345 来电：早市摊贩占道经营")
    await page.fill("#reporter_name", "李女士")
    await page.click("form[action='/cases/new'] button[type=submit]")
    await page.wait_for_load_state("networkidle")
    case_no = case_number_in(page.url)
    api.noted(case_no)
    lookup_code = (await page.text_content("dd.mono") or "").strip()
    dispatch = await coordinator.open_action("dispatch")
    await page.select_option(f"{dispatch} select[name=lead_department]", ENFORCEMENT)
    await page.check(f"{dispatch} input[name=co_departments][value={MARKET}]")
    await coordinator.submit(dispatch)
    await coordinator.shot("case")

    # Each department signs and completes in its work queue; the lead writes the reply.
    for department in (MARKET, ENFORCEMENT):
        office = await User.sign_in(browser, site, department)
        await office.go("/queue?tab=sign")
        await office.shot(f"queue-{department}")
        await office.submit(await office.open_action("sign", case_no))
        assert "tab=sign" in office.page.url
        await office.go("/queue?tab=handling")
        complete = await office.open_action("complete", case_no)
        await office.page.fill(f"{complete} textarea[name=result]", f"{department}：已清理占道摊点")
        await office.submit(complete)
        if department == ENFORCEMENT:
            await office.go("/queue")
            reply = await office.open_action("final-reply", case_no)
            await office.page.fill(f"{reply} textarea[name=reply]", "经联合处置，占道摊点已清理。")
            await office.submit(reply)
        await office.close()

    # The grid worker verifies on site, on a phone.
    worker = await User.sign_in(browser, site, GRID_WORKER, phone=True)
    await worker.go("/grid")
    await worker.shot("grid-phone")
    await worker.submit(await worker.open_action("verification", case_no))
    await worker.close()

    # The reporter rates the reply on the public page, on a phone, without signing in.
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    resident = User(await context.new_page(), site, "resident")
    await resident.go(f"/track/{lookup_code}")
    await resident.shot("track-phone")
    assert "李女士" not in await resident.page.content()
    await resident.page.click("label.rate-satisfied")
    await resident.submit(f"form[action='/track/{lookup_code}/rating']")
    await resident.close()

    # The command centre sees the case closed, and this month's figures move.
    case = await api.case(COORDINATOR, case_no)
    assert (case["rating"], case["closed_at"] is not None) == ("satisfied", True)
    await api.wait_projected(case_no)
    assert await closed_this_month(coordinator) == closed_before + 1
    await coordinator.shot("dashboard")
    await coordinator.close()


async def test_every_page_in_pictures(browser: Browser, site: str, api: ApiDriver) -> None:
    """A screenshot of every page of the console, for people to look at."""
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.wait_projected(case_no)
    before_dispatch = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None).isoformat()
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    pages = {
        COORDINATOR: (
            "/dashboard",
            "/cases",
            f"/cases/{case_no}",
            "/cases/new",
            "/consultations",
            "/stats",
            "/map",
        ),
        MARKET: ("/queue", f"/cases/{case_no}"),
        "auditor": (
            f"/cases/{case_no}/history?replay=1",
            f"/cases/{case_no}/history?at={before_dispatch}",
            "/audit",
            "/scorecards",
        ),
    }
    for username, paths in pages.items():
        user = await User.sign_in(browser, site, username)
        for path in paths:
            await user.go(path)
            assert "500" not in (await user.page.title())
            await user.shot(f"{username}{re.sub(r'[/?=:.]', '-', path)}")
        await user.close()
    worker = await User.sign_in(browser, site, GRID_WORKER, phone=True)
    for path in ("/grid", "/cases/new", f"/cases/{case_no}"):
        await worker.go(path)
        await worker.shot(f"gridworker-phone{path.replace('/', '-')}")
    await worker.close()
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    resident = User(await context.new_page(), site, "resident")
    for path in ("/login", "/track", "/report"):
        await resident.go(path)
        await resident.shot(f"public-phone{path.replace('/', '-')}")
    await resident.close()
