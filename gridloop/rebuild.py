"""`gridloop rebuild-projection`: recreate every case's read-model rows from Temporal.

Temporal holds the truth; the rows are a pure function of each case's state, so a rebuild after
a lost or damaged database gives the same rows the projection activity wrote step by step.
"""

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from domain.calendar import WorkingCalendar
from domain.projection import project
from gridloop import cases
from store import tallies
from store.models import AssignmentRecord, CaseEventRecord, CaseRecord, ReviewRecord
from store.projection import write_projection


async def rebuild_projection(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    calendar: WorkingCalendar,
    *,
    review_working_days: int,
) -> int:
    """Rebuild the rows of every case on `task_queue`; returns how many cases were written.

    A worker must be polling that task queue: the state of each case is read by query. The rows
    are written afresh, so every case's event hash chain comes out sealed and intact.
    `review_working_days` must be the worker's, or review deadlines would differ from its.
    """
    query = f"WorkflowType = 'CaseWorkflow' AND TaskQueue = '{task_queue}'"
    listed = client.list_workflows(query)
    case_numbers = sorted({execution.id.removeprefix("case-") async for execution in listed})
    for case_no in case_numbers:
        snapshot = await cases.read_case(cases.case_handle(client, case_no))
        with sessions.begin() as session:
            _forget_case(session, case_no, calendar)
            write_projection(session, project(snapshot.case), calendar, review_working_days)
    with sessions.begin() as session:
        # Tallies damaged with the rows, or counted in another time zone, come out exact.
        tallies.recount(session, calendar.zone)
    return len(case_numbers)


def _forget_case(session: Session, case_no: str, calendar: WorkingCalendar) -> None:
    """Drop the case's rows first, so rows that no longer match its state do not linger."""
    tallies.forget(session, case_no, calendar.zone)
    for record in (CaseEventRecord, AssignmentRecord, ReviewRecord):
        session.execute(delete(record).where(record.case_no == case_no))
    session.execute(delete(CaseRecord).where(CaseRecord.case_no == case_no))
