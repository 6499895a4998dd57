"""The only writer of the read model: the case workflow calls it after every change."""

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.calendar import WorkingCalendar
from domain.projection import CaseProjection, ChangesProjected, ProjectChanges
from store.projection import write_projection
from store.webhooks import departments_with_webhooks


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

    @activity.defn(name="project_changes")
    def project_changes(self, changes: ProjectChanges) -> ChangesProjected:
        notified = changes.notified_departments
        with self._sessions.begin() as session:
            write_projection(session, changes.projection, self._calendar, self._review_working_days)
            listening = departments_with_webhooks(session, notified) if notified else set()
        return ChangesProjected(listening_departments=tuple(sorted(listening)))

    @activity.defn(name="project_case")
    def project_case(self, projection: CaseProjection) -> None:
        """For case runs begun before `project_changes` (workflows.case)."""
        with self._sessions.begin() as session:
            write_projection(session, projection, self._calendar, self._review_working_days)
