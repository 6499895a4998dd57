"""A case's record in Temporal, for auditors and coordinators (`/cases/{case_no}/history`): its
runs with their raw histories to download, the case page as it stood at any past moment, a
replay check of the current workflow code against it, and the check of its events' hash chain in
the read model."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from gridloop import auditing
from gridloop.service import RefusalKind, Refused
from store.ledger import verify_ledger
from web.pages.cases import CaseNo, render_case_page
from web.render import render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

RunId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
Moment = Annotated[str | None, Query(max_length=32)]
"""`YYYY-MM-DDTHH:MM` in the console's time zone, as a datetime-local input sends it."""


@router.get("/cases/{case_no}/history")
async def history_page(
    request: Request,
    me: SignedIn,
    case_no: CaseNo,
    at: Moment = None,
    replay: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    client = request.app.state.service.client
    runs = await auditing.case_runs(client, me, case_no)
    if at:
        zone = ZoneInfo(request.app.state.settings.timezone)
        state = await auditing.state_as_of(client, me, case_no, _moment(at, zone), zone)
        return render_case_page(
            request, me, state.snapshot.case, state.snapshot.flags, problem=None, as_of=state
        )
    with sessions_of(request)() as session:
        ledger = verify_ledger(session, case_no)
    return render(
        request,
        "case_history.html",
        {
            "case_no": case_no,
            "runs": runs,
            "ledger": ledger,
            "replay": await auditing.replay_case(client, me, case_no) if replay else None,
            "reported_at": runs[0].started_at,
        },
        principal=me,
    )


@router.get("/cases/{case_no}/history/{run_id}.json")
async def download_run(request: Request, me: SignedIn, case_no: CaseNo, run_id: RunId) -> Response:
    client = request.app.state.service.client
    filename, text = await auditing.run_download(client, me, case_no, run_id)
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _moment(text: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as invalid:
        raise Refused(RefusalKind.INVALID, "validation_error") from invalid
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
