"""`gridloop migrate`: bring the read model to this version's schema and seed its reference
data, once, before the API and worker replicas start. The replicas then run with
GRIDLOOP_MIGRATE_ON_START=false, so that several of them starting at once do not race on
migrations or seed the organisation twice."""

import tomllib
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import SQLAlchemyError

from gridloop.logging import get_logger
from gridloop.settings import Settings
from store.db import database_url, make_engine, session_factory
from store.migrate import schema_state, upgrade
from store.models import UserRecord
from store.reference import DEMO_COUNTY, Organisation, load_organisation, seed_organisation

log = get_logger(__name__)


class OrganisationFileError(ValueError):
    """The organisation file is missing, not TOML, or not a valid organisation."""


def read_organisation(path: Path) -> Organisation:
    try:
        return load_organisation(path)
    except OSError as exc:
        raise OrganisationFileError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise OrganisationFileError(f"{path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise OrganisationFileError(f"{path} is not a valid organisation:\n{exc}") from exc


def run_migrate(settings: Settings, organisation_file: Path | None) -> int:
    """Exit code 0 once the read model is migrated (and seeded, if it was empty and there is
    an organisation to seed: the file given, else the demo county in development); 1 if the
    database cannot be reached or migrated; 2 for an unusable organisation file."""
    source = organisation_file
    if source is None and settings.environment == "development":
        source = DEMO_COUNTY
    try:
        # Read before migrating: a bad file fails the job before it changes anything.
        organisation = read_organisation(source) if source is not None else None
    except OrganisationFileError as exc:
        log.error("cannot seed the organisation", error=str(exc))
        return 2

    url = database_url(settings.database_url, settings.data_dir)
    where = make_url(url).render_as_string(hide_password=True)
    try:
        engine = make_engine(url)
        before = schema_state(engine)
        if before != "ahead":  # a newer release's schema: this one runs on it as it is
            upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            seeded = organisation is not None and seed_organisation(session, organisation)
            users = session.scalar(select(func.count()).select_from(UserRecord)) or 0
    except SQLAlchemyError as exc:
        log.error("cannot migrate the read model", database=where, error=str(exc))
        return 1
    if before == "ahead":
        log.warning(
            "the read model is at a newer release's schema; left as it is (a rollback?)",
            database=where,
        )
    else:
        log.info("read model migrated", database=where, before=before)
    if seeded:
        log.info(
            "seeded the organisation and one user per role and department, each with its "
            "username as password: give them real ones with `gridloop reset-passwords --demo`",
            organisation=str(source),
            users=users,
        )
    elif users == 0:
        log.warning(
            "the read model has no organisation and no users: run `gridloop migrate "
            "--organisation FILE` (docs/deploy.md)"
        )
    else:
        log.info("organisation already present, left as it is", users=users)
    engine.dispose()
    return 0
