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

from domain.errors import MESSAGES as REFUSAL_MESSAGES
from domain.errors import CaseRuleViolation, Refusal
from gridloop.service import RefusalKind, Refused, refusal_kind

LANGUAGES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "validation_error": {
        "zh-CN": "请求内容不合法，请检查各字段。",
        "en": "The request is not valid; check the fields listed.",
    },
    "not_authenticated": {
        "zh-CN": "请先登录或提供有效的访问令牌。",
        "en": "Sign in or provide a valid access token.",
    },
    "invalid_credentials": {
        "zh-CN": "用户名或密码错误。",
        "en": "Wrong username or password.",
    },
    "forbidden": {
        "zh-CN": "当前账号无权执行此操作。",
        "en": "This account may not do that.",
    },
    "case_not_found": {
        "zh-CN": "找不到案件 {case_no}。",
        "en": "No case {case_no}.",
    },
    "lookup_code_not_found": {
        "zh-CN": "查询码无效，请核对后重试。",
        "en": "No case has this lookup code; check it and try again.",
    },
    "not_found": {
        "zh-CN": "请求的资源不存在。",
        "en": "Not found.",
    },
    "method_not_allowed": {
        "zh-CN": "此地址不支持该请求方法。",
        "en": "This method is not allowed here.",
    },
    "unknown_category": {
        "zh-CN": "事项类别“{code}”不存在。",
        "en": "There is no category {code}.",
    },
    "unknown_grid": {
        "zh-CN": "网格“{code}”不存在。",
        "en": "There is no grid {code}.",
    },
    "grid_not_yours": {
        "zh-CN": "网格“{grid}”不在您负责的网格内。",
        "en": "Grid {grid} is not one of yours.",
    },
    "idempotency_key_reused": {
        "zh-CN": "该 Idempotency-Key 已用于另一份不同的上报。",
        "en": "This Idempotency-Key was already used for a different report.",
    },
    "case_archived": {
        "zh-CN": "案件已归档，不能再执行操作。",
        "en": "The case is archived; nothing more can be done to it.",
    },
    "temporal_unavailable": {
        "zh-CN": "案件引擎暂时不可用，请稍后重试。",
        "en": "The case engine is unavailable; try again shortly.",
    },
    "internal_error": {
        "zh-CN": "系统内部错误，案件未作任何改动。",
        "en": "Internal error; the case is unchanged.",
    },
}


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
    """zh-CN unless the caller prefers English (the first Accept-Language tag decides)."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh-CN"
    return "zh-CN"


def message(error_type: str, lang: str, params: Mapping[str, str]) -> str:
    templates = MESSAGES.get(error_type)
    if templates is None and error_type in Refusal._value2member_map_:
        templates = REFUSAL_MESSAGES[Refusal(error_type)]
    if templates is None:
        templates = MESSAGES["internal_error"]
    try:
        return templates.get(lang, templates["zh-CN"]).format(**params)
    except (KeyError, IndexError):
        return templates.get(lang, templates["zh-CN"])


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
        }.get(error.status_code, "validation_error")
        return error_response(request, error.status_code, error_type, headers=error.headers)


ERROR_DESCRIPTIONS = {
    401: "Not signed in, or the token is invalid or expired.",
    403: "The caller's role or scope does not allow this.",
    404: "No such case (or not visible to the caller).",
    409: "The case refuses the action now; `error.type` says why.",
    422: "The request body or parameters are malformed.",
    503: "The case engine or calendar data is unavailable; retry later.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer."""
    return {
        code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }
