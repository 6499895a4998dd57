"""Bring a read-model database to the current schema with Alembic."""

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


SchemaState = Literal["empty", "behind", "current", "ahead"]


def schema_state(engine: Engine) -> SchemaState:
    """Where the database's schema stands against this code's migrations. `ahead`: it is at a
    revision this code does not know, a newer release's (whose replicas are rolling out, or
    which was rolled back)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    known = {revision.revision for revision in script.walk_revisions()}
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if not current:
        return "empty"
    if not current <= known:
        return "ahead"
    return "current" if current == set(script.get_heads()) else "behind"
