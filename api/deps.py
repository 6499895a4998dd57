"""Dependencies the routes declare, as `Annotated` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, status
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.errors import ApiError
from gridloop.service import CaseService
from gridloop.settings import Settings


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _session(request: Request) -> Iterator[Session]:
    with _sessions(request)() as session:
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _service(request: Request) -> CaseService:
    service: CaseService | None = request.app.state.service
    if service is None:
        unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
        raise ApiError(unavailable, "temporal_unavailable", headers={"Retry-After": "5"})
    return service


def _temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal_client
    if client is None:
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "temporal_unavailable",
            headers={"Retry-After": "5"},
        )
    return client


def _signing_key(request: Request) -> str:
    key: str = request.app.state.signing_key
    return key


SessionDep = Annotated[Session, Depends(_session)]
"""A session for the whole request: for synchronous routes, which run in a worker thread."""
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
"""For async routes that also wait on Temporal: open a short session for each read, so that no
database connection is held while the workflow answers."""
SigningKeyDep = Annotated[str, Depends(_signing_key)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_temporal)]
ServiceDep = Annotated[CaseService, Depends(_service)]
