"""Abuse of the API on the real stack (dev server and a worker): a burst of reports larger than
the server admits at once, malformed and hostile input, and schemathesis against the OpenAPI
document. What is refused is refused cleanly, with a machine-readable error type and nothing
written; what is accepted is accepted once."""

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from gridloop import intake
from gridloop.http import create_app
from gridloop.settings import Settings
from store.models import CaseRecord
from tests.api_driver import (
    COORDINATOR,
    GRID_WORKER,
    MARKET,
    OTHER_GRID,
    OTHER_GRID_WORKER,
    TEST_SECRET_KEY,
    ApiDriver,
    new_case,
)
from tests.console_driver import Console
from tests.histories import HistoryLog
from tests.support import make_worker
from workflows.case import workflow_id

pytestmark = [pytest.mark.faults, pytest.mark.devserver]

BURST = 1000
# Low, so that a burst of a thousand certainly meets the bound.
BURST_INTAKE_CONCURRENCY = 8
# Reporters of the burst: (user, grid they may report in).
REPORTERS = [
    (GRID_WORKER, "luoxing_xinzhou_g02"),
    (OTHER_GRID_WORKER, OTHER_GRID),
    (COORDINATOR, "luoxing_xinzhou_g03"),
]


@pytest_asyncio.fixture
async def small_intake(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> AsyncIterator[ApiDriver]:
    """The API as the `api` fixture serves it, but admitting only a few reports at once, on a
    county of its own: a thousand open cases would crowd other tests' pages."""
    settings = Settings(
        task_queue=task_queue,
        data_dir=tmp_path,
        secret_key=TEST_SECRET_KEY,
        intake_concurrency=BURST_INTAKE_CONCURRENCY,
    )
    app = create_app(settings, dev_env.client, fresh_county)
    transport = httpx.ASGITransport(app=app)
    async with (
        make_worker(dev_env.client, task_queue, calendar, fresh_county),
        httpx.AsyncClient(
            transport=transport, base_url="http://gridloop.test", timeout=120
        ) as http,
    ):
        yield ApiDriver(http, fresh_county, dev_env, history_log, app)


async def _exists(env: WorkflowEnvironment, case_no: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id(case_no)).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _rows_like(sessions: sessionmaker[Session], marker: str) -> int:
    with sessions() as session:
        count = session.scalar(select(func.count()).where(CaseRecord.description.contains(marker)))
    return int(count or 0)


@pytest.mark.timeout(900)
async def test_a_burst_of_reports_is_each_accepted_once_or_refused_cleanly(
    small_intake: ApiDriver, task_queue: str
) -> None:
    api = small_intake
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    for user, _ in REPORTERS:
        await api.token(user)
    refusals: list[httpx.Response] = []

    async def client(number: int) -> tuple[str, str, dict[str, Any]]:
        user, grid = REPORTERS[number % len(REPORTERS)]
        key = f"{marker}-{number}"
        body = new_case(grid=grid, description=f"{marker} 第{number}件")
        engine_refused = False
        while True:
            response = await api.call("POST", "/api/v1/cases", user, json=body, key=key)
            if response.status_code not in (429, 503):
                break
            refusals.append(response)
            engine_refused |= response.json()["error"]["type"] == "temporal_unavailable"
            # Retry-After says seconds; a client this eager still must not be double-counted.
            await asyncio.sleep(random.uniform(0.01, 0.2))
        assert response.status_code in (200, 201), response.text
        # A refusal by the intake bound left nothing behind: the accepted attempt is the one
        # that creates the case. (Temporal timing out may leave a started workflow, which the
        # retry then finds: that is what the key is for.)
        if not engine_refused:
            assert response.json()["created"] is True
        return user, key, response.json()

    accepted = await asyncio.gather(*(client(n) for n in range(BURST)))

    kinds = [refused.json()["error"]["type"] for refused in refusals]
    assert "intake_busy" in kinds, "the burst never met the intake bound"
    assert set(kinds) <= {"intake_busy", "temporal_unavailable"}
    for refused in refusals:
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
    case_nos = {answer["case_no"] for _, _, answer in accepted}
    assert len(case_nos) == BURST

    # A retry with the same key, after the fact, finds the same case and starts nothing.
    for user, key, answer in accepted[:: BURST // 50]:
        body = new_case(
            grid=dict(REPORTERS)[user], description=f"{marker} 第{key.rsplit('-', 1)[1]}件"
        )
        again = await api.call("POST", "/api/v1/cases", user, json=body, key=key)
        assert again.status_code == 200, again.text  # found from the memo: no query
        assert again.json() == answer | {"created": False}

    # Never half-written: exactly one workflow per accepted report on this test's task queue,
    # and a read-model row for each of them, and for nothing else.
    query = f"TaskQueue = '{task_queue}'"
    workflows: set[str] = set()
    for _ in range(600):
        workflows = {w.id async for w in api.env.client.list_workflows(query)}
        if len(workflows) >= BURST and _rows_like(api.sessions, marker) >= BURST:
            break
        await asyncio.sleep(0.5)
    assert workflows == {workflow_id(case_no) for case_no in case_nos}
    with api.sessions() as session:
        rows = set(
            session.scalars(
                select(CaseRecord.case_no).where(CaseRecord.description.contains(marker))
            )
        )
    assert rows == case_nos


# ---- bad input -----------------------------------------------------------------------------

HOSTILE = {
    "script": "<script>alert('gridloop')</script>",
    "image": '<img src=x onerror="alert(1)">',
    "sql": "'; DROP TABLE cases; --",
    "sql_or": "x' OR '1'='1",
}


def body(**fields: Any) -> bytes:
    """A report's JSON, valid but for `fields`."""
    return json.dumps(new_case(**fields), ensure_ascii=False).encode()


INVALID = "validation_error"


# (what, body bytes, expected status, expected error type, expected detail type or None)
BAD_REPORTS: list[tuple[str, bytes, int, str, str | None]] = [
    ("oversized body", body(description="长" * 600_000), 413, "request_too_large", None),
    ("oversized field", body(description="长" * 4001), 422, INVALID, "string_too_long"),
    ("oversized address", body(address="x" * 301), 422, INVALID, "string_too_long"),
    ("too many evidence urls", body(evidence_urls=["u"] * 21), 422, INVALID, "too_long"),
    ("invalid UTF-8", body(description="@@").replace(b"@@", b"\xff\xfe\xc3"), 400, INVALID, None),
    ("not JSON", b"category=x&grid=y", 422, INVALID, None),
    ("NUL", body(description="a\x00b"), 422, INVALID, "control_characters"),
    ("escape sequence", body(address="\x1b[31mred"), 422, INVALID, "control_characters"),
    ("lone surrogate", body().replace("沿街".encode(), b"\\ud800"), 422, INVALID, "string_unicode"),
    ("control in evidence", body(evidence_urls=["a\x07"]), 422, INVALID, "control_characters"),
    (
        "phone with markup",
        body(reporter_phone="<b>138</b>"),
        422,
        INVALID,
        "string_pattern_mismatch",
    ),
    ("category a number", body(category=123), 422, INVALID, "string_type"),
    ("latitude a word", body(latitude="north"), 422, INVALID, "float_parsing"),
    ("latitude off the globe", body(latitude=91), 422, INVALID, "less_than_equal"),
    ("urgency unknown", body(urgency="apocalyptic"), 422, INVALID, "enum"),
    ("evidence a string", body(evidence_urls="http://x"), 422, INVALID, "tuple_type"),
    ("unknown field", body(reporter_id_card="330421199001011234"), 422, INVALID, "extra_forbidden"),
    ("body a list", b"[]", 422, INVALID, None),
    ("body null", b"null", 422, INVALID, None),
    ("unknown category", body(category="'; DROP TABLE cases; --"), 422, "unknown_category", None),
    ("unknown grid", body(grid="<script>x</script>"), 422, "unknown_grid", None),
]


async def test_bad_reports_are_refused_with_a_type_and_leave_nothing(api: ApiDriver) -> None:
    marker = f"bad-{uuid.uuid4().hex[:8]}"
    token = await api.token(COORDINATOR)
    for what, body, status, error_type, detail_type in BAD_REPORTS:
        key = f"{marker}-{what}"
        response = await api.http.post(
            "/api/v1/cases",
            content=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        assert response.status_code == status, (what, response.status_code, response.text)
        error = response.json()["error"]
        assert error["type"] == error_type, (what, error)
        assert error["message"], what
        if detail_type is not None:
            assert detail_type in {d["type"] for d in error["details"]}, (what, error)
        # Nothing started: the workflow this key would have made does not exist.
        case_no = f"GL-{intake._derived_code(COORDINATOR, key)}"
        assert not await _exists(api.env, case_no), what
    assert _rows_like(api.sessions, marker) == 0


async def test_bad_action_bodies_and_parameters_are_refused_with_a_type(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    before = (await api.case(COORDINATOR, case_no))["version"]
    cases, act = "/api/v1/cases", f"/api/v1/cases/{case_no}"
    dispatch = f"{act}/dispatch"
    lead = {"lead_department": MARKET}
    unknown = "unknown_department"
    posts: list[tuple[str, str, dict[str, Any], str]] = [
        (COORDINATOR, dispatch, {"lead_department": 12}, INVALID),
        (COORDINATOR, dispatch, lead | {"note": "x" * 5000}, INVALID),
        (COORDINATOR, dispatch, lead | {"note": "a\x00"}, INVALID),
        (COORDINATOR, dispatch, {"lead_department": HOSTILE["sql"]}, unknown),
        (COORDINATOR, dispatch, lead | {"co_departments": ["nobody"]}, unknown),
        (COORDINATOR, f"{act}/escalate", {"reason": ["not", "text"]}, INVALID),
        (COORDINATOR, f"{act}/suspend", {"reason": "\x1b[2J"}, INVALID),
        (COORDINATOR, f"{act}/consultation/decision", lead | {"deadlines": {MARKET: -3}}, INVALID),
    ]
    for user, url, payload, error_type in posts:
        response = await api.call("POST", url, user, json=payload)
        assert response.status_code == 422, (url, payload, response.text)
        assert response.json()["error"]["type"] == error_type, (url, payload, response.text)
    surrogate = await api.http.post(
        f"{act}/notes",
        content=b'{"note": "\\ud800"}',
        headers={
            "Authorization": f"Bearer {await api.token(GRID_WORKER)}",
            "Content-Type": "application/json",
        },
    )
    assert surrogate.status_code == 422, surrogate.text
    assert surrogate.json()["error"]["type"] == INVALID
    # Dates that are not on the calendar, and parameters out of range.
    gets = [
        f"{cases}?reported_from=2026-02-30T08:00:00%2B08:00",
        f"{cases}?reported_from=2026-13-01T08:00:00%2B08:00",
        f"{cases}?reported_to=10000-01-01T00:00:00Z",
        f"{act}/as-of?at=2026-11-31T10:00:00%2B08:00",
        "/api/v1/stats?from=2026-02-29&to=2026-03-01",
        f"{cases}?text={'x' * 101}",
        f"{cases}?limit=100000",
        f"{cases}/GL-%3Cscript%3E",
    ]
    for url in gets:
        response = await api.call("GET", url, COORDINATOR)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["type"] == INVALID, (url, response.text)
    # None of them reached the case.
    assert (await api.case(COORDINATOR, case_no))["version"] == before


async def test_hostile_text_is_stored_as_text_and_rendered_inert(
    api: ApiDriver, console: Any
) -> None:
    description = f"{HOSTILE['script']} {HOSTILE['sql']} {HOSTILE['sql_or']}"
    reported = await api.report(COORDINATOR, description=description, address=HOSTILE["image"])
    case_no = reported["case_no"]
    dispatch = {"lead_department": MARKET, "note": HOSTILE["script"]}
    await api.act(COORDINATOR, case_no, "dispatch", dispatch)
    await api.wait_projected(case_no)

    # Verbatim through the API (SQL never interpreted it) and found by text search.
    detail = await api.case(COORDINATOR, case_no)
    assert (detail["description"], detail["address"]) == (description, HOSTILE["image"])
    found = await api.call("GET", "/api/v1/cases", COORDINATOR, params={"text": HOSTILE["sql"]})
    assert case_no in {item["case_no"] for item in found.json()["items"]}
    with api.sessions() as session:
        assert session.get(CaseRecord, case_no) is not None  # the table is still there

    browser: Console = await console(COORDINATOR)
    for path in (f"/cases/{case_no}", f"/cases?text={case_no}"):
        page = (await browser.page(path)).text
        assert case_no in page
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;alert" in page or "&lt;img src=x" in page, path


# ---- schemathesis --------------------------------------------------------------------------


def _leaves_path(value: object) -> bool:
    text = str(value)
    return "/" in text or "%" in text or text in {".", ".."} or "?" in text or "#" in text


# Small: some seventy operations, each with a few requests of each mode, in about a minute.
MAX_EXAMPLES = 15


async def test_the_openapi_schema_holds_under_generated_requests(api: ApiDriver, site: str) -> None:
    """Every operation of the OpenAPI document, called by schemathesis with a coordinator's
    token and data generated from the schema: no 5xx, and every answer conforms to the schema.

    The app runs in this test's event loop (it holds the Temporal client); schemathesis calls
    it over HTTP from a thread, with its synchronous client.
    """
    token = await api.token(COORDINATOR)
    document = (await api.http.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    statuses: list[int] = []

    def run(operation: Any) -> None:
        # Valid data (it reaches the case engine) and invalid data (it must be refused as 4xx).
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]

        @hypothesis.given(case=st.one_of([operation.as_strategy(mode) for mode in modes]))
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A path parameter with a slash or dot segment makes the client request another
            # path (schemathesis resolves the URL), which is not the operation under test.
            hypothesis.assume(
                not any(_leaves_path(v) for v in (case.path_parameters or {}).values())
            )
            response = case.call_and_validate(
                base_url=f"{site}/api",
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
                timeout=60,
            )
            statuses.append(response.status_code)

        try:
            check()
        except* AssertionError as failed:  # schemathesis' Failure, alone or in a FailureGroup
            failures.append(f"{operation.label}: {failed.exceptions}")

    for operation in operations:
        await asyncio.to_thread(run, operation)
    assert not failures, "\n\n".join(failures)
    # It really called them, and not only to be refused.
    assert len(statuses) > 3 * len(operations)
    assert any(200 <= status < 300 for status in statuses)
    assert any(400 <= status < 500 for status in statuses)
