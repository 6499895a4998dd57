"""Who is acting, and which cases they may see: the rules the API and the console share."""

from pydantic import BaseModel, ConfigDict

from domain.model import Actor, Role
from domain.state import CaseState
from store.queries import Visibility


class Principal(BaseModel):
    """A signed-in person (or a department's system, or a resident by lookup code)."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    role: Role
    department: str | None = None
    grids: frozenset[str] = frozenset()
    display_name: str = ""

    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, role=self.role, department=self.department)


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
