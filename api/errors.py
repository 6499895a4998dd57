"""One error shape for every route, in the caller's language (zh-CN first, en by Accept-Language).

    {"error": {"type": "not_assigned", "message": "部门“…”在本案中没有待办的任务。",
               "params": {"department": "…"}, "details": [...]}}

`type` is machine-readable and stable; `message` is for people. A refused case action carries
the workflow's refusal type (domain/errors.py); everything else uses the types below.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import CaseRuleViolation
from gridloop.messages import message, preferred_language
from gridloop.service import RefusalKind, Refused, refusal_kind


class ErrorBody(BaseModel):
    type: str
    message: str
    params: dict[str, str] = {}
    details: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorBody


class ApiError(Exception):
    """Raised by routes and dependencies; rendered by the handler below."""

    def __init__(
        self,
        status_code: int,
        error_type: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.status_code = status_code
        self.details = details
        self.error_type = error_type
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        super().__init__(error_type)


STATUS_OF_KIND = {
    RefusalKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RefusalKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    RefusalKind.CONFLICT: status.HTTP_409_CONFLICT,
    RefusalKind.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
    RefusalKind.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    RefusalKind.INTERNAL: status.HTTP_500_INTERNAL_SERVER_ERROR,
}
RETRY_AFTER = {"Retry-After": "5"}


def language(request: Request) -> str:
    return preferred_language(request.headers.get("accept-language", ""))


def error_response(
    request: Request,
    status_code: int,
    error_type: str,
    params: Mapping[str, str] | None = None,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    params = {key: str(value) for key, value in (params or {}).items()}
    body = ErrorResponse(
        error=ErrorBody(
            type=error_type,
            message=message(error_type, language(request), params),
            params=params,
            details=[dict(d) for d in details],
        )
    )
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code, headers=dict(headers or {})
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(
            request,
            error.status_code,
            error.error_type,
            error.params,
            details=error.details,
            headers=error.headers,
        )

    @app.exception_handler(Refused)
    async def _service_refused(request: Request, refused: Refused) -> JSONResponse:
        headers = RETRY_AFTER if refused.kind is RefusalKind.UNAVAILABLE else None
        return error_response(
            request,
            STATUS_OF_KIND[refused.kind],
            refused.type,
            refused.params,
            details=refused.details,
            headers=headers,
        )

    @app.exception_handler(CaseRuleViolation)
    async def _refused(request: Request, refused: CaseRuleViolation) -> JSONResponse:
        refusal = refused.refusal.value
        return error_response(
            request, STATUS_OF_KIND[refusal_kind(refusal)], refusal, refused.params
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, invalid: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in invalid.errors()
        ]
        return error_response(
            request, status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error", details=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        error_type = {
            status.HTTP_404_NOT_FOUND: "not_found",
            status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
            status.HTTP_401_UNAUTHORIZED: "not_authenticated",
            status.HTTP_403_FORBIDDEN: "forbidden",
            status.HTTP_413_CONTENT_TOO_LARGE: "request_too_large",
        }.get(error.status_code, "validation_error")
        return error_response(request, error.status_code, error_type, headers=error.headers)


ERROR_DESCRIPTIONS = {
    401: "Not signed in, or the token is invalid or expired.",
    403: "The caller's role or scope does not allow this.",
    404: "No such case (or not visible to the caller).",
    409: "The case refuses the action now; `error.type` says why.",
    413: "The request body is larger than `GRIDLOOP_MAX_REQUEST_BYTES`.",
    422: "The request body or parameters are malformed.",
    429: "Too many failed sign-ins; retry after `Retry-After` seconds.",
    503: "The case engine or calendar data is unavailable, or intake is saturated; retry after "
    "`Retry-After` seconds.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer."""
    return {
        code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }
