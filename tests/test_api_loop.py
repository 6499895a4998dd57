"""The whole loop over HTTP: a joint case from report to archive, driven by its users."""

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    ENFORCEMENT,
    GRID_WORKER,
    MARKET,
    ApiDriver,
)
from tests.conftest import running_api
from tests.histories import HistoryLog


async def drive_joint_case_to_archive(api: ApiDriver) -> dict[str, Any]:
    # 网格员 reports an issue found on patrol; 公共卫生 has no follow-up schedule.
    reported = await api.report(
        GRID_WORKER, category="public_health", description="小区垃圾房蚊蝇滋生"
    )
    case_no = reported["case_no"]

    # 指挥室 dispatches it to two departments.
    answer = await api.act(
        COORDINATOR,
        case_no,
        "dispatch",
        {"lead_department": MARKET, "co_departments": [ENFORCEMENT], "note": "联合检查"},
    )
    assert (answer["stage"], answer["status"]) == ("handle", "handling")

    # Each department signs and completes; the lead writes the final reply.
    for department, result in ((ENFORCEMENT, "已配合检查"), (MARKET, "已责令整改并复查")):
        await api.act(department, case_no, "sign")
        await api.act(department, case_no, "complete", {"result": result})
    answer = await api.act(
        MARKET, case_no, "final-reply", {"reply": "经市场监管、综合执法联合检查，已责令整改。"}
    )
    assert answer["status"] == "awaiting_verification"

    # The grid worker verifies on site; the reporter rates on the public page.
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True, "notes": "已整改"})
    await api.wait_projected(case_no)
    public = await api.call("GET", f"/api/v1/public/cases/{reported['lookup_code']}")
    assert public.json()["awaiting_feedback"] is True
    rated = await api.call(
        "POST",
        f"/api/v1/public/cases/{reported['lookup_code']}/feedback",
        json={"rating": "satisfied"},
    )
    assert rated.status_code == 200, rated.text

    case = await api.case(COORDINATOR, case_no)
    if case["stage"] == "review":  # drawn by the category's sampling rate
        await api.act(AUDITOR, case_no, "review", {"root_cause": "抽查：无问题", "outcome": "none"})
        case = await api.case(COORDINATOR, case_no)
    assert case["stage"] == "archived"
    assert case["rating"] == "satisfied"
    return case


async def test_a_joint_case_from_report_to_archive_over_http(api: ApiDriver) -> None:
    case = await drive_joint_case_to_archive(api)
    actors = {e["actor"]["user_id"] for e in await api.events(COORDINATOR, case["case_no"])}
    assert {GRID_WORKER, COORDINATOR, MARKET, ENFORCEMENT} <= actors
    assert any(user.startswith("public:") for user in actors)


@pytest.mark.usefixtures("dev_env")
async def test_the_same_loop_with_the_read_model_on_postgresql(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    demo_county_postgres: sessionmaker[Session],
    tmp_path: Any,
    history_log: HistoryLog,
) -> None:
    async with running_api(
        dev_env, task_queue, calendar, demo_county_postgres, tmp_path, history_log
    ) as api:
        case = await drive_joint_case_to_archive(api)
        row = await api.wait_projected(case["case_no"])
        assert row.stage == "archived"
