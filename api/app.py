"""The HTTP API as an application of its own, mounted at `/api` (see gridloop/http.py)."""

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api import (
    actions,
    audit,
    auth,
    cases,
    history,
    public,
    reference,
    reviews,
    scorecards,
    stats,
    webhooks,
)
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from gridloop.admission import LoginThrottle
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


def create_api(
    settings: Settings,
    service: CaseService | None,
    sessions: sessionmaker[Session] | None,
    login_throttle: LoginThrottle | None = None,
) -> FastAPI:
    """The JSON API, mounted at `/api` by gridloop.http: its own error handlers and OpenAPI
    document (`/api/openapi.json`, browsable at `/api/docs`). `login_throttle` is shared with
    the console's sign-in form, so that switching between them does not reset the count."""
    api = FastAPI(title="gridloop API", version="0.1.0", description=DESCRIPTION)
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    api.state.login_throttle = login_throttle or new_login_throttle(settings)
    api.state.settings = settings
    api.state.sessions = sessions
    api.state.service = service
    api.state.temporal_client = service.client if service else None
    api.state.signing_key = signing_key(settings)
    install_error_handlers(api)
    for module in (
        auth,
        cases,
        actions,
        audit,
        history,
        reviews,
        public,
        reference,
        stats,
        scorecards,
        webhooks,
    ):
        api.include_router(module.router)
    return api


def new_login_throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(
        per_username=settings.login_failures_per_username,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )
