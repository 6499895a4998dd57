"""Auditors read Temporal's record of a case: raw history, state as of past moments, replay."""

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from gridloop.replay import replay_cases
from gridloop.replay_cli import run_replay
from gridloop.settings import Settings
from store.models import CaseEventRecord
from tests.api_driver import AUDITOR, COORDINATOR, ENFORCEMENT, GRID_WORKER, MARKET, ApiDriver
from tests.changed_workflow import CaseWorkflowChangedCarelessly
from tests.conftest import running_api
from tests.histories import HistoryLog
from tests.test_api_loop import drive_joint_case_to_archive
from tests.test_web_console import OpenConsole


async def _joint_case_with_moments(api: ApiDriver) -> tuple[str, dict[str, datetime]]:
    """A case dispatched to two departments, with the moments between its steps."""
    case_no = (await api.report(GRID_WORKER, description="夜市摊点占道，油烟扰民"))["case_no"]
    moments = {"reported": datetime.now(UTC)}
    await api.act(
        COORDINATOR,
        case_no,
        "dispatch",
        {"lead_department": MARKET, "co_departments": [ENFORCEMENT]},
    )
    moments["dispatched"] = datetime.now(UTC)
    await api.act(MARKET, case_no, "sign")
    moments["market_signed"] = datetime.now(UTC)
    await api.act(ENFORCEMENT, case_no, "sign")
    await api.act(ENFORCEMENT, case_no, "complete", {"result": "已取缔占道摊点"})
    await api.act(MARKET, case_no, "complete", {"result": "已约谈经营户"})
    await api.act(MARKET, case_no, "final-reply", {"reply": "已联合整治。"})
    moments["replied"] = datetime.now(UTC)
    return case_no, moments


def _assignments(case: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {a["department"]: (a["state"], a["signed_at"] is not None) for a in case["assignments"]}


async def test_the_state_of_a_joint_case_at_three_past_moments(api: ApiDriver) -> None:
    case_no, moments = await _joint_case_with_moments(api)

    async def as_of(moment: datetime) -> dict[str, Any]:
        response = await api.call(
            "GET", f"/api/v1/cases/{case_no}/as-of", AUDITOR, params={"at": moment.isoformat()}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert datetime.fromisoformat(answer["state_at"]) <= moment
        return answer

    dispatched = await as_of(moments["dispatched"])
    assert (dispatched["case"]["stage"], dispatched["case"]["status"]) == ("handle", "handling")
    assert _assignments(dispatched["case"]) == {
        MARKET: ("awaiting_sign", False),
        ENFORCEMENT: ("awaiting_sign", False),
    }
    assert "dispatched" in [e["type"] for e in dispatched["events"]]
    assert "signed" not in [e["type"] for e in dispatched["events"]]
    due = {
        a["department"]: a["handling_clock"]["due_at"] for a in dispatched["case"]["assignments"]
    }

    signed = await as_of(moments["market_signed"])
    assert _assignments(signed["case"]) == {
        MARKET: ("handling", True),
        ENFORCEMENT: ("awaiting_sign", False),
    }
    # Deadlines are those set at dispatch, as the departments saw them then.
    assert {
        a["department"]: a["handling_clock"]["due_at"] for a in signed["case"]["assignments"]
    } == due

    replied = await as_of(moments["replied"])
    assert replied["case"]["status"] == "awaiting_verification"
    assert _assignments(replied["case"]) == {
        MARKET: ("completed", True),
        ENFORCEMENT: ("completed", True),
    }
    assert replied["case"]["reply"] == "已联合整治。"

    # Today's state has moved on from every one of them: what was shown came from history.
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    assert (await api.case(COORDINATOR, case_no))["status"] == "awaiting_feedback"
    assert (await as_of(moments["replied"]))["case"]["status"] == "awaiting_verification"

    before = await api.call(
        "GET",
        f"/api/v1/cases/{case_no}/as-of",
        AUDITOR,
        params={"at": (moments["reported"] - timedelta(hours=1)).isoformat()},
        language="en",
    )
    assert before.status_code == 409
    assert before.json()["error"]["type"] == "case_not_yet_reported"


async def test_raw_history_downloads_in_the_temporal_cli_format(api: ApiDriver) -> None:
    case_no, _ = await _joint_case_with_moments(api)
    runs = await api.call("GET", f"/api/v1/cases/{case_no}/history", AUDITOR)
    assert runs.status_code == 200, runs.text
    # The suite's dev server suggests continuing as new early, so a case has several runs.
    listed = runs.json()
    assert [run["number"] for run in listed] == list(range(1, len(listed) + 1))
    run = listed[0]

    download = await api.call("GET", f"/api/v1/cases/{case_no}/history/{run['run_id']}", AUDITOR)
    assert download.status_code == 200
    assert f'filename="{case_no}.run1.json"' in download.headers["content-disposition"]
    raw = json.loads(download.text)
    assert raw["events"][0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    # The format `temporal workflow show --output json` writes, which the SDK reads back.
    history = WorkflowHistory.from_json(f"case-{case_no}", raw)
    assert len(history.events) == run["events"]

    forbidden = await api.call("GET", f"/api/v1/cases/{case_no}/history", MARKET)
    assert forbidden.status_code == 403
    missing = await api.call("GET", "/api/v1/cases/GL-NOSUCHCASE/history", AUDITOR)
    assert missing.status_code == 404


async def test_replay_proves_the_current_code_reproduces_a_case(api: ApiDriver) -> None:
    case_no, _ = await _joint_case_with_moments(api)
    replayed = await api.call("POST", f"/api/v1/cases/{case_no}/replay", AUDITOR)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["deterministic"] is True
    checked = replayed.json()["runs"]
    assert checked
    assert all(run["deterministic"] for run in checked)
    # Every run that had made decisions by then (the case may continue as new meanwhile).
    runs = (await api.call("GET", f"/api/v1/cases/{case_no}/history", AUDITOR)).json()
    assert {run["run_id"] for run in checked} <= {run["run_id"] for run in runs}
    assert (
        await api.call("POST", f"/api/v1/cases/{case_no}/replay", GRID_WORKER)
    ).status_code == 403


async def test_replay_reports_a_changed_workflow_as_non_deterministic(api: ApiDriver) -> None:
    case_no, _ = await _joint_case_with_moments(api)
    seen: list[str] = []
    summary = await replay_cases(
        api.env.client,
        [case_no, "GL-NOSUCHCASE"],
        workflows=[CaseWorkflowChangedCarelessly],
        progress=lambda case: seen.append(case.case_no),
    )
    assert seen == [case_no, "GL-NOSUCHCASE"]
    changed, missing = summary.cases
    assert not changed.deterministic
    assert changed.runs[0].failure
    assert "nondetermin" in changed.runs[0].failure.lower()
    assert missing.error == "history not found"
    assert summary.failures == [changed, missing]


async def test_gridloop_replay_checks_every_case_closed_in_a_period(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running_api(
        dev_env, task_queue, calendar, fresh_county, tmp_path, history_log
    ) as api:
        closed = await drive_joint_case_to_archive(api)
        still_open, _ = await _joint_case_with_moments(api)
        settings = Settings(
            temporal_address=dev_env.client.service_client.config.target_host,
            database_url=str(fresh_county.kw["bind"].url),
            data_dir=tmp_path,
        )
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        period = argparse.Namespace(case_numbers=[], closed_from=today, closed_to=today)
        assert await run_replay(settings, period) == 0
        report = capsys.readouterr().out
        assert "replayed 1 cases" in report
        assert "0 failed" in report

        named = argparse.Namespace(
            case_numbers=[still_open, "GL-NOSUCHCASE"], closed_from=None, closed_to=None
        )
        assert await run_replay(settings, named) == 1
        report = capsys.readouterr().out
        assert "NOT DETERMINISTIC  GL-NOSUCHCASE  history not found" in report
        assert still_open not in report.replace("replayed", "")
        assert closed["case_no"] not in report


async def test_an_auditor_sees_the_case_then_and_its_replay_in_the_console(
    api: ApiDriver, console: OpenConsole
) -> None:
    case_no, moments = await _joint_case_with_moments(api)
    auditor = await console(AUDITOR, "en")
    history = await auditor.page(f"/cases/{case_no}/history")
    assert f"/cases/{case_no}/history/" in history.text
    run_link = re.search(rf"/cases/{case_no}/history/([0-9a-f-]{{36}})\.json", history.text)
    assert run_link is not None
    download = await auditor.page(run_link.group(0))
    assert json.loads(download.text)["events"][0]["eventId"] == "1"
    assert "Intact: all" in history.text

    # Someone edits the timeline in the database; the page says where, until it is put back.
    await api.wait_projected(case_no)
    with api.sessions.begin() as session:
        second = session.get(CaseEventRecord, (case_no, 2))
        assert second is not None
        original = dict(second.data)
        second.data = {**original, "note": "派单给了别的部门"}
    tampered = await auditor.page(f"/cases/{case_no}/history")
    assert "Broken at event 2: hash_mismatch" in tampered.text
    with api.sessions.begin() as session:
        restored = session.get(CaseEventRecord, (case_no, 2))
        assert restored is not None
        restored.data = original

    local = moments["market_signed"].astimezone(ZoneInfo("Asia/Shanghai"))
    then = await auditor.page(
        f"/cases/{case_no}/history?at={local.replace(tzinfo=None).isoformat()}"
    )
    assert "rebuilt by replaying its Temporal history" in then.text
    assert "Read-only" in then.text
    assert 'id="actions"' not in then.text or "Nothing for you to do" in then.text
    assert then.text.count("Awaiting sign-for") == 1  # 综合执法 had not signed yet
    assert "Final reply" not in then.text.split("Timeline")[1]

    replayed = await auditor.page(f"/cases/{case_no}/history?replay=1")
    assert "Deterministic: the current code reproduces all" in replayed.text

    market = await console(MARKET)
    refused = await market.http.get(f"/cases/{case_no}/history")
    assert refused.status_code == 403
