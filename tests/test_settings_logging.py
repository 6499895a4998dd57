"""Settings come from the environment; every log line, ours or a library's, has one format."""

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

from gridloop.logging import configure_logging
from gridloop.secrets import MissingSecretKey, signing_key
from gridloop.settings import Settings
from tests.support import restored_logging

# ---------------------------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without gridloop variables (the developer's shell may have some)."""
    for name in list(os.environ):
        if name.startswith("GRIDLOOP_") or name in {"TEMPORAL_ADDRESS", "DATABASE_URL"}:
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.data_dir == Path("var")
    assert settings.temporal_address is None
    assert settings.temporal_db_path == Path("var/temporal.db")
    assert settings.effective_temporal_address == "127.0.0.1:7233"
    assert settings.task_queue == "gridloop-cases"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert settings.temporal_ui_port == 8233
    assert settings.database_url is None


def test_prefixed_variables(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("GRIDLOOP_DATA_DIR", str(tmp_path))
    clean_env.setenv("GRIDLOOP_HTTP_PORT", "9001")
    clean_env.setenv("GRIDLOOP_TEMPORAL_PORT", "7300")
    clean_env.setenv("GRIDLOOP_TEMPORAL_UI_PORT", "0")
    clean_env.setenv("GRIDLOOP_LOG_LEVEL", "debug")
    clean_env.setenv("GRIDLOOP_ENVIRONMENT", "production")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.temporal_db_path == tmp_path / "temporal.db"
    assert settings.http_port == 9001
    assert settings.temporal_ui_port == 0
    assert settings.log_level == "DEBUG"
    assert settings.environment == "production"
    assert settings.effective_temporal_address == "127.0.0.1:7300"


def test_temporal_address_and_database_url_unprefixed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://gridloop@db/gridloop")
    settings = Settings()
    assert settings.temporal_address == "temporal.example:7233"
    assert settings.effective_temporal_address == "temporal.example:7233"
    assert settings.database_url == "postgresql+psycopg://gridloop@db/gridloop"


def test_prefixed_temporal_address_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_ADDRESS", "unprefixed:7233")
    clean_env.setenv("GRIDLOOP_TEMPORAL_ADDRESS", "prefixed:7233")
    assert Settings().temporal_address == "prefixed:7233"


def test_blank_temporal_address_means_embedded(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_ADDRESS", "")
    assert Settings().temporal_address is None


def test_fields_settable_by_name(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(temporal_address="x:1", database_url="sqlite://")
    assert (settings.temporal_address, settings.database_url) == ("x:1", "sqlite://")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDLOOP_WORKING_HOURS", "8:30-12:00"),
        ("GRIDLOOP_WORKING_HOURS", "08:30-12:00;13:30-17:30"),
        ("GRIDLOOP_WORKING_HOURS", "08:30-14:00,13:30-17:30"),
        ("GRIDLOOP_WORKING_HOURS", "13:30-17:30,08:30-12:00"),
        ("GRIDLOOP_WORKING_HOURS", "12:00-08:30"),
        ("GRIDLOOP_TIMEZONE", "Mars/Olympus_Mons"),
        ("GRIDLOOP_LOG_FORMAT", "xml"),
        ("GRIDLOOP_HTTP_PORT", "70000"),
    ],
)
def test_invalid_values_rejected(clean_env: pytest.MonkeyPatch, variable: str, value: str) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} needs a docstring (the README uses it)"


# ----------------------------------------------------------------------------------- logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_from_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)

    structlog.get_logger("gridloop.test").info("case opened", case_id="C-1", grid="网格 7")
    logging.getLogger("temporalio").warning("worker %s slow", "w1")
    logging.getLogger("uvicorn.error").info("Started", extra={"color_message": "\x1b[1mStarted"})
    logging.getLogger("temporalio").debug("below the level")

    ours, temporal, uvicorn = _json_lines(stream)
    for line in (ours, temporal, uvicorn):
        assert {"event", "level", "timestamp", "logger"} <= line.keys()
        assert str(line["timestamp"]).endswith("Z")  # ISO 8601, UTC
    assert ours["event"] == "case opened"
    assert ours["level"] == "info"
    assert ours["grid"] == "网格 7"
    assert '"网格 7"' in stream.getvalue()  # readable, not \\u-escaped
    assert temporal["event"] == "worker w1 slow"
    assert temporal["level"] == "warning"
    assert temporal["logger"] == "temporalio"
    assert uvicorn["event"] == "Started"
    assert "color_message" not in uvicorn


@pytest.mark.usefixtures("restore_logging")
def test_json_exception_is_one_line() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("temporalio").exception("activity failed")
    (line,) = _json_lines(stream)
    assert line["level"] == "error"
    assert "ValueError: boom" in str(line["exception"])


@pytest.mark.usefixtures("restore_logging")
def test_console_format_and_auto_on_non_tty() -> None:
    console = io.StringIO()
    configure_logging(Settings(log_format="console"), stream=console)
    structlog.get_logger("gridloop.test").info("hello", n=1)
    logging.getLogger("uvicorn").info("from uvicorn")
    text = console.getvalue()
    assert "hello" in text
    assert "n=1" in text
    assert "from uvicorn" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])

    auto = io.StringIO()  # not a terminal: auto means JSON
    configure_logging(Settings(log_format="auto"), stream=auto)
    structlog.get_logger("gridloop.test").info("hello")
    assert _json_lines(auto)[0]["event"] == "hello"


# ----------------------------------------------------------------------------- signing key


def test_production_needs_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(MissingSecretKey):
        signing_key(Settings(environment="production", data_dir=tmp_path))
    with pytest.raises(MissingSecretKey):
        signing_key(Settings(environment="production", secret_key="too short"))
    key = "k" * 40
    assert signing_key(Settings(environment="production", secret_key=key)) == key
    assert not (tmp_path / "secret.key").exists()


def test_development_keeps_a_private_key_across_restarts(tmp_path: Path) -> None:
    first = signing_key(Settings(data_dir=tmp_path))
    assert signing_key(Settings(data_dir=tmp_path)) == first
    assert len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
