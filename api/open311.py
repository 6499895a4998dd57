"""Open311 GeoReport v2 at `/open311/v2` (docs/open311.md): an application of its own, mounted
by gridloop.http, answering in the standard's documents, errors included, rather than the JSON
API's. The format is the resource's extension, `.xml` or `.json`."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridloop import open311
from gridloop.gridmap import GridMap
from gridloop.messages import preferred_language
from gridloop.open311_wire import (
    Error,
    Format,
    Open311Error,
    PostedRequest,
    Service,
    ServiceRequest,
    form_fields,
    render,
    render_list,
)
from gridloop.service import CaseService
from gridloop.settings import Settings

FORM = "application/x-www-form-urlencoded"

router = APIRouter()


def create_open311(
    settings: Settings,
    service: CaseService | None,
    sessions: sessionmaker[Session] | None,
    grid_map: GridMap | None = None,
) -> FastAPI:
    """The endpoint over the read model (GETs) and the case service (POST requests); the grid
    map places a posted point in its grid (default: the console's map)."""
    app = FastAPI(
        title="gridloop Open311 GeoReport v2", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.service = service
    app.state.sessions = sessions
    app.state.grid_map = grid_map or GridMap.load()
    app.state.zone = ZoneInfo(settings.timezone)
    _install_error_handlers(app)
    app.include_router(router)
    return app


# ---- dependencies -----------------------------------------------------------------------------


def _wire(wire: str) -> Format:
    if wire not in Format._value2member_map_:
        raise Open311Error(404, "unknown_format", {"format": wire})
    return Format(wire)


def _language(request: Request) -> str:
    return preferred_language(request.headers.get("accept-language", ""))


def _session(request: Request) -> Iterator[Session]:
    sessions: sessionmaker[Session] | None = request.app.state.sessions
    if sessions is None:
        raise Open311Error(503, "unavailable")
    with sessions() as session:
        yield session


def _view(request: Request, language: Annotated[str, Depends(_language)]) -> open311.View:
    return open311.View(
        language=language, zone=request.app.state.zone, grid_map=request.app.state.grid_map
    )


def _service(request: Request) -> CaseService:
    service: CaseService | None = request.app.state.service
    if service is None:
        raise Open311Error(503, "unavailable")
    return service


WireDep = Annotated[Format, Depends(_wire)]
LanguageDep = Annotated[str, Depends(_language)]
SessionDep = Annotated[Session, Depends(_session)]
ViewDep = Annotated[open311.View, Depends(_view)]
ServiceDep = Annotated[CaseService, Depends(_service)]


def _answer(content: bytes, wire: Format, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type=wire.media_type)


# ---- routes -----------------------------------------------------------------------------------


@router.get("/discovery.{wire}")
def discovery(request: Request, wire: WireDep, language: LanguageDep) -> Response:
    # Where this document is, less its own name: the endpoint's base, wherever it is mounted.
    url = str(request.url.replace(query="", path=request.url.path.rsplit("/", 1)[0]))
    return _answer(render(open311.discovery(request.app.state.settings, url, language), wire), wire)


@router.get("/services.{wire}")
def services(wire: WireDep, session: SessionDep, language: LanguageDep) -> Response:
    return _answer(render_list(Service, open311.services(session, language), wire), wire)


@router.get("/services/{service_code}.{wire}")
def service_definition(
    service_code: str, wire: WireDep, session: SessionDep, language: LanguageDep
) -> Response:
    return _answer(render(open311.service_definition(session, service_code, language), wire), wire)


@router.get("/requests.{wire}")
def requests(
    wire: WireDep,
    session: SessionDep,
    view: ViewDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    found = open311.request_filter(
        session,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
        now=datetime.now(UTC),
    )
    return _answer(
        render_list(ServiceRequest, open311.find_requests(session, found, view), wire), wire
    )


@router.get("/requests/{service_request_id}.{wire}")
def request(service_request_id: str, wire: WireDep, session: SessionDep, view: ViewDep) -> Response:
    found = open311.request_by_id(session, service_request_id, view)
    return _answer(render_list(ServiceRequest, [found], wire), wire)


@router.post("/requests.{wire}")
async def post_request(
    request: Request,
    wire: WireDep,
    service: ServiceDep,
    language: LanguageDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=100)
    ] = None,
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise Open311Error(400, "form_content_type")
    settings: Settings = request.app.state.settings
    fields = form_fields(await _body(request, settings.max_request_bytes))
    api_key = fields.get("api_key")
    with service.sessions() as session:
        client = open311.client_of(session, api_key if isinstance(api_key, str) else None)
    posted, created = await open311.post_request(
        service,
        request.app.state.grid_map,
        client,
        open311.parse_form(fields),
        idempotency_key,
        language,
    )
    return _answer(render_list(PostedRequest, [posted], wire), wire, 201 if created else 200)


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused once it passes `limit` bytes (declared or not)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Open311Error(413, "request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Open311Error(413, "request_too_large")
    return bytes(body)


# ---- errors -----------------------------------------------------------------------------------


def _error_response(request: Request, error: Open311Error) -> Response:
    # The format the caller asked for, even when the error is about the path itself.
    wire = Format.JSON if request.url.path.endswith(".json") else Format.XML
    body = Error(code=error.status, description=open311.describe(error, _language(request)))
    headers = {"Retry-After": "5"} if error.status == 503 else None
    return Response(
        render_list(Error, [body], wire),
        status_code=error.status,
        media_type=wire.media_type,
        headers=headers,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def _open311(request: Request, error: Open311Error) -> Response:
        return _error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, invalid: RequestValidationError) -> Response:
        first = invalid.errors()[0]
        field = str(first.get("loc", ("", "request"))[-1])
        error = Open311Error(
            400, "invalid_field", {"field": field, "problem": first.get("msg", "")}
        )
        return _error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        message = {404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "bad_request"
        )
        return _error_response(request, Open311Error(error.status_code, message))
