"""Display names of the reference codes (departments, categories, towns, grids), read once and
kept: the organisation changes when an operator reloads it, not while cases run."""

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import CategoryRecord, DepartmentRecord, GridRecord, TownRecord, UserRecord


@dataclass
class Names:
    departments: dict[str, tuple[str, str]] = field(default_factory=dict)
    categories: dict[str, tuple[str, str]] = field(default_factory=dict)
    towns: dict[str, tuple[str, str]] = field(default_factory=dict)
    grids: dict[str, tuple[str, str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, sessions: sessionmaker[Session]) -> "Names":
        with sessions() as session:
            return cls(
                departments={
                    r.code: (r.name, r.name_en) for r in session.scalars(select(DepartmentRecord))
                },
                categories={
                    r.code: (r.name, r.name_en) for r in session.scalars(select(CategoryRecord))
                },
                towns={r.code: (r.name, r.name_en) for r in session.scalars(select(TownRecord))},
                grids={r.code: (r.name, r.name_en) for r in session.scalars(select(GridRecord))},
                users={r.username: r.display_name for r in session.scalars(select(UserRecord))},
            )

    def of(self, kind: str, code: str | None, language: str) -> str:
        """The name of `code` in the language, or the code itself if it is not known."""
        if code is None:
            return ""
        if kind == "user":
            return self.users.get(code, code)
        table: dict[str, tuple[str, str]] = getattr(
            self, f"{kind}s" if kind != "category" else "categories"
        )
        names = table.get(code)
        if names is None:
            return code
        return names[0] if language == "zh-CN" else names[1]


def names_of(request: Request) -> Names:
    """The application's names, read on first use."""
    names: Names | None = getattr(request.app.state, "names", None)
    if names is None:
        names = request.app.state.names = Names.load(request.app.state.sessions)
    return names
