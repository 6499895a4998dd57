"""Engine and sessions for the read model: SQLite under the data directory by default,
PostgreSQL (or any SQLAlchemy URL) through DATABASE_URL."""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from store.migrate import schema_state, upgrade


def database_url(configured: str | None, data_dir: Path) -> str:
    if configured:
        return configured.replace("postgresql://", "postgresql+psycopg://", 1)
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'gridloop.db'}"


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; foreign keys are off by default in SQLite.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class ReadModelNotMigrated(RuntimeError):
    """The database lacks migrations this code needs, and migrating was not asked for."""


def prepare_read_model(url: str, *, migrate: bool = True) -> sessionmaker[Session]:
    """Sessions on a database migrated to the current schema. With ``migrate=False`` (replicas
    that leave migrating to `gridloop migrate`) the database must already be at it. A newer
    release's schema is left as it is, and this code runs on it: the previous release's
    replicas during an upgrade, or after a rollback (a release whose migrations would break the
    previous one says so, docs/deploy.md)."""
    engine = make_engine(url)
    state = schema_state(engine)
    if state == "ahead":
        return session_factory(engine)
    if migrate:
        upgrade(engine)
    elif state != "current":
        engine.dispose()
        raise ReadModelNotMigrated(
            "the read model is not migrated to this version's schema: run `gridloop migrate` "
            "first (GRIDLOOP_MIGRATE_ON_START is false)"
        )
    return session_factory(engine)
