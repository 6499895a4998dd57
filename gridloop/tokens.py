"""Departments' long-lived API tokens (`gridloop api-token`): the token is shown once, only its
hash is kept, and a revoked token stops working at once."""

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridloop.secrets import bearer_secret_hash, new_bearer_secret
from store.models import ApiTokenRecord, DepartmentRecord

PREFIX = "gl_"


class UnknownDepartment(ValueError):
    pass


class DuplicateTokenName(ValueError):
    """A department's valid tokens have distinct names: the name is how one is revoked."""


class IssuedToken(BaseModel):
    token: str
    department: str
    name: str


class TokenListing(BaseModel):
    department: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def create_token(session: Session, department: str, name: str) -> IssuedToken:
    if session.get(DepartmentRecord, department) is None:
        raise UnknownDepartment(department)
    if _valid(session, department, name):
        raise DuplicateTokenName(name)
    token = new_bearer_secret(PREFIX)
    session.add(
        ApiTokenRecord(
            token_hash=bearer_secret_hash(token),
            department_code=department,
            name=name,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
    )
    return IssuedToken(token=token, department=department, name=name)


def list_tokens(session: Session) -> list[TokenListing]:
    records = session.scalars(
        select(ApiTokenRecord).order_by(ApiTokenRecord.department_code, ApiTokenRecord.created_at)
    )
    return [
        TokenListing(
            department=record.department_code,
            name=record.name,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )
        for record in records
    ]


def revoke_token(session: Session, department: str, name: str) -> bool:
    """Revoke the department's valid token of that name; False if there is none."""
    record = _valid(session, department, name)
    if record is None:
        return False
    record.revoked_at = datetime.now(UTC)
    return True


def _valid(session: Session, department: str, name: str) -> ApiTokenRecord | None:
    return session.scalar(
        select(ApiTokenRecord).where(
            ApiTokenRecord.department_code == department,
            ApiTokenRecord.name == name,
            ApiTokenRecord.revoked_at.is_(None),
        )
    )
