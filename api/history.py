"""Temporal's record of a case, for auditors and coordinators: its runs, each run's raw event
history, the case's state as of any moment, and whether the current code replays it."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime

from api.auth import CurrentPrincipal
from api.cases import CaseNo
from api.deps import SettingsDep, TemporalDep
from api.errors import error_responses
from api.views import CaseDetail, CaseEventView, View
from domain.model import Role
from gridloop import auditing

router = APIRouter(prefix="/v1/cases", tags=["audit"])

RunId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
RAW_HISTORY = {
    "type": "object",
    "description": "Temporal's History message in its JSON form (proto3 JSON mapping)",
    "properties": {"events": {"type": "array", "items": {"type": "object"}}},
}


class RunView(View):
    run_id: str
    number: int
    started_at: datetime
    last_event_at: datetime
    events: int


class CaseAsOf(View):
    as_of: datetime
    state_at: datetime
    run_id: str
    last_event_id: int
    case: CaseDetail
    events: list[CaseEventView]


class RunReplayView(View):
    run_id: str
    number: int
    events: int
    deterministic: bool
    failure: str | None


class CaseReplayView(View):
    case_no: str
    deterministic: bool
    runs: list[RunReplayView]


@router.get(
    "/{case_no}/history",
    summary="The runs of the case's workflow, oldest first",
    responses=error_responses(401, 403, 404, 503),
)
async def case_history(
    case_no: CaseNo, principal: CurrentPrincipal, client: TemporalDep
) -> list[RunView]:
    """A case continues as new when its history grows long: each run is a part of its record."""
    runs = await auditing.case_runs(client, principal, case_no)
    return [
        RunView(
            run_id=run.run_id,
            number=run.number,
            started_at=run.started_at,
            last_event_at=run.last_event_at,
            events=run.events,
        )
        for run in runs
    ]


@router.get(
    "/{case_no}/history/{run_id}",
    summary="One run's raw Temporal event history (as `temporal workflow show --output json`)",
    responses={
        200: {"content": {"application/json": {"schema": RAW_HISTORY}}},
        **error_responses(401, 403, 404, 503),
    },
)
async def raw_history(
    case_no: CaseNo, run_id: RunId, principal: CurrentPrincipal, client: TemporalDep
) -> Response:
    filename, text = await auditing.run_download(client, principal, case_no, run_id)
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{case_no}/as-of",
    summary="The case as its workflow held it at a past moment, rebuilt by replaying history",
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def case_as_of(
    case_no: CaseNo,
    principal: CurrentPrincipal,
    client: TemporalDep,
    settings: SettingsDep,
    at: Annotated[AwareDatetime, Query(description="the moment, with its time zone")],
) -> CaseAsOf:
    """Replays the case's Temporal history up to `at` with the current workflow code: the stage,
    assignments, deadlines and signatures of that moment, and the timeline up to it."""
    zone = ZoneInfo(settings.timezone)
    state = await auditing.state_as_of(client, principal, case_no, at, zone)
    case = state.snapshot.case
    return CaseAsOf(
        as_of=state.as_of,
        state_at=state.state_at,
        run_id=state.run_id,
        last_event_id=state.last_event_id,
        case=CaseDetail.of(
            case, state.snapshot.flags, with_reporter=principal.role is Role.COORDINATOR
        ),
        events=[CaseEventView.of_event(event) for event in case.events],
    )


@router.post(
    "/{case_no}/replay",
    summary="Replay the case's history against the current workflow code",
    responses=error_responses(401, 403, 404, 503),
)
async def replay_case(
    case_no: CaseNo, principal: CurrentPrincipal, client: TemporalDep
) -> CaseReplayView:
    """`deterministic: false` means a worker running this code could not carry the case on:
    `failure` says where its decisions differ from the recorded ones."""
    result = await auditing.replay_case(client, principal, case_no)
    return CaseReplayView(
        case_no=result.case_no,
        deterministic=result.deterministic,
        runs=[
            RunReplayView(
                run_id=run.run_id,
                number=run.number,
                events=run.events,
                deterministic=run.failure is None,
                failure=run.failure,
            )
            for run in result.runs
        ],
    )
