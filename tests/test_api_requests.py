"""Requests as clients really send them: retried with the same Idempotency-Key, malformed, in
either language, paged through; and the OpenAPI document that describes them."""

from typing import Any

from sqlalchemy import func, select

from api.app import create_api
from store.models import CaseEventRecord, CaseRecord
from tests.api_driver import COORDINATOR, GRID_WORKER, MARKET, MY_GRID, ApiDriver, new_case
from tests.conftest import api_settings


async def test_the_same_idempotency_key_reports_once(api: ApiDriver) -> None:
    key, body = api.key(), new_case(description="同一事项，网络重试")
    first = await api.call("POST", "/api/v1/cases", GRID_WORKER, json=body, key=key)
    second = await api.call("POST", "/api/v1/cases", GRID_WORKER, json=body, key=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["case_no"] == second.json()["case_no"]
    assert first.json()["lookup_code"] == second.json()["lookup_code"]
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    api.noted(first.json()["case_no"])
    await api.wait_projected(first.json()["case_no"])
    with api.sessions() as session:
        same_text = select(func.count()).where(CaseRecord.description == "同一事项，网络重试")
        assert session.scalar(same_text) == 1

    other = await api.call(
        "POST", "/api/v1/cases", GRID_WORKER, json=new_case(description="另一件事"), key=key
    )
    assert (other.status_code, other.json()["error"]["type"]) == (409, "idempotency_key_reused")


async def test_the_same_idempotency_key_acts_once(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    key = api.key()
    note = {"note": "已电话联系店主"}
    first = await api.act(MARKET, case_no, "notes", note, key=key)
    second = await api.act(MARKET, case_no, "notes", note, key=key)
    assert first == second
    await api.wait_projected(case_no)
    with api.sessions() as session:
        notes = select(func.count()).where(
            CaseEventRecord.case_no == case_no, CaseEventRecord.type == "progress_noted"
        )
        assert session.scalar(notes) == 1


async def test_errors_come_in_one_shape_and_the_callers_language(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    path = f"/api/v1/cases/{case_no}/verification"
    chinese = await api.call("POST", path, GRID_WORKER, json={"passed": True})
    english = await api.call("POST", path, GRID_WORKER, json={"passed": True}, language="en-GB")
    assert chinese.status_code == english.status_code == 409
    assert chinese.json()["error"]["type"] == english.json()["error"]["type"] == "wrong_stage"
    assert "不能执行" in chinese.json()["error"]["message"]
    assert "is not possible now" in english.json()["error"]["message"]

    cases: list[tuple[str, str, str, Any, int, str]] = [
        (GRID_WORKER, "POST", path, {"passed": "perhaps"}, 422, "validation_error"),
        (GRID_WORKER, "POST", path, {"passed": True, "surprise": 1}, 422, "validation_error"),
        (COORDINATOR, "POST", f"/api/v1/cases/{case_no}/dispatch", None, 422, "validation_error"),
        (MARKET, "POST", "/api/v1/cases/NO-SUCH-CASE/sign", None, 404, "case_not_found"),
        (COORDINATOR, "GET", "/api/v1/cases/NO-SUCH-CASE", None, 404, "case_not_found"),
        (COORDINATOR, "GET", "/api/v1/cases/bad%20number", None, 422, "validation_error"),
        (GRID_WORKER, "POST", "/api/v1/cases", new_case(category="nope"), 422, "unknown_category"),
        (COORDINATOR, "POST", "/api/v1/cases", new_case(grid="nope"), 422, "unknown_grid"),
        (GRID_WORKER, "POST", "/api/v1/cases", {"grid": MY_GRID}, 422, "validation_error"),
        (COORDINATOR, "GET", "/api/v1/cases?cursor=not-a-cursor", None, 422, "validation_error"),
        (COORDINATOR, "GET", "/api/v1/cases?reported_from=2026-11-01T08:00", None, 422,
         "validation_error"),
        (COORDINATOR, "GET", "/api/v1/nothing-here", None, 404, "not_found"),
        (COORDINATOR, "DELETE", "/api/v1/cases", None, 405, "method_not_allowed"),
    ]  # fmt: skip
    for user, method, url, body, status, error_type in cases:
        response = await api.call(method, url, user, json=body)
        assert response.status_code == status, (method, url, response.text)
        error = response.json()["error"]
        assert (error["type"], bool(error["message"])) == (error_type, True), (url, error)

    wrong = await api.http.post(
        "/api/v1/auth/token", data={"username": COORDINATOR, "password": "guess"}
    )
    assert (wrong.status_code, wrong.json()["error"]["type"]) == (401, "invalid_credentials")


async def test_an_archived_case_refuses_further_actions(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER, category="public_health"))["case_no"]
    await api.act(
        GRID_WORKER,
        case_no,
        "resolve-on-site",
        {"result": "已处置", "evidence_urls": ["https://evidence.example/after.jpg"]},
    )
    await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})
    case = await api.case(COORDINATOR, case_no)
    if case["stage"] == "review":  # drawn by sampling
        await api.act("auditor", case_no, "review", {"root_cause": "抽查", "outcome": "none"})
    handle = api.env.client.get_workflow_handle(f"case-{case_no}")
    await handle.result()
    refused = await api.call(
        "POST", f"/api/v1/cases/{case_no}/escalate", COORDINATOR, json={"reason": "x"}
    )
    assert (refused.status_code, refused.json()["error"]["type"]) == (409, "case_archived")


async def test_the_case_list_filters_and_pages(api: ApiDriver) -> None:
    text = f"分页测试-{api.key()[:6]}"
    numbers = [
        (await api.report(GRID_WORKER, description=f"{text} 第{n}件", urgency=u))["case_no"]
        for n, u in enumerate(("normal", "major", "normal", "critical", "normal"))
    ]
    for case_no in numbers:
        await api.wait_projected(case_no)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"text": text, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.call("GET", "/api/v1/cases", COORDINATOR, params=params)).json()
        seen += [c["case_no"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(numbers))  # newest first, each exactly once

    normal = await api.call(
        "GET", "/api/v1/cases", COORDINATOR, params={"text": text, "urgency": "normal"}
    )
    assert {c["case_no"] for c in normal.json()["items"]} == {numbers[0], numbers[2], numbers[4]}
    in_grid = await api.call(
        "GET",
        "/api/v1/cases",
        COORDINATOR,
        params={"text": text, "grid": MY_GRID, "stage": "report"},
    )
    assert len(in_grid.json()["items"]) == 5


def test_the_openapi_document_is_complete(tmp_path: Any) -> None:
    document = create_api(api_settings("unused", tmp_path), None, None).openapi()
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 30
    assert all(path.startswith("/v1/") for path, _, _ in operations)  # mounted at /api
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        ok = [code for code in operation["responses"] if code.startswith("2")]
        assert ok, where
        for code in ok:
            content = operation["responses"][code].get("content", {})
            # JSON with its schema, or a declared file type (the .xlsx and .csv exports).
            assert content, where
            if "application/json" in content:
                assert "schema" in content["application/json"], where
        body = operation.get("requestBody")
        if body is not None:
            media = body["content"].get("application/json") or body["content"].get(
                "application/x-www-form-urlencoded"
            )
            schema = media["schema"]
            has_example = (
                "examples" in media or "example" in media or _schema_has_examples(document, schema)
            )
            assert has_example or path == "/v1/auth/token", where


def _schema_has_examples(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    if "examples" in schema or "example" in schema:
        return True
    for option in schema.get("anyOf", []):
        if _schema_has_examples(document, option):
            return True
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return _schema_has_examples(document, document["components"]["schemas"][name])
    return False
