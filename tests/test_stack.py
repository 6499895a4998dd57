"""The embedded stack with real processes: dev server, health endpoints, `gridloop up`."""

import asyncio
import os
import signal
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from domain.messages import RateFeedback, RecordFollowUp, ResolveOnSite
from domain.model import FollowUpOutcome, Rating, Stage, Status
from gridloop import cases
from gridloop.devserver import EmbeddedTemporal, EmbeddedTemporalError
from gridloop.http import create_app
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.settings import Settings
from gridloop.temporal import connect
from tests.api_driver import TEST_SECRET_KEY
from tests.stack_process import Up, free_port
from tests.support import case_input, grid_worker, policy, reporter, request_id

pytestmark = pytest.mark.devserver


async def custom_search_attributes(client: Client) -> dict[str, str]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return {
        name: IndexedValueType.Name(value_type)
        for name, value_type in response.custom_attributes.items()
    }


# ---------------------------------------------------------------------- embedded dev server


async def test_dev_server_registers_search_attributes_and_persists(tmp_path: Path) -> None:
    server = EmbeddedTemporal(
        tmp_path / "data",
        port=free_port(),
        ui_port=0,
        search_attributes=SEARCH_ATTRIBUTE_TYPES,
        dynamic_config={"limit.historyCount.suggestContinueAsNew": 200},
    )
    async with server:
        assert server.db_path == tmp_path / "data" / "temporal.db"
        client = await connect(server.address, "default")
        registered = await custom_search_attributes(client)
        assert registered["GridloopStage"] == "INDEXED_VALUE_TYPE_KEYWORD"
        assert registered["GridloopOverdue"] == "INDEXED_VALUE_TYPE_BOOL"
        assert set(SEARCH_ATTRIBUTE_TYPES) <= set(registered)
        # No worker polls "nobody", so the workflow just stays open.
        await client.start_workflow(
            "NonExistentWorkflowType", id="persisted-case", task_queue="nobody"
        )
        pid = server.pid
        assert pid is not None

    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone (reaped), not a zombie or still running
    assert server.db_path.is_file()
    assert "start-dev" in server.log_path.read_text()

    # Again, on the same database, with a search attribute added since: it gets registered.
    ui_port = free_port()
    again = EmbeddedTemporal(
        tmp_path / "data",
        port=free_port(),
        ui_port=ui_port,
        search_attributes={**SEARCH_ATTRIBUTE_TYPES, "GridloopTestAddedLater": "Int"},
    )
    async with again:
        client = await connect(again.address, "default")
        description = await client.get_workflow_handle("persisted-case").describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        registered = await custom_search_attributes(client)
        assert registered["GridloopTestAddedLater"] == "INDEXED_VALUE_TYPE_INT"
        assert again.ui_url == f"http://127.0.0.1:{ui_port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(again.ui_url)).status_code == 200


async def test_dev_server_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedTemporal(tmp_path, port=port, ui_port=0)
        with pytest.raises(EmbeddedTemporalError, match="in use"):
            await server.start()
    assert server.pid is None


# ------------------------------------------------------------------------- health endpoints


def _asgi_client(client: Client | None) -> httpx.AsyncClient:
    app = create_app(Settings(secret_key=TEST_SECRET_KEY), client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gridloop")


async def test_health_and_readiness_follow_temporal(tmp_path: Path) -> None:
    server = EmbeddedTemporal(tmp_path, port=free_port(), ui_port=0)
    async with server:
        client = await connect(server.address, "default")
        async with _asgi_client(client) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "temporal": server.address}

    # Server gone: still alive, no longer ready.
    async with _asgi_client(client) as http:
        assert (await http.get("/healthz")).status_code == 200
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "unavailable"
        assert "unreachable" in not_ready.json()["temporal"]


async def test_not_ready_without_client() -> None:
    async with _asgi_client(None) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "temporal": "no Temporal client configured"}


# ------------------------------------------------------------------------------ gridloop up


async def test_gridloop_up_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = Up(data_dir, tmp_path / "first.log")
    await first.start()
    try:
        await first.wait_ready()
    finally:
        code = await first.stop(signal.SIGINT)
    output = first.log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    assert "gridloop is up" in output
    assert (data_dir / "temporal.db").is_file()

    second = Up(data_dir, tmp_path / "second.log")
    await second.start()
    try:
        await second.wait_ready()
    finally:
        code = await second.stop(signal.SIGTERM)
    output = second.log.read_text()
    assert code == 0, output
    assert "Traceback" not in output


async def test_open_cases_and_their_timers_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    sla = policy(follow_up_after=(timedelta(seconds=8),))
    first = Up(data_dir, tmp_path / "first.log")
    await first.start()
    try:
        await first.wait_ready()
        client = await connect(f"127.0.0.1:{first.temporal_port}", "default")
        case = case_input(datetime.now(UTC), sla)
        handle = await cases.start_case(client, case, "gridloop-cases")
        resolved = ResolveOnSite(
            request_id=request_id(),
            actor=grid_worker(),
            result="现场处置完毕",
            evidence_urls=("https://evidence.example/after.jpg",),
        )
        await cases.act(handle, resolved)
        rated = RateFeedback(request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED)
        assert (await cases.act(handle, rated)).status is Status.FOLLOW_UP_SCHEDULED
    finally:
        assert await first.stop(signal.SIGINT) == 0

    await asyncio.sleep(10)  # the re-check falls due while nothing runs
    second = Up(data_dir, tmp_path / "second.log")
    await second.start()
    try:
        await second.wait_ready()
        client = await connect(f"127.0.0.1:{second.temporal_port}", "default")
        handle = cases.case_handle(client, case.case_no)
        for _ in range(100):
            if (await cases.read_case(handle)).case.status is Status.FOLLOW_UP_DUE:
                break
            await asyncio.sleep(0.2)
        recheck = RecordFollowUp(
            request_id=request_id(), actor=grid_worker(), outcome=FollowUpOutcome.STILL_RESOLVED
        )
        assert (await cases.act(handle, recheck)).stage is Stage.ARCHIVED
    finally:
        assert await second.stop(signal.SIGTERM) == 0


async def test_with_temporal_address_up_uses_that_server_and_starts_none(tmp_path: Path) -> None:
    external = EmbeddedTemporal(tmp_path / "external", port=free_port(), ui_port=0)
    async with external:
        data_dir = tmp_path / "var"
        up = Up(data_dir, tmp_path / "up.log")
        up.env["TEMPORAL_ADDRESS"] = external.address
        await up.start()
        try:
            await up.wait_ready()
            client = await connect(external.address, "default")
            assert set(SEARCH_ATTRIBUTE_TYPES) <= set(await custom_search_attributes(client))
            case = case_input(datetime.now(UTC), policy())
            handle = await cases.start_case(client, case, "gridloop-cases")
            resolved = ResolveOnSite(
                request_id=request_id(),
                actor=grid_worker(),
                result="现场处置完毕",
                evidence_urls=("https://evidence.example/after.jpg",),
            )
            assert (await cases.act(handle, resolved)).stage is Stage.FEEDBACK
        finally:
            assert await up.stop(signal.SIGINT) == 0
        assert not (data_dir / "temporal.db").exists()
