"""Open311 clients' keys (`gridloop open311-key`): a client such as a FixMyStreet instance posts
service requests with one as `api_key`. The key is shown once, only its hash is kept, and a
revoked key stops working at once. The key's name identifies the client: its reports are filed
as reported by `open311:<name>`."""

import re
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridloop.secrets import bearer_secret_hash, new_bearer_secret
from store.models import Open311KeyRecord

PREFIX = "o311_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,48}$")
"""Short and plain: the name becomes part of the reporting user's id (at most 64 characters)."""


class InvalidKeyName(ValueError):
    pass


class DuplicateKeyName(ValueError):
    """Valid keys have distinct names: the name is how one is revoked."""


class IssuedKey(BaseModel):
    key: str
    name: str


class KeyListing(BaseModel):
    name: str
    created_at: datetime
    revoked_at: datetime | None


def reporter_id(name: str) -> str:
    """The user id a client's reports are filed under."""
    return f"open311:{name}"


def issue_key(session: Session, name: str) -> IssuedKey:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidKeyName(name)
    if _valid(session, name) is not None:
        raise DuplicateKeyName(name)
    key = new_bearer_secret(PREFIX)
    session.add(
        Open311KeyRecord(
            key_hash=bearer_secret_hash(key),
            name=name,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
    )
    return IssuedKey(key=key, name=name)


def key_holder(session: Session, key: str) -> str | None:
    """The name of the valid key `key` is; None for an unknown or revoked one."""
    record = session.get(Open311KeyRecord, bearer_secret_hash(key))
    if record is None or record.revoked_at is not None:
        return None
    return record.name


def list_keys(session: Session) -> list[KeyListing]:
    records = session.scalars(
        select(Open311KeyRecord).order_by(Open311KeyRecord.name, Open311KeyRecord.created_at)
    )
    return [
        KeyListing(name=record.name, created_at=record.created_at, revoked_at=record.revoked_at)
        for record in records
    ]


def revoke_key(session: Session, name: str) -> bool:
    """Revoke the valid key of that name; False if there is none."""
    record = _valid(session, name)
    if record is None:
        return False
    record.revoked_at = datetime.now(UTC)
    return True


def _valid(session: Session, name: str) -> Open311KeyRecord | None:
    return session.scalar(
        select(Open311KeyRecord).where(
            Open311KeyRecord.name == name, Open311KeyRecord.revoked_at.is_(None)
        )
    )
