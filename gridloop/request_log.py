"""Per-request observability for the HTTP application: a request id, one structured log line per
request, and the latency histogram (docs/observability.md).

The request id comes from an incoming ``X-Request-ID`` header when it is a plain token, else it
is generated; it is echoed in the response's ``X-Request-ID`` and bound to structlog's context
variables for the whole request, so every line logged while serving it carries it. So does the
case number, once routing has found a ``{case_no}`` in the path: :func:`add_case_no`, a
processor of the log pipeline (gridloop.logging), reads it from the request being served.

Requests are labelled by their route template (``/api/v1/cases/{case_no}/sign``), never the raw
path: case numbers and lookup codes would make one series per case, and a lookup code is a key
to a resident's case. Bodies, query strings and headers other than the request id are never
logged.
"""

import re
import time
import uuid
from contextvars import ContextVar

import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, WrappedLogger

from gridloop.metrics import HTTP_LATENCY

__all__ = ["REQUEST_ID_HEADER", "RequestObservability", "add_case_no"]

# Not gridloop.logging.get_logger: gridloop.logging imports this module.
log = structlog.stdlib.get_logger("gridloop.http")

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's id may look like; anything else (too long, spaces, control characters that
# could forge log lines) is replaced by a generated one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"
# Scraped or probed every few seconds: not measured, and logged only at DEBUG.
OPS_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})
QUIET_PREFIXES = ("/static/",)

# The ASGI scope of the request being served; routing fills in its path parameters in place.
_serving: ContextVar[Scope | None] = ContextVar("gridloop_serving", default=None)


class RequestObservability:
    """Pure ASGI middleware, so that the context variables it sets reach the endpoints."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        root_path = scope.get("root_path", "")
        status = 500  # unless a response starts: the exception propagates to the server
        echoed = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        started = time.perf_counter()
        serving = _serving.set(scope)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    seconds = time.perf_counter() - started
                    _record(scope["method"], _route(scope, root_path), status, seconds)
        finally:
            _serving.reset(serving)


def add_case_no(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Log processor: the case number of the request being served, when its route has one."""
    scope = _serving.get()
    if scope is not None:
        case_no = (scope.get("path_params") or {}).get("case_no")
        if isinstance(case_no, str):
            event_dict.setdefault("case_no", case_no)
    return event_dict


def _record(method: str, route: str, status: int, seconds: float) -> None:
    if route not in OPS_ROUTES:
        HTTP_LATENCY.labels(method=method, route=route, status=str(status)).observe(seconds)
    quiet = route in OPS_ROUTES or route.startswith(QUIET_PREFIXES)
    (log.debug if quiet else log.info)(
        "http request",
        method=method,
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 1),
    )


def _request_id(scope: Scope) -> str:
    wanted = REQUEST_ID_HEADER.lower().encode()
    for name, value in scope.get("headers", ()):
        if name == wanted:
            candidate = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route(scope: Scope, root_path: str) -> str:
    """The template of the route that served the request, as routing left it in the scope:
    mounted applications (the API at /api) add their prefix to ``root_path``; a mount without
    routes of its own (static files) serves everything below its prefix."""
    prefix = str(scope.get("root_path", ""))[len(root_path) :]
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if isinstance(template, str) and not isinstance(route, Mount):
        return prefix + template
    return f"{prefix}/{{path}}" if prefix else UNMATCHED
