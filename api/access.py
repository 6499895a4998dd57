"""What a caller may see and do with a case, and Temporal's failures as HTTP answers."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import status
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal
from api.errors import ApiError, refusal_status
from domain.model import Role
from domain.state import CaseState
from store.queries import Visibility

RETRY_AFTER = {"Retry-After": "5"}
# Temporal answers a client could get while the server or its history is busy or restarting.
_TRANSIENT = (
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
)


def visibility(principal: Principal) -> Visibility:
    """Coordinators and auditors see every case; a department, the cases it has work on; a grid
    worker, the cases in its grids."""
    if principal.role in (Role.COORDINATOR, Role.AUDITOR):
        return Visibility(everything=True)
    if principal.role is Role.DEPARTMENT:
        return Visibility(department=principal.department)
    return Visibility(grids=principal.grids)


def may_see(principal: Principal, case: CaseState) -> bool:
    """The same rule as `visibility`, on the workflow's own state (never behind the read model)."""
    scope = visibility(principal)
    if scope.everything:
        return True
    if scope.department is not None:
        return any(a.department == scope.department for a in case.assignments)
    return case.report.grid in scope.grids


def require_grid(principal: Principal, grid: str) -> None:
    """Grid workers act only in their own grids."""
    if principal.role is Role.GRID_WORKER and grid not in principal.grids:
        raise ApiError(status.HTTP_403_FORBIDDEN, "grid_not_yours", {"grid": grid})


@contextlib.asynccontextmanager
async def temporal_errors(handle: WorkflowHandle[Any, Any], case_no: str) -> AsyncIterator[None]:
    """Turn what the Temporal client raises about one case into the API's errors."""
    try:
        yield
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError) and cause.type and cause.type != "internal_error":
            params = _refusal_params(cause)
            raise ApiError(refusal_status(cause.type), cause.type, params) from failed
        raise ApiError(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal_error") from failed
    except RPCError as failed:
        if failed.status is RPCStatusCode.NOT_FOUND:
            raise await _archived_or_missing(handle, case_no) from failed
        if failed.status in _TRANSIENT:
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE, "temporal_unavailable", headers=RETRY_AFTER
            ) from failed
        raise


async def _archived_or_missing(handle: WorkflowHandle[Any, Any], case_no: str) -> ApiError:
    """An Update to a finished workflow fails like one to a missing workflow: ask which."""
    try:
        await handle.describe()
    except RPCError:
        return not_found(case_no)
    return ApiError(status.HTTP_409_CONFLICT, "case_archived", {"case_no": case_no})


def not_found(case_no: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, "case_not_found", {"case_no": case_no})


def _refusal_params(cause: ApplicationError) -> dict[str, str]:
    details = cause.details[0] if cause.details else None
    if isinstance(details, dict) and isinstance(details.get("params"), dict):
        return {str(k): str(v) for k, v in details["params"].items()}
    return {}
