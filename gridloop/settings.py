"""Process configuration, read from the environment.

Every variable is ``GRIDLOOP_<FIELD>``, except ``TEMPORAL_ADDRESS`` and ``DATABASE_URL``, which
are also read unprefixed (the names Temporal's and most database tooling use), and the OTLP
endpoint, also read as OpenTelemetry's ``OTEL_EXPORTER_OTLP_ENDPOINT``. When both spellings are
set, the ``GRIDLOOP_`` one wins. The README's settings table is written from the
docstrings below; keep them in step.
"""

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import parse_working_hours
from domain.model import ReviewOutcome
from domain.scoring import (
    DEFAULT_DEPARTMENT_WEIGHTS,
    DEFAULT_GRID_WORKER_WEIGHTS,
    DEFAULT_HANDLING_HOURS_TARGET,
    DEFAULT_OUTCOME_PENALTIES,
    Points,
    ScorecardKind,
    ScoreKpi,
    ScoringRules,
    Weight,
    check_weights,
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
DEFAULT_BLOCKED_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "::/128",
    "169.254.0.0/16",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
    "100.100.100.200/32",
)


class Settings(BaseSettings):
    """gridloop settings; one instance per process (see :func:`get_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDLOOP_",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    environment: Literal["development", "production"] = "development"
    """Deployment kind: `development` or `production`."""

    data_dir: Path = Path("var")
    """Directory for local state: the embedded Temporal SQLite file and its log."""

    temporal_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDLOOP_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"),
    )
    """`host:port` of an external Temporal frontend. Unset: `gridloop up` starts an embedded
    dev server."""

    temporal_namespace: str = "default"
    """Temporal namespace holding the case workflows."""

    task_queue: str = "gridloop-cases"
    """Task queue the worker polls and case workflows are started on."""

    temporal_port: int = Field(default=7233, ge=1, le=65535)
    """gRPC port of the embedded dev server (127.0.0.1)."""

    temporal_ui_port: int = Field(default=8233, ge=0, le=65535)
    """Web UI port of the embedded dev server; `0` runs it headless."""

    http_host: str = "127.0.0.1"
    """Interface the HTTP server binds to (and the metrics listener of `gridloop worker`)."""

    http_port: int = Field(default=8000, ge=1, le=65535)
    """Port of the HTTP server (health endpoints, API, console)."""

    metrics_port: int = Field(default=0, ge=0, le=65535)
    """Port on which `gridloop worker` serves its Prometheus metrics (`/metrics`, Temporal
    worker task latencies); `0`: none. `gridloop up` and `gridloop api` serve `/metrics` on the
    HTTP port. Keep both off the public network (docs/observability.md)."""

    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDLOOP_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    """OTLP/gRPC endpoint (e.g. `http://otel-collector:4317`) that OpenTelemetry traces are
    sent to; unset: no tracing. Needs `pip install 'gridloop[otel]'` (docs/observability.md)."""

    working_hours: str = "08:30-12:00,13:30-17:30"
    """Working periods of a working day, `HH:MM-HH:MM` joined by commas; SLA clocks run only
    inside them."""

    timezone: str = "Asia/Shanghai"
    """IANA time zone of the working calendar."""

    holiday_table: Path | None = None
    """Optional holiday table overriding the built-in Chinese calendar (see docs/calendar.md)."""

    log_level: LogLevel = "INFO"
    """Minimum level logged, for gridloop, Temporal and uvicorn alike."""

    log_format: Literal["auto", "console", "json"] = "auto"
    """`console` (human), `json` (one object a line), or `auto`: console when stderr is a
    terminal, else JSON."""

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRIDLOOP_DATABASE_URL", "DATABASE_URL"),
    )
    """SQLAlchemy URL of the read model (e.g. `postgresql://user@host/db`). Unset: SQLite file
    `gridloop.db` in the data directory."""

    migrate_on_start: bool = True
    """Whether `up`, `api` and `worker` migrate the read model (and seed the demo county in
    development) as they start. Replicated deployments set `false` and run `gridloop migrate`
    once before starting them; a process then refuses to start on a database that is not
    migrated to its code's schema."""

    secret_key: SecretStr | None = None
    """Key that signs access tokens. Unset in development: a random key is kept in the data
    directory (`secret.key`). Production refuses to start without one (at least 32 characters)."""

    access_token_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    """Lifetime of a bearer token from `POST /api/v1/auth/token`, in minutes."""

    intake_concurrency: int = Field(default=32, ge=1, le=10_000)
    """Reports being started at once; one more is refused with 503 `intake_busy` and
    `Retry-After` (nothing stored) rather than queued, so a burst cannot exhaust the server."""

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest API request body accepted, in bytes; a larger one is refused with 413
    `request_too_large` before it is read."""

    login_failures_per_username: int = Field(default=5, ge=1)
    """Failed sign-ins to one username within the window before further attempts get 429
    `too_many_attempts` with `Retry-After` (API token endpoint and console alike)."""

    login_failures_per_address: int = Field(default=30, ge=1)
    """Failed sign-ins from one client address within the window before it gets 429; higher
    than per username, since an office may share one address."""

    login_failure_window_seconds: int = Field(default=900, ge=1)
    """The sliding window, in seconds, the failed sign-ins are counted over."""

    case_prefix: str = Field(default="GL", pattern=r"^[A-Z]{1,6}$")
    """Prefix of case numbers, e.g. `GL-7Q3K9XM2FD`."""

    review_working_days: int = Field(default=10, ge=1, le=60)
    """Working days the auditors have to record the findings of a post-hoc review (事后倒查)."""

    scorecard_department_weights: dict[ScoreKpi, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_DEPARTMENT_WEIGHTS)
    )
    """Weight of each KPI in a department's composite score, a JSON object such as
    `{"satisfaction_rate": 0.2, "timely_sign_rate": 0.15}`; a KPI left out does not count
    (default and formula: docs/scorecards.md)."""

    scorecard_grid_worker_weights: dict[ScoreKpi, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_GRID_WORKER_WEIGHTS)
    )
    """Weight of each KPI in a grid worker's composite score, a JSON object like the
    departments' (default: the outcome of the cases they reported, see docs/scorecards.md)."""

    scorecard_penalties: dict[ReviewOutcome, Points] = Field(
        default_factory=lambda: dict(DEFAULT_OUTCOME_PENALTIES)
    )
    """Points a post-hoc review's outcome costs every department or grid worker it names, on top
    of the review's own score deduction, a JSON object: default `{"none": 0, "notice": 2,
    "interview": 5, "score_deduction": 0}` (通报 2, 约谈 5)."""

    scorecard_handling_hours: float = Field(
        default=DEFAULT_HANDLING_HOURS_TARGET, gt=0, le=1000, allow_inf_nan=False
    )
    """Average handling time, in working hours, that still earns full marks in a scorecard;
    a longer average earns this many hours divided by the average."""

    scorecard_title: str = Field(default="嘉善县网格化管理月度考核表", min_length=1, max_length=60)
    """Title of the monthly assessment report (月度考核表) exported from the scorecards; the
    period and the kind follow it."""

    open311_contact: str = Field(default="嘉善县综合信息指挥室", min_length=1, max_length=200)
    """Who answers for the Open311 endpoint (`/open311/v2`): its discovery document's
    `contact`, and whom clients ask for an api_key."""

    webhook_retry_initial_seconds: float = Field(default=10, gt=0, le=3600, allow_inf_nan=False)
    """Wait before retrying a failed webhook delivery; each further retry waits twice as long,
    at most an hour (docs/webhooks.md)."""

    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    """Attempts to deliver one notification before its delivery is marked failed (10: about 1.4
    hours of retries with the default initial wait)."""

    webhook_timeout_seconds: float = Field(default=10, gt=0, le=120, allow_inf_nan=False)
    """How long one webhook request may take, connecting included, before the attempt fails."""

    webhook_blocked_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network(n) for n in DEFAULT_BLOCKED_NETWORKS]
    )
    """Networks webhooks may not reach, a JSON list of CIDRs such as `["127.0.0.0/8",
    "169.254.0.0/16"]`; checked at registration and on every delivery. Default: loopback,
    link-local (cloud metadata), unspecified and multicast addresses, and `100.100.100.200/32`
    (Alibaba Cloud metadata). Private networks are allowed: departments' systems live on the
    government intranet."""

    @field_validator(
        "temporal_address",
        "database_url",
        "holiday_table",
        "secret_key",
        "otel_endpoint",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("working_hours")
    @classmethod
    def _check_working_hours(cls, value: str) -> str:
        # The calendar's own parser, so that whatever passes here also builds the calendar.
        parse_working_hours(value)
        return value

    @field_validator("scorecard_department_weights", "scorecard_grid_worker_weights")
    @classmethod
    def _check_weights(cls, value: dict[ScoreKpi, float]) -> dict[ScoreKpi, float]:
        check_weights(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def scoring_rules(self, kind: ScorecardKind) -> ScoringRules:
        """How scorecards of this kind are scored."""
        weights = (
            self.scorecard_department_weights
            if kind is ScorecardKind.DEPARTMENT
            else self.scorecard_grid_worker_weights
        )
        return ScoringRules(
            weights=weights,
            penalties=self.scorecard_penalties,
            handling_hours_target=self.scorecard_handling_hours,
        )

    @property
    def temporal_db_path(self) -> Path:
        """SQLite file of the embedded dev server; it persists cases across restarts."""
        return self.data_dir / "temporal.db"

    @property
    def effective_temporal_address(self) -> str:
        """Where clients connect: the external server if configured, else the embedded one."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
