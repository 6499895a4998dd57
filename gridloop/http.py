"""The one HTTP application `gridloop up` serves: health endpoints, the JSON API under `/api`
and the web console at the root."""

from datetime import timedelta
from typing import Literal

from fastapi import FastAPI, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.app import create_api, new_login_throttle
from api.open311 import create_open311
from domain.calendar import WorkingCalendar
from gridloop.metrics import metrics_endpoint
from gridloop.request_log import RequestObservability
from gridloop.service import CaseService
from gridloop.settings import Settings
from gridloop.tracing import untraced
from web.console import install_console

READINESS_TIMEOUT = timedelta(seconds=2)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    temporal: str
    """What was checked (the Temporal address), or why it failed."""


def create_app(
    settings: Settings,
    client: Client | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> FastAPI:
    """``client`` is the Temporal client the routes use; without one the app still serves
    ``/healthz`` but is never ready. ``sessions`` open the read model."""
    service = CaseService(client, sessions, settings) if client and sessions else None
    app = FastAPI(
        title="gridloop",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        # FastAPI's own OpenTelemetry spans, while gridloop.tracing is on.
        telemetry={"exclude": untraced},
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.service = service
    app.state.calendar = WorkingCalendar.from_settings(
        settings.working_hours, settings.timezone, settings.holiday_table
    )
    app.state.login_throttle = new_login_throttle(settings)
    app.mount("/api", create_api(settings, service, sessions, app.state.login_throttle))
    app.mount("/open311/v2", create_open311(settings, service, sessions))
    install_console(app, settings)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> Health:
        """Liveness: the process is up and serving HTTP."""
        return Health()

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: Temporal reachable",
        responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
    )
    async def readyz(response: Response) -> Readiness:
        """Readiness: the Temporal frontend answers a health check."""
        reason = await _temporal_unavailable(client)
        if reason is not None:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Readiness(status="unavailable", temporal=reason)
        assert client is not None
        return Readiness(status="ready", temporal=client.service_client.config.target_host)

    # Unauthenticated, like the health endpoints: keep it off the public proxy.
    app.add_api_route("/metrics", metrics_endpoint(sessions), include_in_schema=False)
    # Added last, so it is outermost: it sees every request and the final status.
    app.add_middleware(RequestObservability)
    return app


async def _temporal_unavailable(client: Client | None) -> str | None:
    """None when Temporal is reachable, else a short reason."""
    if client is None:
        return "no Temporal client configured"
    try:
        serving = await client.service_client.check_health(timeout=READINESS_TIMEOUT)
    except RPCError as exc:
        return f"Temporal unreachable: {exc.message}"
    except RuntimeError as exc:  # the bridge reports transport failures this way
        return f"Temporal unreachable: {exc}"
    return None if serving else "Temporal frontend is not serving"
