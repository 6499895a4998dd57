"""Who may read Temporal's record of a case, and its failures as refusals: shared by the HTTP API
and the console. Auditors and coordinators see every case's history; nobody else does, since the
raw history carries the reporter's contact details."""

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio.client import Client
from temporalio.service import RPCError

from domain.model import Role
from gridloop import history, replay
from gridloop.access import Principal
from gridloop.service import RefusalKind, Refused

AUDITING_ROLES = frozenset({Role.AUDITOR, Role.COORDINATOR})


def require_auditing(principal: Principal) -> None:
    if principal.role not in AUDITING_ROLES:
        raise Refused(RefusalKind.FORBIDDEN, "forbidden")


async def case_runs(client: Client, principal: Principal, case_no: str) -> list[history.CaseRun]:
    require_auditing(principal)
    async with _history_errors(case_no):
        return await history.case_runs(client, case_no)


async def run_download(
    client: Client, principal: Principal, case_no: str, run_id: str
) -> tuple[str, str]:
    """One run's raw history as a JSON file in the `temporal workflow show --output json`
    format: its file name and its text."""
    runs = await case_runs(client, principal, case_no)
    run = next((run for run in runs if run.run_id == run_id), None)
    if run is None:
        raise Refused(RefusalKind.NOT_FOUND, "not_found")
    text = json.dumps(run.history.to_json_dict(), ensure_ascii=False, indent=2)
    return f"{case_no}.run{run.number}.json", text


async def state_as_of(
    client: Client, principal: Principal, case_no: str, moment: datetime, zone: ZoneInfo
) -> history.StateAsOf:
    """`zone` is the one refusals name moments in."""
    require_auditing(principal)
    if moment.tzinfo is None:
        raise Refused(RefusalKind.INVALID, "naive_moment", {"moment": moment.isoformat()})
    async with _history_errors(case_no):
        try:
            return await history.state_as_of(client, case_no, moment)
        except history.NotReplayable as diverged:
            refusal = Refused(RefusalKind.CONFLICT, "case_not_replayable", {"case_no": case_no})
            raise refusal from diverged
        except history.NoStateYet as early:
            raise Refused(
                RefusalKind.CONFLICT,
                "case_not_yet_reported",
                {
                    "case_no": case_no,
                    "first_state_at": f"{early.first_state_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                },
            ) from early


async def replay_case(client: Client, principal: Principal, case_no: str) -> replay.CaseReplay:
    require_auditing(principal)
    async with _history_errors(case_no):
        summary = await replay.replay_cases(client, [case_no])
    result = summary.cases[0]
    if result.error is not None and not result.runs:
        raise Refused(RefusalKind.NOT_FOUND, "case_not_found", {"case_no": case_no})
    return result


@contextlib.asynccontextmanager
async def _history_errors(case_no: str) -> AsyncIterator[None]:
    try:
        yield
    except history.CaseHistoryNotFound as missing:
        raise Refused(RefusalKind.NOT_FOUND, "case_not_found", {"case_no": case_no}) from missing
    except RPCError as failed:
        raise Refused(RefusalKind.UNAVAILABLE, "temporal_unavailable") from failed
