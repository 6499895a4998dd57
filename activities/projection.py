"""The only writer of the read model: the case workflow calls it after every change."""

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.calendar import WorkingCalendar
from domain.projection import CaseProjection
from store.projection import write_projection


class ProjectionActivities:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        calendar: WorkingCalendar,
        review_working_days: int,
    ) -> None:
        self._sessions = sessions
        self._calendar = calendar
        self._review_working_days = review_working_days

    @activity.defn(name="project_case")
    def project_case(self, projection: CaseProjection) -> None:
        with self._sessions.begin() as session:
            write_projection(session, projection, self._calendar, self._review_working_days)
