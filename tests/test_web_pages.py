"""The role pages of the console and the public pages, over HTTP as a browser without JavaScript
uses them: a department's work queue, the grid worker's page, the auditor's review queue, the
command centre's consultations, and the resident's progress, rating and report pages."""

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from store.models import GridRecord
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    ENFORCEMENT,
    GRID_WORKER,
    HEALTH,
    MARKET,
    MY_GRID,
    ApiDriver,
)
from tests.conftest import running_api
from tests.console_driver import Console
from tests.histories import HistoryLog

OpenConsole = Callable[..., Awaitable[Console]]
TABS = ("sign", "handling", "soon", "overdue")
LOOKUP_CODE = re.compile(r'data-lookup-code="([0-9A-Z]{8})"')
CASE_NUMBER = re.compile(r"GL-[0-9A-Z]{10}")


async def tabs_of(browser: Console, case_no: str) -> set[str]:
    """The work-queue tabs that list the case."""
    found = set()
    for tab in TABS:
        page = await browser.page(f"/queue?tab={tab}")
        if f'id="row-{case_no}"' in page.text:
            found.add(tab)
    return found


async def dispatched(api: ApiDriver, department: str = MARKET, **fields: object) -> str:
    case_no = str((await api.report(GRID_WORKER, **fields))["case_no"])
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": department})
    await api.wait_projected(case_no)
    return case_no


# ---- the department's work queue ----------------------------------------------------------


async def test_a_department_signs_and_completes_from_its_queue(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = await dispatched(api)
    market = await console(MARKET)
    # A sign-for deadline of 4 working hours is due soon; nothing is late yet.
    assert await tabs_of(market, case_no) == {"sign", "soon"}

    page = await market.page("/queue?tab=sign")
    assert f'action="/cases/{case_no}/do/sign"' in page.text
    assert f'action="/cases/{case_no}/do/return"' in page.text
    signed = await market.post(
        f"/cases/{case_no}/do/sign", {"idempotency_key": api.key(), "next": "/queue?tab=sign"}
    )
    assert (signed.status_code, signed.url.path, signed.url.query) == (200, "/queue", b"tab=sign")
    await api.wait_projected(case_no)
    # Five working days to handle it: in hand, not due soon.
    assert await tabs_of(market, case_no) == {"handling"}

    page = await market.page("/queue?tab=handling")
    for action in ("complete", "extension", "return"):
        assert f'action="/cases/{case_no}/do/{action}"' in page.text
    done = await market.post(
        f"/cases/{case_no}/do/complete",
        {
            "result": "已责令店主清理占道货物",
            "evidence_urls": "https://evidence.example/after.jpg",
            "idempotency_key": api.key(),
            "next": "/queue?tab=handling",
        },
    )
    assert (done.status_code, done.url.path) == (200, "/queue")
    case = await api.case(COORDINATOR, case_no)
    assert case["status"] == "awaiting_verification"
    await api.wait_projected(case_no)
    assert await tabs_of(market, case_no) == set()


async def test_the_queue_is_for_departments_and_refusals_show_on_the_case_page(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = await dispatched(api)
    coordinator = await console(COORDINATOR)
    assert (await coordinator.http.get("/queue")).headers["location"] == "/dashboard"

    market = await console(MARKET)
    await market.page("/queue?tab=sign")
    await market.post(f"/cases/{case_no}/do/sign", {"next": "/queue?tab=sign"})
    # The row's form is stale now: the case refuses a second sign-for and says why.
    again = await market.post(f"/cases/{case_no}/do/sign", {"next": "/queue?tab=sign"})
    assert (again.status_code, again.url.path) == (409, f"/cases/{case_no}/do/sign")
    assert 'role="alert"' in again.text


async def test_the_lead_writes_the_final_reply_of_a_joint_case_from_its_queue(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no = str((await api.report(GRID_WORKER))["case_no"])
    await api.act(
        COORDINATOR,
        case_no,
        "dispatch",
        {"lead_department": ENFORCEMENT, "co_departments": [MARKET]},
    )
    for department in (ENFORCEMENT, MARKET):
        await api.act(department, case_no, "sign")
        await api.act(department, case_no, "complete", {"result": "已处置"})
    await api.wait_projected(case_no)

    market = await console(MARKET)
    assert f'/cases/{case_no}/do/final-reply"' not in (await market.page("/queue")).text
    lead = await console(ENFORCEMENT)
    page = await lead.page("/queue")
    assert f'action="/cases/{case_no}/do/final-reply"' in page.text
    replied = await lead.post(
        f"/cases/{case_no}/do/final-reply",
        {"reply": "已联合清理占道经营", "next": "/queue?tab=sign#final-replies"},
    )
    assert (replied.status_code, replied.url.path) == (200, "/queue")
    assert (await api.case(COORDINATOR, case_no))["status"] == "awaiting_verification"


# ---- the grid worker ----------------------------------------------------------------------


async def test_a_grid_worker_verifies_from_its_page(api: ApiDriver, console: OpenConsole) -> None:
    case_no = await dispatched(api)
    await api.act(MARKET, case_no, "sign")
    await api.act(MARKET, case_no, "complete", {"result": "已清理占道货物"})
    await api.wait_projected(case_no)

    worker = await console(GRID_WORKER)
    page = await worker.page("/grid")
    assert f'action="/cases/{case_no}/do/verification"' in page.text
    assert "已清理占道货物" in page.text  # what the department reported, to check on site
    assert 'href="/cases/new"' in page.text
    verified = await worker.post(
        f"/cases/{case_no}/do/verification",
        {"passed": "true", "notes": "现场已整改", "next": "/grid#verify"},
    )
    assert (verified.status_code, verified.url.path) == (200, "/grid")
    assert (await api.case(COORDINATOR, case_no))["status"] == "awaiting_feedback"
    await api.wait_projected(case_no)
    page = await worker.page("/grid")
    assert f'action="/cases/{case_no}/do/verification"' not in page.text
    assert case_no in page.text  # among its recent reports

    market = await console(MARKET)
    assert (await market.http.get("/grid")).headers["location"] == "/queue"


async def test_follow_ups_and_overdue_work_when_time_passes(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    demo_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    async with running_api(
        time_skipping_env, task_queue, calendar, demo_county, tmp_path, history_log
    ) as api:
        settled = str((await api.report(GRID_WORKER))["case_no"])  # re-checked after 7 days
        await api.act(
            GRID_WORKER,
            settled,
            "resolve-on-site",
            {"result": "已劝离", "evidence_urls": ["https://evidence.example/after.jpg"]},
        )
        await api.act(COORDINATOR, settled, "feedback", {"rating": "satisfied"})
        unsigned = await dispatched(api)
        await api.wait_projected(settled)
        worker = Console(api.app)
        market = Console(api.app)
        try:
            await worker.sign_in(GRID_WORKER)
            await market.sign_in(MARKET)
            page = await worker.page("/grid")
            assert f'action="/cases/{settled}/do/follow-up"' not in page.text
            assert settled in page.text.split('id="upcoming"')[1]  # planned, not yet due

            await time_skipping_env.sleep(timedelta(days=7, hours=1))
            await api.wait_projected(settled)
            await api.wait_projected(unsigned)
            page = await worker.page("/grid")
            assert f'action="/cases/{settled}/do/follow-up"' in page.text
            recorded = await worker.post(
                f"/cases/{settled}/do/follow-up",
                {"outcome": "still_resolved", "notes": "未再发现", "next": "/grid#recheck"},
            )
            assert (recorded.status_code, recorded.url.path) == (200, "/grid")
            case = await api.case(COORDINATOR, settled)
            assert (case["status"], case["follow_ups"][0]["outcome"]) == (
                "follow_up_scheduled",
                "still_resolved",
            )
            # Nobody signed for the other case: it is overdue, and still awaits sign-for.
            assert await tabs_of(market, unsigned) == {"sign", "overdue"}
        finally:
            await worker.close()
            await market.close()
            for case_no in (settled, unsigned):
                handle = api.env.client.get_workflow_handle(f"case-{case_no}")
                await handle.terminate("test finished")


# ---- the auditor and the command centre -----------------------------------------------------


async def test_an_auditor_finds_a_case_in_its_review_queue(
    api: ApiDriver, console: OpenConsole
) -> None:
    # Two returns (退单) trigger a post-hoc review once the case closes.
    case_no = str((await api.report(GRID_WORKER, category="public_health"))["case_no"])
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": HEALTH})
    await api.act(HEALTH, case_no, "sign")
    await api.act(HEALTH, case_no, "complete", {"result": "已消杀"})
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})
    await api.wait_projected(case_no)

    auditor = await console(AUDITOR)
    assert f'href="/cases/{case_no}' in (await auditor.page("/audit")).text
    assert case_no in (await auditor.page("/audit?trigger=repeated_returns")).text
    assert case_no not in (await auditor.page("/audit?trigger=recurrence")).text

    reviewed = await auditor.post(
        f"/cases/{case_no}/do/review",
        {"root_cause": "职责边界不清", "outcome": "notice", "next": "/audit"},
    )
    assert (reviewed.status_code, reviewed.url.path) == (200, "/audit")
    await api.wait_projected(case_no)
    page = (await auditor.page("/audit")).text
    waiting, recorded = page.split("<h2>", 2)[1:]
    assert case_no not in waiting
    assert case_no in recorded
    assert "职责边界不清" in recorded

    worker = await console(GRID_WORKER)
    assert (await worker.http.get("/audit")).headers["location"] == "/grid"


async def test_the_command_centre_sees_its_consultations(
    api: ApiDriver, console: OpenConsole
) -> None:
    waiting = str((await api.report(GRID_WORKER))["case_no"])
    consulted = str((await api.report(GRID_WORKER))["case_no"])
    await api.act(
        COORDINATOR,
        consulted,
        "consultation",
        {"participants": [MARKET, ENFORCEMENT], "agenda": "占道经营联合整治"},
    )
    await api.wait_projected(waiting)
    await api.wait_projected(consulted)
    coordinator = await console(COORDINATOR, "en")
    page = (await coordinator.page("/consultations")).text
    being_consulted, awaiting = page.split('id="rerouting"', 1)
    assert consulted in being_consulted
    assert "占道经营联合整治" in being_consulted
    assert "County Market Supervision" in being_consulted  # participants by name
    assert waiting in awaiting
    assert waiting not in being_consulted

    market = await console(MARKET)
    assert (await market.http.get("/consultations")).headers["location"] == "/queue"


# ---- the public pages -------------------------------------------------------------------------


async def test_the_public_page_shows_progress_without_personal_data_and_takes_a_rating(
    api: ApiDriver,
) -> None:
    description = f"公开页测试 {api.key()[:8]}：占道经营"
    reported = await api.report(GRID_WORKER, description=description, address="罗星街道秘密路 7 号")
    case_no, code = str(reported["case_no"]), str(reported["lookup_code"])
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, case_no, "sign")
    await api.act(MARKET, case_no, "complete", {"result": "已清理，恢复通行"})
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    await api.wait_projected(case_no)

    resident = Console(api.app)
    try:
        page = (await resident.page(f"/track/{code}")).text
        for personal in ("张三", "13800000000", description, "秘密路", "褚雅琴"):
            assert personal not in page
        assert "占道经营" in page
        assert "已清理，恢复通行" in page
        assert f'action="/track/{code}/rating"' in page
        # Codes are forgiving: lower case, a dash.
        forgiving = f"{code[:4].lower()}-{code[4:].lower()}"
        assert "已清理，恢复通行" in (await resident.page(f"/track/{forgiving}")).text
        found = await resident.http.get(f"/track?code={forgiving}")
        assert found.headers["location"] == f"/track/{code}"
        await resident.page("/track/ZZZZZZZZ", expect=404)

        forged = await resident.post(f"/track/{code}/rating", {"rating": "satisfied"}, csrf=False)
        assert forged.status_code == 403
        assert (await api.case(COORDINATOR, case_no))["status"] == "awaiting_feedback"

        await resident.page(f"/track/{code}")
        rated = await resident.post(
            f"/track/{code}/rating",
            {"rating": "satisfied", "comment": "很快", "idempotency_key": api.key()},
        )
        assert (rated.status_code, rated.url.path) == (200, f"/track/{code}")
        assert f'action="/track/{code}/rating"' not in rated.text
        case = await api.case(COORDINATOR, case_no)
        assert case["rating"] == "satisfied"
        assert case["status"] != "awaiting_feedback"
    finally:
        await resident.close()


async def test_a_resident_reports_and_follows_the_case_by_its_code(api: ApiDriver) -> None:
    with api.sessions() as session:
        grid = session.get(GridRecord, MY_GRID)
        assert grid is not None
        town = grid.town_code
    resident = Console(api.app, "en")
    try:
        form = (await resident.page("/report")).text
        assert f'<option value="{MY_GRID}"' in form
        grids = (await resident.page(f"/report/grids?town={town}")).text
        assert f'<option value="{MY_GRID}"' in grids
        assert "weitang_" not in grids

        refused = await resident.post(
            "/report", {"category": "occupy_road_business", "grid": MY_GRID}
        )
        assert (refused.status_code, 'role="alert"' in refused.text) == (422, True)

        answer = await resident.post(
            "/report",
            {
                "category": "occupy_road_business",
                "town": town,
                "grid": MY_GRID,
                "address": "新洲社区 9 幢",
                "description": "居民上报：楼下占道经营",
                "reporter_phone": "13900000000",
                "idempotency_key": api.key(),
            },
        )
        assert answer.status_code == 200
        code = LOOKUP_CODE.search(answer.text)
        number = CASE_NUMBER.search(answer.text)
        assert code is not None
        assert number is not None
        api.noted(number.group(0))
        case = await api.case(COORDINATOR, number.group(0))
        assert (case["source"], case["reporter"]["phone"]) == ("resident", "13900000000")
        await api.wait_projected(number.group(0))
        page = (await resident.page(f"/track/{code.group(1)}")).text
        assert "Street vending / occupying the road" in page
        assert "13900000000" not in page
        assert "楼下占道经营" not in page
    finally:
        await resident.close()
