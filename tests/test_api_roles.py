"""Each role walks its part of the loop over HTTP, against a real Temporal server."""

from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from gridloop import tokens
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    ENFORCEMENT,
    GRID_WORKER,
    HEALTH,
    MARKET,
    MY_GRID,
    OTHER_GRID,
    ApiDriver,
    new_case,
)
from tests.conftest import running_api
from tests.histories import HistoryLog

POLICE, TRANSPORT = "public_security", "transport"


async def test_coordinator_triages_consults_and_steers_a_case(api: ApiDriver) -> None:
    # A 12345 hotline call, reported by the command centre in any grid.
    reported = await api.report(
        COORDINATOR, grid=OTHER_GRID, category="illegal_parking", source="hotline_12345"
    )
    case_no = reported["case_no"]
    await api.wait_projected(case_no)
    page = await api.call(
        "GET", "/api/v1/cases", COORDINATOR, params={"grid": OTHER_GRID, "stage": "report"}
    )
    assert case_no in [c["case_no"] for c in page.json()["items"]]

    await api.act(COORDINATOR, case_no, "consultation", {"participants": [POLICE, ENFORCEMENT]})
    await api.act(COORDINATOR, case_no, "escalate", {"reason": "涉及多个部门"})
    await api.act(
        COORDINATOR,
        case_no,
        "consultation/decision",
        {
            "lead_department": POLICE,
            "co_departments": [ENFORCEMENT],
            "deadlines": [{"department": POLICE, "handling_days": 5}],
            "participants": [POLICE, ENFORCEMENT, "town_command_office"],
            "minutes": "公安牵头，综合执法配合清理",
        },
    )
    case = await api.case(COORDINATOR, case_no)
    assert (case["stage"], case["tier"]) == ("handle", "town")
    assert case["reporter"] == {"name": "张三", "phone": "13800000000"}

    # The lead asks for more time; the coordinator grants it.
    await api.act(POLICE, case_no, "sign")
    await api.act(POLICE, case_no, "extension", {"extra_days": 2, "reason": "车主在外地"})
    await api.act(
        COORDINATOR, case_no, "extension/decision", {"department": POLICE, "approve": True}
    )
    # Suspended and resumed; 综合执法 is urged, then the work goes to 交通运输 and is withdrawn.
    await api.act(COORDINATOR, case_no, "suspend", {"reason": "等待车辆鉴定"})
    assert (await api.case(COORDINATOR, case_no))["flags"]["suspended"] is True
    await api.act(COORDINATOR, case_no, "resume")
    urged = await api.call(
        "POST", f"/api/v1/cases/{case_no}/urge", COORDINATOR, json={"department": ENFORCEMENT}
    )
    assert urged.status_code == 202, urged.text
    await api.act(
        COORDINATOR,
        case_no,
        "reassign",
        {"department": ENFORCEMENT, "to_department": TRANSPORT, "reason": "属交通职责"},
    )
    await api.act(COORDINATOR, case_no, "withdraw", {"department": TRANSPORT, "reason": "无需配合"})

    await api.act(POLICE, case_no, "complete", {"result": "已拖移违停车辆"})
    await api.act(COORDINATOR, case_no, "verification", {"passed": True})
    await api.act(
        COORDINATOR, case_no, "feedback", {"rating": "basically_satisfied", "channel": "callback"}
    )
    case = await api.case(COORDINATOR, case_no)
    assert case["stage"] == "follow_up"  # 违章停车 is re-checked after 7 and 30 days
    police = next(a for a in case["assignments"] if a["department"] == POLICE)
    assert police["extensions"][0]["approved"] is True
    types = {e["type"] for e in await api.events(COORDINATOR, case_no)}
    assert {"escalated", "extension_approved", "suspended", "resumed", "urged"} <= types
    assert {"reassigned", "withdrawn", "feedback_rated", "follow_up_scheduled"} <= types


async def test_a_department_sees_and_handles_only_its_own_work(api: ApiDriver) -> None:
    mine = (await api.report(GRID_WORKER))["case_no"]
    theirs = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, mine, "dispatch", {"lead_department": MARKET})
    await api.act(COORDINATOR, theirs, "dispatch", {"lead_department": HEALTH})
    await api.wait_projected(theirs)

    listed = await api.call("GET", "/api/v1/cases", MARKET, params={"limit": 200})
    numbers = [c["case_no"] for c in listed.json()["items"]]
    assert mine in numbers
    assert theirs not in numbers
    assert (await api.call("GET", f"/api/v1/cases/{theirs}", MARKET)).status_code == 404
    refused = await api.call("POST", f"/api/v1/cases/{theirs}/sign", MARKET)
    assert (refused.status_code, refused.json()["error"]["type"]) == (409, "not_assigned")

    await api.act(MARKET, mine, "sign")
    await api.act(MARKET, mine, "notes", {"note": "已约谈店主"})
    await api.act(MARKET, mine, "extension", {"extra_days": 1, "reason": "等待整改"})
    await api.act(MARKET, mine, "complete", {"result": "店主已整改"})
    assert (await api.case(MARKET, mine))["status"] == "awaiting_verification"

    # 卫健 sends back work that is not its own (退单).
    await api.act(HEALTH, theirs, "return", {"reason": "非本部门职责"})
    assert (await api.case(HEALTH, theirs))["status"] == "awaiting_rerouting"


async def test_a_department_system_uses_a_revocable_api_token(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    with api.sessions.begin() as session:
        issued = tokens.create_token(session, MARKET, f"对接系统-{api.key()[:6]}")

    signed = await api.call("POST", f"/api/v1/cases/{case_no}/sign", token=issued.token)
    assert signed.status_code == 200, signed.text
    event = (await api.events(COORDINATOR, case_no))[-1]
    assert (event["type"], event["actor"]["department"]) == ("signed", MARKET)

    with api.sessions.begin() as session:
        assert tokens.revoke_token(session, MARKET, issued.name)
    refused = await api.call("GET", "/api/v1/cases", token=issued.token)
    assert (refused.status_code, refused.json()["error"]["type"]) == (401, "not_authenticated")


async def test_a_grid_worker_reports_resolves_and_verifies_in_its_grids(api: ApiDriver) -> None:
    elsewhere = await api.call("POST", "/api/v1/cases", GRID_WORKER, json=new_case(grid=OTHER_GRID))
    assert (elsewhere.status_code, elsewhere.json()["error"]["type"]) == (403, "grid_not_yours")

    small = (await api.report(GRID_WORKER, description="井盖松动"))["case_no"]
    answer = await api.act(
        GRID_WORKER,
        small,
        "resolve-on-site",
        {"result": "已现场固定井盖", "evidence_urls": ["https://evidence.example/fixed.jpg"]},
    )
    assert answer["status"] == "awaiting_feedback"

    handled = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, handled, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, handled, "sign")
    await api.act(ENFORCEMENT, handled, "complete", {"result": "已清理"})
    await api.act(GRID_WORKER, handled, "verification", {"passed": False, "notes": "仍有堆放"})
    case = await api.case(GRID_WORKER, handled)
    assert [r["reason"] for r in case["rounds"]] == ["dispatch", "verification_failed"]

    other = (await api.report(COORDINATOR, grid=OTHER_GRID))["case_no"]
    refused = await api.call(
        "POST",
        f"/api/v1/cases/{other}/resolve-on-site",
        GRID_WORKER,
        json={"result": "x", "evidence_urls": ["https://e.example/x.jpg"]},
    )
    assert (refused.status_code, refused.json()["error"]["type"]) == (403, "grid_not_yours")


async def test_a_grid_worker_records_a_follow_up_when_it_falls_due(
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
        reported = await api.report(GRID_WORKER)  # 占道经营: re-checked after 7, 30, 90 days
        case_no = reported["case_no"]
        await api.act(
            GRID_WORKER,
            case_no,
            "resolve-on-site",
            {"result": "已劝离", "evidence_urls": ["https://evidence.example/after.jpg"]},
        )
        await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})
        early = await api.call(
            "POST",
            f"/api/v1/cases/{case_no}/follow-up",
            GRID_WORKER,
            json={"outcome": "still_resolved"},
        )
        assert (early.status_code, early.json()["error"]["type"]) == (409, "follow_up_not_due")

        await time_skipping_env.sleep(timedelta(days=7, hours=1))
        answer = await api.act(
            GRID_WORKER, case_no, "follow-up", {"outcome": "recurred", "notes": "又有堆放"}
        )
        assert answer["status"] == "awaiting_triage"  # settled on the spot: back to triage
        case = await api.case(COORDINATOR, case_no)
        assert case["recurrences"] == 1
        terminate = api.env.client.get_workflow_handle(f"case-{case_no}")
        await terminate.terminate("test finished")


async def test_an_auditor_reads_everything_and_records_reviews(api: ApiDriver) -> None:
    # Two returns (退单) trigger a post-hoc review once the case closes.
    case_no = (await api.report(GRID_WORKER, category="public_health"))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": HEALTH})
    await api.act(HEALTH, case_no, "sign")
    await api.act(HEALTH, case_no, "complete", {"result": "已消杀"})
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})

    case = await api.case(AUDITOR, case_no)
    assert case["stage"] == "review"
    assert "repeated_returns" in case["review"]["triggers"]
    assert case["reporter"] is None  # personal data is for the coordinator only
    refused = await api.call(
        "POST", f"/api/v1/cases/{case_no}/dispatch", AUDITOR, json={"lead_department": MARKET}
    )
    assert (refused.status_code, refused.json()["error"]["type"]) == (403, "not_permitted")

    await api.act(
        AUDITOR,
        case_no,
        "review",
        {
            "root_cause": "派单不准确，两次退单",
            "responsible_departments": ["town_command_office"],
            "outcome": "notice",
        },
    )
    case = await api.case(AUDITOR, case_no)
    assert (case["stage"], case["review"]["outcome"]) == ("archived", "notice")
    await api.wait_projected(case_no)
    listed = await api.call("GET", "/api/v1/cases", AUDITOR, params={"text": case_no})
    assert [c["case_no"] for c in listed.json()["items"]] == [case_no]


async def test_a_resident_reports_follows_and_rates_without_an_account(api: ApiDriver) -> None:
    response = await api.call(
        "POST",
        "/api/v1/public/cases",
        json=new_case(grid=MY_GRID, reporter_name="李四", reporter_phone="13900000000"),
    )
    assert response.status_code == 201, response.text
    reported = response.json()
    api.noted(reported["case_no"])
    await api.wait_projected(reported["case_no"])

    page = await api.call("GET", f"/api/v1/public/cases/{reported['lookup_code'].lower()}")
    assert page.status_code == 200, page.text
    text = page.text
    for personal in ("李四", "13900000000", "沿街店铺占道经营", GRID_WORKER):
        assert personal not in text
    assert page.json()["category_name"] == "占道经营"

    early = await api.call(
        "POST",
        f"/api/v1/public/cases/{reported['lookup_code']}/feedback",
        json={"rating": "satisfied"},
        language="en",
    )
    assert early.status_code == 409
    assert early.json()["error"]["message"].startswith("The case is not awaiting feedback")

    await api.act(
        GRID_WORKER,
        reported["case_no"],
        "resolve-on-site",
        {"result": "已劝离", "evidence_urls": ["https://evidence.example/after.jpg"]},
    )
    await api.wait_projected(reported["case_no"])
    page = await api.call("GET", f"/api/v1/public/cases/{reported['lookup_code']}")
    assert (page.json()["awaiting_feedback"], page.json()["reply"]) == (True, "已劝离")
    rated = await api.call(
        "POST",
        f"/api/v1/public/cases/{reported['lookup_code']}/feedback",
        json={"rating": "dissatisfied", "comment": "还会再摆"},
    )
    assert rated.json()["status"] == "awaiting_triage"  # re-handling, back to the command centre

    missing = await api.call("GET", "/api/v1/public/cases/ZZZZZZZZ")
    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "lookup_code_not_found")
