"""Department webhooks: which events notify whom (pure), and delivery end to end on real
components: the API registers webhooks, cases run on the dev server, and a real HTTP receiver on
a local port fails the first attempts; the signature is checked as docs/webhooks.md tells
receivers to check it."""

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.projection import ProjectionActivities
from activities.webhooks import WebhookActivities
from domain import rules
from domain.calendar import WorkingCalendar
from domain.messages import (
    Command,
    DecideExtension,
    Dispatch,
    Escalate,
    ReassignWork,
    RequestExtension,
    Urge,
    WithdrawWork,
)
from domain.notifications import NotificationEvent, notifications, signature, url_problem
from domain.planning import plan
from domain.state import CaseState
from gridloop import tokens
from gridloop.settings import DEFAULT_BLOCKED_NETWORKS, Settings
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    GRID_WORKER,
    HEALTH,
    MARKET,
    TEST_SECRET_KEY,
    ApiDriver,
)
from tests.conftest import running_api, serving_api
from tests.console_driver import Console
from tests.histories import HistoryLog
from tests.support import at, case_input, coordinator, department, request_id
from worker import build_worker
from workflows.case import NOTIFICATIONS_PATCH, CaseWorkflow, workflow_id
from workflows.notification import NotificationDelivery

# ---- which events notify whom --------------------------------------------------------------

CALENDAR = WorkingCalendar()
MONDAY_MORNING = at("2026-03-02 09:00")


def act(case: CaseState, command: Command) -> None:
    rules.validate(case, command, MONDAY_MORNING)
    planning = plan(CALENDAR, rules.planning_needs(case, command, MONDAY_MORNING))
    rules.apply(case, command, MONDAY_MORNING, planning)


def joint_case() -> CaseState:
    case = CaseState.open(case_input(MONDAY_MORNING), sampled_for_review=False)
    act(
        case,
        Dispatch(
            request_id=request_id(),
            actor=coordinator(),
            lead_department="market",
            co_departments=("health",),
        ),
    )
    return case


def test_assignments_urges_escalations_and_decisions_notify_the_department() -> None:
    case = joint_case()
    for command in (
        Urge(request_id=request_id(), actor=coordinator(), department="market", message="快"),
        Escalate(request_id=request_id(), actor=coordinator(), reason="跨部门"),
        RequestExtension(
            request_id=request_id(), actor=department("market"), extra_days=2, reason="r"
        ),
        DecideExtension(
            request_id=request_id(), actor=coordinator(), department="market", approve=True
        ),
        RequestExtension(
            request_id=request_id(), actor=department("health"), extra_days=1, reason="r"
        ),
        DecideExtension(
            request_id=request_id(), actor=coordinator(), department="health", approve=False
        ),
        WithdrawWork(
            request_id=request_id(), actor=coordinator(), department="health", reason="不需要"
        ),
        ReassignWork(
            request_id=request_id(),
            actor=coordinator(),
            department="market",
            to_department="housing",
            reason="改派",
        ),
    ):
        act(case, command)
    told = notifications(case, after=0)
    assert [(n.department, n.event) for n in told] == [
        ("market", NotificationEvent.ASSIGNED),
        ("health", NotificationEvent.ASSIGNED),
        ("market", NotificationEvent.URGED),
        ("market", NotificationEvent.ESCALATED),
        ("health", NotificationEvent.ESCALATED),
        ("market", NotificationEvent.EXTENSION_APPROVED),
        ("health", NotificationEvent.EXTENSION_REJECTED),
        ("health", NotificationEvent.WITHDRAWN),
        ("market", NotificationEvent.WITHDRAWN),
        ("housing", NotificationEvent.ASSIGNED),
    ]
    market = case.assignments[0]
    assigned = told[0]
    assert assigned.data["role"] == "lead"
    assert assigned.data["reason"] == "dispatch"
    assert assigned.data["sign_due_at"] == market.sign_clock.due_at.isoformat()
    assert assigned.case.category == case.report.category
    assert told[2].data == {
        "assignment_id": market.assignment_id,
        "automatic": False,
        "message": "快",
    }
    assert told[3].data["to_tier"] == "town"
    assert told[5].data["due_at"] == market.handling_clock.due_at.isoformat()
    assert told[8].data["reassigned_to"] == "housing"
    assert told[9].data["reason"] == "reassigned"
    # One notification per event and department; only the events after `after`.
    assert len({n.notification_id for n in told}) == len(told)
    assert notifications(case, after=case.events[-1].sequence - 1) == told[-2:]
    assert notifications(case, after=case.events[-1].sequence) == []
    # Nothing of the reporter's.
    for notification in told:
        text = notification.model_dump_json()
        assert "张三" not in text
        assert "13800000000" not in text


def test_a_missed_deadline_urges_and_then_escalates_automatically() -> None:
    case = joint_case()
    escalation = case.assignments[0].sign_clock.escalate_at[0]
    seen = case.events[-1].sequence
    case.fire_timers(escalation)
    told = [
        (n.department, n.event, n.data.get("automatic"), n.data.get("breach"))
        for n in notifications(case, after=seen)
    ]
    assert told == [
        ("market", NotificationEvent.URGED, True, None),
        ("health", NotificationEvent.URGED, True, None),
        ("market", NotificationEvent.ESCALATED, None, True),
        ("health", NotificationEvent.ESCALATED, None, True),
    ]


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"event":"urged"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, body) == f"t=1700000000,v1={expected}"


BLOCKED = Settings(webhook_blocked_networks=list(DEFAULT_BLOCKED_NETWORKS)).webhook_blocked_networks


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "javascript:alert(1)",
        "https://user:secret@hooks.example/x",
        "https://hooks.example/x#part",
        "https:///no-host",
        "https://hooks.example:99999/x",
        "https://[::1",
        "https://hooks.example/a b",
        "https://hooks.example/" + "x" * 2000,
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.100.100.200/latest/meta-data",
    ],
)
def test_webhook_urls_are_refused_with_a_reason(url: str) -> None:
    assert url_problem(url, BLOCKED)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example/gridloop?token=1", "http://10.20.30.40:8080/hook", "http://jianguan"],
)
def test_webhook_urls_on_the_intranet_are_accepted(url: str) -> None:
    assert url_problem(url, BLOCKED) is None


# ---- a real receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    """An HTTP server on a free local port, in a thread, recording every request. `answer`
    gives the status for a path and the how-many-th request of that delivery it is."""

    def __init__(self, answer: Callable[[str, int], int]) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        seen: Counter[tuple[str, str]] = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = (self.path, self.headers.get("X-Gridloop-Delivery", ""))
                with receiver._lock:
                    seen[key] += 1
                    code = answer(self.path, seen[key])
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


TOLERANCE_SECONDS = 300


def verify(secret: str, signature_header: str, body: bytes) -> bool:
    """Word for word the check docs/webhooks.md gives receivers."""
    fields = dict(part.split("=", 1) for part in signature_header.split(","))
    timestamp, received = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def verified(secret: str, received: Received) -> bool:
    return verify(secret, received.headers["x-gridloop-signature"], received.body)


async def until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.1)


# ---- the stack: API and worker with quick retries, on a county of the test's own -------------


def webhook_settings(task_queue: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "task_queue": task_queue,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET_KEY,
        "webhook_retry_initial_seconds": 0.2,
        "webhook_max_attempts": 3,
        # The receiver listens on loopback, which the default blocks.
        "webhook_blocked_networks": [],
    }
    return Settings(**(values | overrides))


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> AsyncIterator[ApiDriver]:
    settings = webhook_settings(task_queue, tmp_path)
    async with running_api(
        dev_env, task_queue, calendar, fresh_county, tmp_path, history_log, settings
    ) as api:
        yield api


async def register(api: ApiDriver, user: str, url: str, **fields: str) -> dict[str, Any]:
    response = await api.call("POST", "/api/v1/webhooks", user, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


async def dispatch_jointly(api: ApiDriver, case_no: str) -> None:
    """Market supervision leads, health assists."""
    await api.act(
        COORDINATOR, case_no, "dispatch", {"lead_department": MARKET, "co_departments": [HEALTH]}
    )


async def deliveries(api: ApiDriver, user: str, **params: str) -> list[dict[str, Any]]:
    response = await api.call("GET", "/api/v1/webhooks/deliveries", user, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(api: ApiDriver, case_no: str, count: int) -> list[dict[str, Any]]:
    """The case's deliveries once `count` of them exist and none is still being retried."""
    found: list[dict[str, Any]] = []
    for _ in range(600):
        found = await deliveries(api, COORDINATOR, case_no=case_no)
        if len(found) >= count and all(d["status"] != "pending" for d in found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"deliveries did not settle: {found}")


# ---- delivery, retries and the log -------------------------------------------------------------


async def test_notifications_are_signed_retried_and_logged_once_delivered(stack: ApiDriver) -> None:
    api = stack
    with Receiver(lambda _path, attempt: 500 if attempt <= 2 else 200) as receiver:
        market = await register(api, MARKET, receiver.url("/market"))
        health = await register(api, COORDINATOR, receiver.url("/health"), department=HEALTH)
        assert market["department"] == MARKET
        assert market["secret"].startswith("whsec_")
        case_no = (await api.report())["case_no"]
        await dispatch_jointly(api, case_no)
        await api.wait_projected(case_no)  # the API urges work the read model shows
        urged = await api.call(
            "POST",
            f"/api/v1/cases/{case_no}/urge",
            COORDINATOR,
            json={"department": MARKET, "message": "请今日签收"},
        )
        assert urged.status_code == 202, urged.text
        await api.act(COORDINATOR, case_no, "escalate", {"reason": "涉及多个部门"})
        await api.act(MARKET, case_no, "extension", {"extra_days": 2, "reason": "等待检测报告"})
        await api.act(
            COORDINATOR, case_no, "extension/decision", {"department": MARKET, "approve": True}
        )
        log = await settled(api, case_no, 6)

    secrets = {"/market": market["secret"], "/health": health["secret"]}
    delivered = [r for r in receiver.received if r.answered == 200]
    assert sorted((r.path, r.headers["x-gridloop-event"]) for r in delivered) == [
        ("/health", "assigned"),
        ("/health", "escalated"),
        ("/market", "assigned"),
        ("/market", "escalated"),
        ("/market", "extension_approved"),
        ("/market", "urged"),
    ]
    ids = Counter(r.headers["x-gridloop-delivery"] for r in delivered)
    assert set(ids.values()) == {1}, ids
    for request in receiver.received:
        assert verified(secrets[request.path], request), request
        document = request.document
        assert document["id"] == request.headers["x-gridloop-delivery"]
        assert document["event"] == request.headers["x-gridloop-event"]
        assert document["case_no"] == case_no
        assert document["department"] == {"/market": MARKET, "/health": HEALTH}[request.path]
        assert "张三" not in request.body.decode()
        assert "13800000000" not in request.body.decode()
    # Three requests each, the same body every time: 500, 500, then 200.
    for delivery_id in ids:
        tries = [r for r in receiver.received if r.headers["x-gridloop-delivery"] == delivery_id]
        assert [r.answered for r in tries] == [500, 500, 200]
        assert len({r.body for r in tries}) == 1
    assert not verified(secrets["/health"], receiver.at("/market")[0])

    assert len(log) == 6
    for entry in log:
        assert (entry["status"], entry["attempts"], entry["last_status_code"]) == (
            "delivered",
            3,
            200,
        )
        assert [a["status_code"] for a in entry["log"]] == [500, 500, 200]
        assert entry["delivered_at"] is not None
    assert {d["department"] for d in await deliveries(api, MARKET)} == {MARKET}
    assert len(await deliveries(api, MARKET, case_no=case_no)) == 4
    assert len(await deliveries(api, HEALTH, status="delivered")) == 2
    assert await deliveries(api, COORDINATOR, status="failed") == []
    for user, params in ((MARKET, {"department": HEALTH}), (GRID_WORKER, {}), (AUDITOR, {})):
        refused = await api.call("GET", "/api/v1/webhooks/deliveries", user, params=params)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["type"] == "forbidden"

    coordinator_console = Console(api.app)
    department_console = Console(api.app)
    try:
        await coordinator_console.sign_in(COORDINATOR)
        page = (await coordinator_console.page("/webhooks")).text
        assert receiver.url("/market") in page
        assert case_no in page
        assert page.count(f'href="/cases/{case_no}"') == 6
        assert 'href="/webhooks"' in page
        failed_only = (await coordinator_console.page("/webhooks?status=failed")).text
        assert case_no not in failed_only
        await department_console.sign_in(MARKET)
        redirected = await department_console.page("/webhooks")
        assert redirected.url.path == "/queue"
    finally:
        await coordinator_console.close()
        await department_console.close()


async def test_a_revoked_webhook_gets_nothing_and_a_failing_one_ends_failed(
    stack: ApiDriver,
) -> None:
    api = stack

    def answer(path: str, attempt: int) -> int:
        return 410 if path == "/gone" else 500

    with Receiver(answer) as receiver:
        failing = await register(api, MARKET, receiver.url("/failing"))
        gone = await register(api, MARKET, receiver.url("/gone"))
        revoked = await register(api, MARKET, receiver.url("/revoked"))
        assert (
            await api.call("DELETE", f"/api/v1/webhooks/{revoked['id']}", HEALTH)
        ).status_code == 404
        for _ in range(2):
            response = await api.call("DELETE", f"/api/v1/webhooks/{revoked['id']}", MARKET)
            assert response.status_code == 200, response.text
            assert response.json()["revoked_at"] is not None
        listed = (await api.call("GET", "/api/v1/webhooks", MARKET)).json()
        assert [(w["id"], w["revoked_at"] is None) for w in listed][-1] == (revoked["id"], False)
        assert "secret" not in listed[0]
        case_no = (await api.report())["case_no"]
        await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
        log = {d["webhook_id"]: d for d in await settled(api, case_no, 2)}

    assert receiver.at("/revoked") == []
    assert [r.answered for r in receiver.at("/failing")] == [500, 500, 500]
    assert [r.answered for r in receiver.at("/gone")] == [410]
    assert set(log) == {failing["id"], gone["id"]}
    assert (log[failing["id"]]["status"], log[failing["id"]]["attempts"]) == ("failed", 3)
    assert log[failing["id"]]["last_error"] == "HTTP 500"
    assert (log[gone["id"]]["status"], log[gone["id"]]["attempts"]) == ("failed", 1)
    assert log[gone["id"]]["last_status_code"] == 410


async def test_registration_is_checked_and_scoped(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    """With the default blocked networks; nothing here is ever dispatched, so the example
    addresses are never called."""
    settings = webhook_settings(
        task_queue, tmp_path, webhook_blocked_networks=list(DEFAULT_BLOCKED_NETWORKS)
    )
    async with serving_api(dev_env, settings, fresh_county, history_log) as api:
        refusals = [
            (MARKET, {"url": "ftp://market.example.invalid/x"}, 422, "validation_error"),
            (MARKET, {"url": "https://u:p@market.example.invalid/"}, 422, "validation_error"),
            (MARKET, {"url": "http://127.0.0.1:8080/hook"}, 422, "validation_error"),
            (MARKET, {"url": "http://169.254.169.254/"}, 422, "validation_error"),
            (
                MARKET,
                {"url": "https://market.example.invalid/" + "x" * 2000},
                422,
                "validation_error",
            ),
            (
                MARKET,
                {"url": "https://market.example.invalid/", "extra": 1},
                422,
                "validation_error",
            ),
            (MARKET, {"url": "https://m.example.invalid/", "department": HEALTH}, 403, "forbidden"),
            (COORDINATOR, {"url": "https://m.example.invalid/"}, 422, "validation_error"),
            (
                COORDINATOR,
                {"url": "https://m.example.invalid/", "department": "nope"},
                422,
                "unknown_department",
            ),
            (GRID_WORKER, {"url": "https://m.example.invalid/"}, 403, "forbidden"),
            (
                AUDITOR,
                {"url": "https://m.example.invalid/", "department": MARKET},
                403,
                "forbidden",
            ),
        ]
        for user, body, code, error in refusals:
            response = await api.call("POST", "/api/v1/webhooks", user, json=body)
            assert (response.status_code, response.json()["error"]["type"]) == (code, error), body
        unauthenticated = await api.http.post("/api/v1/webhooks", json={"url": "https://x.example"})
        assert unauthenticated.status_code == 401

        with fresh_county.begin() as session:
            token = tokens.create_token(session, MARKET, "监管系统").token
        by_token = await api.call(
            "POST", "/api/v1/webhooks", token=token, json={"url": "https://m.example.invalid/0"}
        )
        assert by_token.status_code == 201, by_token.text
        assert by_token.json()["created_by"] == "api-token:监管系统"
        for n in range(1, 5):
            await register(api, MARKET, f"https://m.example.invalid/{n}")
        sixth = await api.call(
            "POST", "/api/v1/webhooks", MARKET, json={"url": "https://m.example.invalid/6"}
        )
        assert sixth.status_code == 409
        assert sixth.json()["error"]["type"] == "webhook_limit_reached"
        revoked = await api.call("DELETE", f"/api/v1/webhooks/{by_token.json()['id']}", COORDINATOR)
        assert revoked.status_code == 200
        await register(api, MARKET, "https://m.example.invalid/6")
        await register(api, COORDINATOR, "https://h.example.invalid/", department=HEALTH)

        mine = (await api.call("GET", "/api/v1/webhooks", MARKET)).json()
        assert len(mine) == 6
        assert {w["department"] for w in mine} == {MARKET}
        assert mine[-1]["revoked_at"] is not None
        everyone = (await api.call("GET", "/api/v1/webhooks", COORDINATOR)).json()
        assert {w["department"] for w in everyone} == {MARKET, HEALTH}
        only_health = await api.call(
            "GET", "/api/v1/webhooks", COORDINATOR, params={"department": HEALTH}
        )
        assert len(only_health.json()) == 1
        assert (await api.call("GET", "/api/v1/webhooks", GRID_WORKER)).status_code == 403


# ---- the case workflow: continue-as-new, and cases started before notifications ---------------


async def test_each_notification_is_delivered_once_across_continue_as_new(
    stack: ApiDriver,
) -> None:
    """The suite's dev server suggests continuing as new after 40 history events; a dozen urges
    cut the case several times while their deliveries are under way."""
    api = stack
    urges = 12
    with Receiver(lambda _path, _attempt: 200) as receiver:
        await register(api, MARKET, receiver.url("/market"))
        case_no = (await api.report())["case_no"]
        await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
        await api.wait_projected(case_no)
        for n in range(urges):
            response = await api.call(
                "POST",
                f"/api/v1/cases/{case_no}/urge",
                COORDINATOR,
                json={"department": MARKET, "message": f"第{n + 1}次催办"},
            )
            assert response.status_code == 202, response.text
        await settled(api, case_no, 1 + urges)
        await until(lambda: len(receiver.received) >= 1 + urges)

    events = Counter(r.headers["x-gridloop-event"] for r in receiver.received)
    assert events == {"assigned": 1, "urged": urges}
    messages = sorted(r.document["data"]["message"] for r in receiver.at("/market")[1:])
    assert messages == sorted(f"第{n + 1}次催办" for n in range(urges))
    assert len({r.headers["x-gridloop-delivery"] for r in receiver.received}) == 1 + urges
    runs = (await api.call("GET", f"/api/v1/cases/{case_no}/history", COORDINATOR)).json()
    assert len(runs) > 1, "the case never continued as new"


async def _children_started(client: Client, case_no: str) -> int:
    """Child workflows the case started, over all its runs (the suite's dev server suggests
    continuing as new early)."""
    started = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    total = 0
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id(case_no)}'"):
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        total += sum(1 for event in history.events if event.event_type == started)
    return total


def _worker_of_earlier_code(
    env: WorkflowEnvironment,
    settings: Settings,
    calendar: WorkingCalendar,
    sessions: sessionmaker[Session],
    patches: frozenset[str],
) -> Worker:
    """A worker that starts new runs with only `patches` of the case workflow, as the code
    before the others did."""
    projection = ProjectionActivities(sessions, calendar, settings.review_working_days)
    webhooks = WebhookActivities(sessions, settings)
    return Worker(
        env.client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow, NotificationDelivery],
        activities=[
            CalendarActivities(calendar).plan_clocks,
            projection.project_case,
            webhooks.plan_delivery,
            webhooks.deliver_notification,
            webhooks.record_delivery_failure,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=4),
        patch_activation_callback=lambda patch: patch.patch_id in patches,
    )


async def test_only_departments_with_a_webhook_cost_the_case_a_delivery(
    stack: ApiDriver, dev_env: WorkflowEnvironment
) -> None:
    api = stack
    with Receiver(lambda _path, _attempt: 200) as receiver:
        await register(api, MARKET, receiver.url("/market"))
        case_no = (await api.report())["case_no"]
        await dispatch_jointly(api, case_no)
        await settled(api, case_no, 1)
        await api.wait_projected(case_no)

    assert [(r.path, r.headers["x-gridloop-event"]) for r in receiver.received] == [
        ("/market", "assigned")
    ]
    assert await _children_started(dev_env.client, case_no) == 1


async def test_a_case_started_before_notifications_keeps_its_old_path(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    """A run begun by code before the notifications patch replays on the new worker and goes on
    without notifying; a new case notifies."""
    settings = webhook_settings(task_queue, tmp_path)
    before_patches = _worker_of_earlier_code(
        dev_env, settings, calendar, fresh_county, patches=frozenset()
    )
    with Receiver(lambda _path, _attempt: 200) as receiver:
        async with serving_api(dev_env, settings, fresh_county, history_log) as api:
            await register(api, MARKET, receiver.url("/market"))
            async with before_patches:
                old = (await api.report())["case_no"]
                await api.act(COORDINATOR, old, "dispatch", {"lead_department": MARKET})
            async with build_worker(
                dev_env.client, settings, calendar=calendar, sessions=fresh_county
            ):
                await api.act(COORDINATOR, old, "escalate", {"reason": "升级"})
                new = (await api.report())["case_no"]
                await api.act(COORDINATOR, new, "dispatch", {"lead_department": MARKET})
                await settled(api, new, 1)
                await api.wait_projected(old)
            assert await deliveries(api, COORDINATOR, case_no=old) == []

    assert [r.document["case_no"] for r in receiver.received] == [new]
    assert await _children_started(dev_env.client, old) == 0
    assert await _children_started(dev_env.client, new) == 1


async def test_a_case_notifying_every_department_goes_on_doing_so(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    """A run begun before the webhook routing patch keeps starting a delivery for every
    notification, on the new worker too; the departments with a webhook hear the same."""
    settings = webhook_settings(task_queue, tmp_path)
    before_routing = _worker_of_earlier_code(
        dev_env, settings, calendar, fresh_county, patches=frozenset({NOTIFICATIONS_PATCH})
    )
    with Receiver(lambda _path, _attempt: 200) as receiver:
        async with serving_api(dev_env, settings, fresh_county, history_log) as api:
            await register(api, MARKET, receiver.url("/market"))
            async with before_routing:
                case_no = (await api.report())["case_no"]
                await dispatch_jointly(api, case_no)
                await settled(api, case_no, 1)
            async with build_worker(
                dev_env.client, settings, calendar=calendar, sessions=fresh_county
            ):
                await api.act(COORDINATOR, case_no, "escalate", {"reason": "升级"})
                await settled(api, case_no, 2)
                await api.wait_projected(case_no)

    assert [(r.path, r.headers["x-gridloop-event"]) for r in receiver.received] == [
        ("/market", "assigned"),
        ("/market", "escalated"),
    ]
    # The suite's dev server may have the case continue as new before the escalation: a run begun
    # by this code routes by webhooks.
    # A run that continued as new before hearing that its deliveries started has the next run
    # start them again (and be refused as duplicates): what counts is the run that first did.
    runs = await _deliveries_started_by_run(dev_env.client, case_no)
    routed_when_first_started: dict[str, bool] = {}
    for routed, started in runs:
        for delivery in started:
            routed_when_first_started.setdefault(delivery, routed)

    def sequence(delivery: str) -> int:
        return int(delivery.removeprefix(f"notify-{case_no}-").split("-")[0])

    dispatch, escalation = sorted(
        (d for d in routed_when_first_started if d.endswith(MARKET)), key=sequence
    )
    to_health = sorted((d for d in routed_when_first_started if d.endswith(HEALTH)), key=sequence)
    assert not runs[0][0], "the first run was begun by the earlier code"
    assert sequence(to_health[0]) == sequence(dispatch)
    assert len(to_health) == (1 if routed_when_first_started[escalation] else 2)


async def _deliveries_started_by_run(client: Client, case_no: str) -> list[tuple[bool, list[str]]]:
    """Oldest run first: whether the run projected with webhook routing, and the workflow ids of
    the deliveries it started."""
    scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    started = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    runs: list[tuple[bool, list[str]]] = []
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id(case_no)}'"):
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        routed = any(
            e.activity_task_scheduled_event_attributes.activity_type.name == "project_changes"
            for e in history.events
            if e.event_type == scheduled
        )
        deliveries = [
            e.start_child_workflow_execution_initiated_event_attributes.workflow_id
            for e in history.events
            if e.event_type == started
        ]
        runs.append((run.start_time, routed, deliveries))
    return [(routed, deliveries) for _, routed, deliveries in sorted(runs)]
