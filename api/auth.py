"""Who is calling: users sign in for a bearer token; departments' systems may instead use a
long-lived API token (`gl_…`, only its hash stored, revocable with `gridloop api-token`)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, SessionsDep, SettingsDep, SigningKeyDep
from api.errors import ApiError, error_responses
from domain.model import Role
from gridloop import tokens
from gridloop.access import Principal
from gridloop.admission import LoginThrottle, Throttled, client_address
from gridloop.secrets import bearer_secret_hash
from store.models import ApiTokenRecord, UserRecord

router = APIRouter(prefix="/v1/auth", tags=["auth"])

ALGORITHM = "HS256"
PASSWORDS = PasswordHasher()
# Verified against when the username is unknown, so that both answers take as long.
_UNKNOWN_USER_HASH = PASSWORDS.hash("no such user")
_bearer = HTTPBearer(auto_error=False, description="`Bearer <access token or gl_ API token>`")


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")
    role: Role
    department: str | None
    grids: list[str]
    display_name: str

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIs…",
                    "token_type": "bearer",
                    "expires_in": 28800,
                    "role": "coordinator",
                    "department": None,
                    "grids": [],
                    "display_name": "指挥室值班员",
                }
            ]
        }
    }


@router.post(
    "/token",
    summary="Sign in: exchange username and password for a bearer token",
    responses=error_responses(401, 422, 429),
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    key: SigningKeyDep,
) -> AccessToken:
    """OAuth2 password flow (form fields `username`, `password`). The token lasts
    `GRIDLOOP_ACCESS_TOKEN_MINUTES` (8 hours by default). Too many failures for the username or
    from the client's address answer 429 with `Retry-After`, whatever the password."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request)
    try:
        throttle.check(form.username, address)
    except Throttled as throttled:
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too_many_attempts",
            headers={"Retry-After": str(throttled.retry_after)},
        ) from throttled
    user = session.get(UserRecord, form.username)
    try:
        PASSWORDS.verify(user.password_hash if user else _UNKNOWN_USER_HASH, form.password)
    except (VerificationError, InvalidHashError):
        throttle.failed(form.username, address)
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "invalid_credentials") from None
    if user is None or not user.active:
        throttle.failed(form.username, address)
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "invalid_credentials")
    throttle.succeeded(form.username)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    now = datetime.now(UTC)
    token = jwt.encode(
        {"sub": user.username, "iat": now, "exp": now + lifetime},
        key,
        algorithm=ALGORITHM,
    )
    return AccessToken(
        access_token=token,
        expires_in=int(lifetime.total_seconds()),
        role=Role(user.role),
        department=user.department_code,
        grids=sorted(user.grid_codes),
        display_name=user.display_name,
    )


def _authenticate(
    request: Request,
    sessions: SessionsDep,
    key: SigningKeyDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "not_authenticated", headers=challenge)
    token = credentials.credentials
    with sessions() as session:
        principal = (
            _from_api_token(session, token)
            if token.startswith(tokens.PREFIX)
            else _from_access_token(session, key, token)
        )
    if principal is None:
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "not_authenticated", headers=challenge)
    request.state.principal = principal
    return principal


def _from_access_token(session: Session, key: str, token: str) -> Principal | None:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    user = session.get(UserRecord, str(claims["sub"]))
    if user is None or not user.active:
        return None
    return Principal(
        user_id=user.username,
        role=Role(user.role),
        department=user.department_code,
        grids=frozenset(user.grid_codes),
        display_name=user.display_name,
    )


def _from_api_token(session: Session, token: str) -> Principal | None:
    record = session.scalar(
        select(ApiTokenRecord).where(
            ApiTokenRecord.token_hash == bearer_secret_hash(token),
            ApiTokenRecord.revoked_at.is_(None),
        )
    )
    if record is None:
        return None
    return Principal(
        user_id=f"api-token:{record.name}"[:64],
        role=Role.DEPARTMENT,
        department=record.department_code,
        display_name=record.name,
    )


CurrentPrincipal = Annotated[Principal, Depends(_authenticate)]
