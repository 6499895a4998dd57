"""Optional OpenTelemetry tracing (docs/observability.md).

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``GRIDLOOP_OTEL_ENDPOINT``) is set; then the
packages of the ``otel`` extra (``pip install 'gridloop[otel]'``) are imported, spans go to
that OTLP/gRPC endpoint, and:

- every Temporal client this process connects (gridloop.temporal.connect) carries Temporal's
  ``TracingInterceptor``; workers built from the client inherit it, so a report's trace runs
  from the client's ``StartWorkflow`` through the workflow to its activities. It is never also
  given to the worker: that would record every span twice;
- the tracer provider becomes OpenTelemetry's global one, which turns on FastAPI's own
  OpenTelemetry support: a span per HTTP request (but not for /metrics, the health endpoints and
  static files: :func:`untraced`), the parent of the Temporal client's spans.

Nothing here is imported from OpenTelemetry while tracing is off, so the default install does
not need it. The OTel SDK reads its other standard variables itself (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``...).
"""

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.client import Interceptor

from gridloop.logging import get_logger
from gridloop.request_log import OPS_ROUTES, QUIET_PREFIXES
from gridloop.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "Tracing",
    "TracingUnavailable",
    "client_interceptors",
    "install_tracing",
    "shutdown_tracing",
    "start_tracing",
    "untraced",
]

log = get_logger(__name__)


class TracingUnavailable(RuntimeError):
    """Tracing was asked for, but the ``otel`` extra is not installed."""


@dataclass(frozen=True)
class Tracing:
    """This process's tracer provider, once tracing is on."""

    provider: "TracerProvider"

    def client_interceptors(self) -> list[Interceptor]:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("gridloop.temporal"))]

    def shutdown(self) -> None:
        """Send the spans still queued, then stop."""
        self.provider.shutdown()


_current: Tracing | None = None


def install_tracing(settings: Settings, service_name: str) -> Tracing | None:
    """Turn tracing on for this process if an OTLP endpoint is configured; call once at start,
    before the first Temporal client connects. ``service_name`` applies unless
    ``OTEL_SERVICE_NAME`` says otherwise."""
    if settings.otel_endpoint is None:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as missing:
        raise TracingUnavailable(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OpenTelemetry packages are not "
            "installed: pip install 'gridloop[otel]'"
        ) from missing
    from opentelemetry import trace

    tracing = start_tracing(OTLPSpanExporter(endpoint=settings.otel_endpoint), service_name)
    trace.set_tracer_provider(tracing.provider)
    log.info("tracing on", endpoint=settings.otel_endpoint)
    return tracing


def start_tracing(exporter: "SpanExporter", service_name: str) -> Tracing:
    """Trace the Temporal clients this process connects from now on into ``exporter``."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    global _current
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _current = Tracing(provider)
    return _current


def client_interceptors() -> list[Interceptor]:
    """What a new Temporal client of this process should carry: the tracing interceptor while
    tracing is on, else nothing."""
    return _current.client_interceptors() if _current is not None else []


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """Requests FastAPI records no spans for: scrapes, probes and static files."""
    path = str(scope.get("path", ""))
    return path in OPS_ROUTES or path.startswith(QUIET_PREFIXES)


def shutdown_tracing() -> None:
    """Flush and stop tracing, if it is on (at the end of the process)."""
    global _current
    if _current is not None:
        _current.shutdown()
        _current = None
