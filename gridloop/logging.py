"""One log pipeline for gridloop, Temporal and uvicorn (structlog + stdlib ``logging``).

structlog loggers hand their event dict to stdlib ``logging``; one handler on the root logger
renders every record, structlog's and foreign ones (``temporalio``, ``uvicorn``...), with
:class:`structlog.stdlib.ProcessorFormatter`, so all lines share one format: a console layout on
a terminal, one JSON object per line otherwise. Timestamps are ISO 8601 in UTC.

Run uvicorn with ``log_config=None`` so it keeps this configuration instead of installing its own.
"""

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from gridloop.metrics import TEMPORAL_SDK
from gridloop.request_log import add_case_no
from gridloop.settings import Settings

__all__ = ["FOREIGN_LOGGERS", "configure_logging", "install_temporal_runtime"]

FOREIGN_LOGGERS = ("temporalio", "uvicorn", "uvicorn.error", "uvicorn.access")
"""Third-party loggers whose own handlers are removed so that they propagate to ours."""

CHATTY_LOGGERS = ("alembic.runtime.plugins",)
"""Libraries that narrate their start-up at INFO; only their warnings are worth a line."""

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Extras that duplicate the message or are not data: uvicorn's ANSI-coloured copy of the message,
# Temporal Core's raw log object (its fields are already appended to the message).
_SKIPPED_EXTRAS = frozenset({"color_message", "temporal_log"})


def _add_record_extras(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Copy ``extra=`` values of a foreign record (e.g. Temporal's ``temporal_workflow``)."""
    record: logging.LogRecord | None = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in _SKIPPED_EXTRAS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging for this process; call once at start-up.

    ``stream`` defaults to ``sys.stderr``. Calling again replaces the previous configuration
    (handlers already on the root logger are removed).
    """
    stream = sys.stderr if stream is None else stream
    tty = _isatty(stream)
    console = settings.log_format == "console" or (settings.log_format == "auto" and tty)

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_case_no,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    renderer: Processor
    if console:
        # ConsoleRenderer formats exc_info itself (and prettier than format_exc_info).
        final: list[Processor] = []
        renderer = structlog.dev.ConsoleRenderer(colors=tty)
    else:
        final = [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)

    formatter = structlog.stdlib.ProcessorFormatter(
        # Only for records that did not come from structlog (temporalio, uvicorn, ...).
        foreign_pre_chain=[*shared, _add_record_extras],
        # For every record, after the chain above or structlog's own processors.
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True
        foreign.setLevel(logging.NOTSET)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def install_temporal_runtime(settings: Settings) -> None:
    """Make Temporal Core (the SDK's Rust part) log through ``logging`` too, and report its
    metrics to this process's Prometheus registry (gridloop.metrics).

    By default Core writes its own lines to stderr; this forwards them to the
    ``temporalio.core`` logger instead. Call before the first client connects: clients and
    workers keep the runtime that was the default when they were created.
    """
    level = "INFO" if settings.log_level == "DEBUG" else "WARN"
    metrics = TEMPORAL_SDK.new_buffer()
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level=level, other_level="ERROR"),
                forwarding=LogForwardingConfig(
                    logger=logging.getLogger("temporalio.core"),
                    append_target_to_name=False,
                ),
            ),
            metrics=metrics,
            attach_service_name=False,  # the same `temporal-core-sdk` on every series
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
    TEMPORAL_SDK.attach(metrics)


def get_logger(*args: Any, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A typed structlog logger (thin wrapper over :func:`structlog.stdlib.get_logger`)."""
    return structlog.stdlib.get_logger(*args, **initial_values)
