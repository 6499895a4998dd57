"""Prometheus metrics of a gridloop process (docs/observability.md).

Every process keeps its figures in prometheus_client's default registry: the case actions
counter and the HTTP latency histogram (both counted as they happen), the Temporal SDK's own
metrics (workflow and activity task latencies, polls, slots...) and prometheus_client's
``process_*``/``python_*`` collectors. The HTTP application serves them at ``/metrics`` together
with two figures read from the read model at scrape time (cases by stage, overdue assignments);
``gridloop worker``, which has no HTTP application, serves the registry on
``GRIDLOOP_METRICS_PORT`` instead.

The Temporal SDK reports its metrics into a :class:`~temporalio.runtime.MetricBuffer` that
:func:`gridloop.logging.install_temporal_runtime` attaches to the process's Runtime;
:data:`TEMPORAL_SDK` drains it and keeps the running totals, so no second HTTP listener and no
OpenTelemetry packages are needed.
"""

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

import structlog
from fastapi import Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
)

from domain.model import AssignmentState, Stage
from store import queries
from store.models import AssignmentRecord

__all__ = [
    "ACTIONS",
    "HTTP_LATENCY",
    "TEMPORAL_SDK",
    "ReadModelCollector",
    "count_action",
    "metrics_endpoint",
    "process_registry",
    "serve_metrics",
]

# Not gridloop.logging.get_logger: gridloop.logging imports this module.
log = structlog.stdlib.get_logger(__name__)

# Seconds. Most API requests take milliseconds; a report or an action waits for the workflow.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# From a workflow task (milliseconds) through a long poll (a minute) to a case's whole life.
SDK_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    3600.0, 86400.0, 7 * 86400.0,
)  # fmt: skip

ACCEPTED = "accepted"
FAILED = "error"

ACTIONS = Counter(
    "gridloop_case_actions",
    "Case actions and reports sent through the API or the console, by action (`report` or the "
    "action's API name) and outcome: `accepted`, the refusal's error type, or `error`.",
    ["action", "outcome"],
)
HTTP_LATENCY = Histogram(
    "gridloop_http_request_duration_seconds",
    "HTTP requests by method, route template and status code, in seconds (without /metrics "
    "and the health endpoints).",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)


def count_action(action: str, outcome: str) -> None:
    ACTIONS.labels(action=action, outcome=outcome).inc()


# ---- read-model figures, read at scrape time ---------------------------------------------------


class ReadModelCollector(Collector):
    """Cases by stage (from the stage tallies, a handful of rows) and open assignments that
    are overdue, by department (through the index on the running deadline: only open work is
    read). ``now`` is the clock the deadlines are compared with."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.now = now

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions() as session:
                stages = queries.stage_counts(session)
                overdue = overdue_assignments(session, self.now())
        except SQLAlchemyError as exc:
            # The other figures still matter most when the database is in trouble.
            log.warning("metrics: read model unavailable", error=str(exc))
            return
        cases = GaugeMetricFamily(
            "gridloop_cases", "Cases in each stage of the loop now (read model).", labels=["stage"]
        )
        for stage in Stage:
            cases.add_metric([stage.value], stages.get(stage.value, 0))
        yield cases
        late = GaugeMetricFamily(
            "gridloop_overdue_assignments",
            "Open assignments past their running deadline (sign-for or handling) or marked "
            "overdue, by department (read model).",
            labels=["department"],
        )
        for department, count in sorted(overdue.items()):
            late.add_metric([department], count)
        yield late


def overdue_assignments(session: Session, now: datetime) -> dict[str, int]:
    """Open assignments overdue now, by department; as the department queue counts them."""
    late = AssignmentRecord
    query = (
        select(late.department, func.count())
        .where(
            late.running_deadline.is_not(None),
            or_(
                late.running_deadline <= now,
                and_(
                    late.state == AssignmentState.AWAITING_SIGN.value,
                    late.sign_overdue_at.is_not(None),
                ),
                and_(late.state == AssignmentState.HANDLING.value, late.overdue_at.is_not(None)),
            ),
        )
        .group_by(late.department)
    )
    return {department: count for department, count in session.execute(query)}


class _Process(Collector):
    """The default registry, as one collector of a registry of the HTTP application."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def process_registry(sessions: sessionmaker[Session] | None) -> CollectorRegistry:
    """What an HTTP application serves at /metrics: the process's figures and, with a read
    model, the ones read from it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    if sessions is not None:
        registry.register(ReadModelCollector(sessions))
    return registry


def metrics_endpoint(sessions: sessionmaker[Session] | None) -> Callable[[Request], Response]:
    """The HTTP application's `GET /metrics`, in the exposition format the scraper asks for.
    Synchronous, so that the read-model queries run in the thread pool."""
    registry = process_registry(sessions)

    def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    return metrics


def serve_metrics(host: str, port: int) -> WSGIServer:
    """The process's registry on its own port (``gridloop worker``), in a daemon thread;
    OSError if the port is taken. ``shutdown()`` the result to stop it."""
    server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    return server


# ---- the Temporal SDK's metrics ------------------------------------------------------------------


Labels = tuple[tuple[str, str], ...]


@dataclass
class _Series:
    value: float = 0.0  # counter total, gauge value, or histogram sum
    count: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(SDK_BUCKETS))


@dataclass
class _Family:
    name: str
    kind: int
    description: str
    series: dict[Labels, _Series] = field(default_factory=dict)

    def add(self, labels: Labels, value: float) -> None:
        series = self.series.setdefault(labels, _Series())
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            series.value += value  # a delta
        elif self.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
            series.value += value
            series.count += 1
            for i, bound in enumerate(SDK_BUCKETS):
                if value <= bound:
                    series.buckets[i] += 1
        else:
            series.value = value

    def metric(self) -> Metric:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            metric = Metric(self.name, self.description, "counter")
            for labels, series in self.series.items():
                metric.add_sample(f"{self.name}_total", dict(labels), series.value)
        elif self.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
            metric = Metric(self.name, self.description, "histogram")
            for labels, series in self.series.items():
                base = dict(labels)
                for bound, cumulative in zip(SDK_BUCKETS, series.buckets, strict=True):
                    le = base | {"le": str(bound)}
                    metric.add_sample(f"{self.name}_bucket", le, cumulative)
                metric.add_sample(f"{self.name}_bucket", base | {"le": "+Inf"}, series.count)
                metric.add_sample(f"{self.name}_count", base, series.count)
                metric.add_sample(f"{self.name}_sum", base, series.value)
        else:
            metric = Metric(self.name, self.description, "gauge")
            for labels, series in self.series.items():
                metric.add_sample(self.name, dict(labels), series.value)
        return metric


class TemporalSdkMetrics(Collector):
    """The Temporal SDK's metrics (``temporal_*``; latencies in seconds, named ``*_seconds``),
    drained from the Runtime's metric buffer every second and at each scrape."""

    BUFFER_SIZE = 100_000
    DRAIN_EVERY_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer: MetricBuffer | None = None
        self._families: dict[str, _Family] = {}
        self._drainer: threading.Thread | None = None

    @staticmethod
    def new_buffer() -> MetricBuffer:
        """A buffer for the Runtime; :meth:`attach` it once the Runtime exists."""
        return MetricBuffer(
            TemporalSdkMetrics.BUFFER_SIZE, duration_format=MetricBufferDurationFormat.SECONDS
        )

    def attach(self, buffer: MetricBuffer) -> None:
        """Collect from ``buffer`` from now on (its Runtime must exist)."""
        with self._lock:
            self._buffer = buffer
            if self._drainer is None:
                # A full buffer drops updates: drain it even when nobody scrapes.
                self._drainer = threading.Thread(
                    target=self._drain_forever, name="temporal-metrics", daemon=True
                )
                self._drainer.start()

    def _drain_forever(self) -> None:
        while True:
            time.sleep(self.DRAIN_EVERY_SECONDS)
            self.drain()

    def drain(self) -> None:
        with self._lock:
            if self._buffer is None:
                return
            for update in self._buffer.retrieve_updates():
                self._apply(update)

    def _apply(self, update: BufferedMetricUpdate) -> None:
        metric = update.metric
        family = self._families.get(metric.name)
        if family is None:
            seconds = metric.kind == BUFFERED_METRIC_KIND_HISTOGRAM and metric.unit == "s"
            family = _Family(
                f"{metric.name}_seconds" if seconds else metric.name,
                metric.kind,
                metric.description or metric.name,
            )
            self._families[metric.name] = family
        labels = tuple(sorted((key, _label(value)) for key, value in update.attributes.items()))
        family.add(labels, float(update.value))

    def collect(self) -> Iterator[Metric]:
        self.drain()
        with self._lock:
            metrics = [family.metric() for family in self._families.values()]
        yield from metrics


def _label(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


TEMPORAL_SDK = TemporalSdkMetrics()
REGISTRY.register(TEMPORAL_SDK)
