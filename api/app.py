"""FastAPI application factory: health endpoints here, the API's routers beside it."""

from datetime import timedelta
from typing import Literal

from fastapi import FastAPI, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api import actions, auth, cases, public, reference, stats
from api.errors import install_error_handlers
from gridloop.secrets import signing_key
from gridloop.service import CaseService
from gridloop.settings import Settings

DESCRIPTION = """
Every reported issue is a **case**, run by one durable workflow through report → consult → handle →
feedback → follow-up → review → archive (报事—会商—处置—反馈—长效跟踪—事后倒查).

* Sign in with `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`; department
  systems may use a long-lived `gl_…` API token instead.
* Every action on a case is its own `POST /api/v1/cases/{case_no}/<action>`. An action the case
  does not allow now is refused with **409** and `error.type` saying why, and changes nothing.
* Send an `Idempotency-Key` header to make a retried request take effect once.
* Errors come as `{"error": {"type", "message", "params", "details"}}`, the message in zh-CN or
  en by `Accept-Language`.
"""

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
    """The gridloop HTTP app. ``client`` is the Temporal client the routes use; without one
    the app still serves ``/healthz`` but is never ready. ``sessions`` open the read model."""
    app = FastAPI(title="gridloop", version="0.1.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.temporal_client = client
    app.state.sessions = sessions
    app.state.signing_key = signing_key(settings)
    app.state.service = (
        CaseService(client, sessions, settings)
        if client is not None and sessions is not None
        else None
    )
    install_error_handlers(app)
    for module in (auth, cases, actions, public, reference, stats):
        app.include_router(module.router)

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
