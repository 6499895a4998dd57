"""Observability: the figures /metrics exposes move as the county's work does, in every kind of
process (`gridloop api` + `gridloop worker`, `gridloop up`); each request is logged once, with its
request id and case number; tracing is off unless asked for, and traces a case when it is on."""

import io
import json
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from domain.model import Stage
from gridloop import tracing
from gridloop.http import create_app
from gridloop.logging import get_logger
from gridloop.metrics import ReadModelCollector
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.models import AssignmentRecord, CaseRecord
from tests.api_driver import COORDINATOR, GRID_WORKER, MARKET, ApiDriver, new_case
from tests.conftest import api_settings
from tests.histories import HistoryLog
from tests.processes import Cluster, poll
from tests.stack_process import Up, free_port
from tests.support import make_worker
from workflows.case import workflow_id

pytestmark = pytest.mark.devserver

WORKFLOW_TASKS = "temporal_workflow_task_execution_latency_seconds_count"
ACTIVITIES = "temporal_activity_execution_latency_seconds_count"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, read by Prometheus's own text parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Samples:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


# ---- the figures, in process ---------------------------------------------------------------


async def test_metrics_follow_cases_actions_and_requests(county_api: ApiDriver) -> None:
    api = county_api
    before = await scrape(api.http)

    dispatched = (await api.report(GRID_WORKER))["case_no"]
    waiting = (await api.report(GRID_WORKER))["case_no"]
    forbidden = await api.call(
        "POST",
        f"/api/v1/cases/{dispatched}/dispatch",
        GRID_WORKER,
        json={"lead_department": MARKET},
    )
    assert forbidden.status_code == 403
    await api.act(COORDINATOR, dispatched, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, dispatched, "sign")
    again = await api.call("POST", f"/api/v1/cases/{dispatched}/sign", MARKET, json={})
    assert again.status_code == 409
    refusal = again.json()["error"]["type"]
    await api.wait_projected(dispatched)
    await api.wait_projected(waiting)

    after = await scrape(api.http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Cases by stage, from this county's read model alone.
    stages = {
        case_no: (await api.case(COORDINATOR, case_no))["stage"]
        for case_no in (dispatched, waiting)
    }
    assert stages[dispatched] == "handle"
    assert value(after, "gridloop_cases", stage="handle") == 1
    assert value(after, "gridloop_cases", stage=stages[waiting]) == 1
    assert value(after, "gridloop_cases") == 2
    assert value(after, "gridloop_cases", stage="archived") == 0  # every stage is a series

    # Actions by outcome: accepted, or the refusal's error type.
    actions = "gridloop_case_actions_total"
    assert moved(actions, action="report", outcome="accepted") == 2
    assert moved(actions, action="dispatch", outcome="accepted") == 1
    assert moved(actions, action="dispatch", outcome="not_permitted") == 1
    assert moved(actions, action="sign", outcome="accepted") == 1
    assert moved(actions, action="sign", outcome=refusal) == 1

    # Latency by route template and status, never by raw path.
    latency = "gridloop_http_request_duration_seconds_count"
    dispatch_route = "/api/v1/cases/{case_no}/dispatch"
    assert moved(latency, method="POST", route=dispatch_route, status="200") == 1
    assert moved(latency, method="POST", route=dispatch_route, status="403") == 1
    assert moved(latency, method="POST", route="/api/v1/cases", status="201") == 2
    routes = {dict(labels).get("route") for (name, labels) in after if name == latency}
    assert not any(dispatched in str(route) or waiting in str(route) for route in routes)
    assert "/metrics" not in routes  # scrapes are not measured

    # Nothing is overdue yet; at a moment past every deadline, 市场监管's open work is.
    assert value(after, "gridloop_overdue_assignments") == 0
    registry = CollectorRegistry()
    later = datetime.now(UTC) + timedelta(days=400)
    registry.register(ReadModelCollector(api.sessions, now=lambda: later))
    overdue = parse(generate_latest(registry).decode())
    assert value(overdue, "gridloop_overdue_assignments", department=MARKET) == 1
    assert value(overdue, "gridloop_overdue_assignments") == 1


def test_read_model_figures_agree_with_the_rows_on_postgresql(
    demo_county_postgres: sessionmaker[Session],
) -> None:
    later = datetime.now(UTC) + timedelta(days=400)
    registry = CollectorRegistry()
    registry.register(ReadModelCollector(demo_county_postgres, now=lambda: later))
    figures = parse(generate_latest(registry).decode())
    with demo_county_postgres() as session:
        cases = session.scalar(select(func.count()).select_from(CaseRecord))
        open_work = session.scalar(
            select(func.count()).where(AssignmentRecord.running_deadline.is_not(None))
        )
    assert {dict(labels)["stage"] for name, labels in figures if name == "gridloop_cases"} == {
        stage.value for stage in Stage
    }
    assert value(figures, "gridloop_cases") == cases
    # In 400 days every open assignment is past its deadline.
    assert value(figures, "gridloop_overdue_assignments") == open_work


async def test_metrics_need_no_sign_in_and_speak_openmetrics(api: ApiDriver) -> None:
    response = await api.http.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    families = {f.name for f in text_string_to_metric_families(response.text.replace("# EOF", ""))}
    assert {"gridloop_cases", "gridloop_http_request_duration_seconds"} <= families


# ---- request logs --------------------------------------------------------------------------


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_request_is_logged_once_with_its_request_and_case(
    api: ApiDriver, captured_logs: io.StringIO
) -> None:
    case_no = (
        await api.report(GRID_WORKER, reporter_name="日志测试人", reporter_phone="13911112222")
    )["case_no"]

    # A route that logs while it serves, through structlog and through stdlib logging.
    async def probe(case_no: str) -> dict[str, str]:
        get_logger("gridloop.probe").info("probing", step=1)
        logging.getLogger("temporalio").warning("probing from a library")
        return {"case_no": case_no}

    api.app.add_api_route("/probe/{case_no}", probe)

    mine = "ops-trace-0001"
    read = await api.call("GET", f"/api/v1/cases/{case_no}", COORDINATOR)
    probed = await api.http.get(f"/probe/{case_no}", headers={"X-Request-ID": mine})
    junk = await api.http.get("/healthz", headers={"X-Request-ID": "two words\r\nforged: line"})
    assert probed.headers["X-Request-ID"] == mine
    generated = read.headers["X-Request-ID"]
    assert len(generated) == 32
    assert generated != mine
    replaced = junk.headers["X-Request-ID"]
    assert len(replaced) == 32
    assert "forged" not in replaced

    logged = lines(captured_logs)
    requests = [line for line in logged if line["event"] == "http request"]
    by_id = {line["request_id"]: line for line in requests}
    assert len(by_id) == len(requests), "one line per request"
    line = by_id[generated]
    assert line["level"] == "info"
    assert (line["method"], line["route"], line["status"]) == (
        "GET",
        "/api/v1/cases/{case_no}",
        200,
    )
    assert line["case_no"] == case_no
    assert isinstance(line["duration_ms"], float | int)
    assert line["duration_ms"] >= 0
    assert by_id[replaced]["level"] == "debug"  # probes are quiet
    assert "case_no" not in by_id[replaced]

    during = [entry for entry in logged if entry.get("request_id") == mine]
    assert {entry["event"] for entry in during} == {
        "probing",
        "probing from a library",
        "http request",
    }
    assert all(entry["case_no"] == case_no for entry in during)

    # Outside a request, nothing is carried over.
    get_logger("gridloop.probe").info("after the requests")
    assert "request_id" not in lines(captured_logs)[-1]
    text = captured_logs.getvalue()
    for secret in ("日志测试人", "13911112222", "Bearer", "password"):
        assert secret not in text


# ---- tracing -------------------------------------------------------------------------------


async def test_tracing_is_off_unless_an_endpoint_is_set(dev_env: WorkflowEnvironment) -> None:
    assert tracing.install_tracing(Settings(otel_endpoint="  "), "gridloop-test") is None
    assert tracing.client_interceptors() == []
    client = await connect(dev_env.client.service_client.config.target_host, "default")
    assert client.config()["interceptors"] == []


async def test_a_traced_report_spans_client_workflow_and_activities(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    demo_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    exporter = InMemorySpanExporter()
    traced = tracing.start_tracing(exporter, "gridloop-test")
    try:
        client: Client = await connect(dev_env.client.service_client.config.target_host, "default")
        assert any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
        app = create_app(api_settings(task_queue, tmp_path), client, demo_county)
        transport = httpx.ASGITransport(app=app)
        async with (
            make_worker(client, task_queue, calendar, demo_county),
            httpx.AsyncClient(transport=transport, base_url="http://gridloop.test") as http,
        ):
            driver = ApiDriver(http, demo_county, dev_env, history_log, app)
            case_no = (await driver.report(GRID_WORKER, category="public_health"))["case_no"]
            await driver.wait_projected(case_no)
        traced.provider.force_flush()
    finally:
        tracing.shutdown_tracing()
    assert tracing.client_interceptors() == []

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"StartWorkflow:CaseWorkflow", "RunWorkflow:CaseWorkflow"} <= names
    assert any(name.startswith("StartActivity:") for name in names), names
    start = next(s for s in spans if s.name == "StartWorkflow:CaseWorkflow")
    run = next(s for s in spans if s.name == "RunWorkflow:CaseWorkflow")
    assert start.context is not None
    assert run.context is not None
    assert run.context.trace_id == start.context.trace_id, "one trace from client to workflow"
    assert (start.attributes or {}).get("temporalWorkflowID") == workflow_id(case_no)


# ---- separate processes ----------------------------------------------------------------------


async def test_worker_and_api_processes_each_expose_their_figures(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`gridloop worker` serves the SDK's task latencies on GRIDLOOP_METRICS_PORT; `gridloop api`
    serves the read model's figures and its requests on /metrics."""
    cluster = Cluster(tmp_path, dev_env.client.service_client.config.target_host)
    metrics_port = free_port()
    cluster.env["GRIDLOOP_METRICS_PORT"] = str(metrics_port)
    try:
        worker = await cluster.worker()
        assert f":{metrics_port}/metrics" in worker.log_text()
        del cluster.env["GRIDLOOP_METRICS_PORT"]
        api = await cluster.api()
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
            token = (
                await http.post(
                    "/api/v1/auth/token", data={"username": GRID_WORKER, "password": GRID_WORKER}
                )
            ).json()["access_token"]
            reported = await http.post(
                "/api/v1/cases",
                json=new_case(category="public_health"),
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "process-test-1"},
            )
            assert reported.status_code == 201, reported.text
            assert reported.headers["X-Request-ID"] == "process-test-1"

            async def projected() -> bool:
                return value(await scrape(http), "gridloop_cases") == 1

            await poll("the API's /metrics counts the reported case", projected, within=60)
            from_api = await scrape(http)
        queue = cluster.task_queue
        workflow_tasks = {"task_queue": queue, "workflow_type": "CaseWorkflow"}
        projections = {"task_queue": queue, "activity_type": "project_changes"}
        from_worker: Samples = {}

        async def worker_latencies() -> bool:
            nonlocal from_worker
            async with httpx.AsyncClient(timeout=5) as http:
                from_worker = await scrape(http, f"http://127.0.0.1:{metrics_port}/metrics")
            return (
                value(from_worker, WORKFLOW_TASKS, **workflow_tasks) >= 1
                and value(from_worker, ACTIVITIES, **projections) >= 1
            )

        try:
            await poll("the worker's task latencies on its metrics port", worker_latencies, 60)
        finally:
            print("worker's figures:", sorted({name for name, _ in from_worker}))
    finally:
        await cluster.close()
        print(cluster.logs())  # shown only if the test failed

    assert value(from_api, "gridloop_case_actions_total", action="report", outcome="accepted") == 1
    assert (
        value(
            from_api,
            "gridloop_http_request_duration_seconds_count",
            route="/api/v1/cases",
            status="201",
        )
        == 1
    )
    # The API process's own Temporal client reports its requests too.
    assert (
        value(
            from_api, "temporal_request_latency_seconds_count", operation="StartWorkflowExecution"
        )
        >= 1
    )
    log = api.log_text()
    assert '"request_id": "process-test-1"' in log
    assert "uvicorn.access" not in log  # one line per request: gridloop's


async def test_gridloop_up_serves_worker_latencies_on_its_own_metrics(tmp_path: Path) -> None:
    up = Up(tmp_path / "var", tmp_path / "up.log")
    await up.start()
    try:
        await up.wait_ready()
        base = f"http://127.0.0.1:{up.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = (
                await http.post(
                    "/api/v1/auth/token", data={"username": GRID_WORKER, "password": GRID_WORKER}
                )
            ).json()["access_token"]
            reported = await http.post(
                "/api/v1/cases",
                json=new_case(category="public_health"),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert reported.status_code == 201, reported.text

            async def figures() -> bool:
                samples = await scrape(http)
                return (
                    value(samples, "gridloop_cases") >= 1
                    and value(samples, WORKFLOW_TASKS, workflow_type="CaseWorkflow") >= 1
                )

            await poll("case and worker figures on gridloop up's /metrics", figures, within=60)
    finally:
        await up.stop(signal.SIGTERM)
