"""Reference data: the organisation file format, seeding it, and the snapshots cases take.

The demo county (`store/seed/jiashan.toml`) is seeded on first start; an operator's own file in
the same format replaces it in production.
"""

import tomllib
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.model import Role, SlaPolicy, Urgency
from store.models import (
    CategoryPolicyRecord,
    CategoryRecord,
    CommunityRecord,
    DepartmentRecord,
    GridRecord,
    TownRecord,
    UserRecord,
)

DEMO_COUNTY = Path(__file__).parent / "seed" / "jiashan.toml"
CODE_PATTERN = r"^[a-z0-9_]{1,64}$"
PASSWORDS = PasswordHasher()


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class County(Entry):
    code: str = Field(pattern=CODE_PATTERN)
    name: str
    name_en: str


class Community(Entry):
    code: str = Field(pattern=CODE_PATTERN)
    name: str
    name_en: str
    kind: str = Field(pattern="^(community|village)$")
    grids: int = Field(ge=1, le=60)
    grid_leader: str
    instructor: str
    full_time_worker: str
    part_time_workers: tuple[str, ...]


class Town(Entry):
    code: str = Field(pattern=CODE_PATTERN)
    name: str
    name_en: str
    kind: str = Field(pattern="^(street|town)$")
    communities: tuple[Community, ...] = Field(min_length=1)


class Department(Entry):
    code: str = Field(pattern=CODE_PATTERN)
    name: str
    name_en: str
    tier: str = Field(pattern="^(county|town)$")


class Policy(Entry):
    sign_for_hours: float
    handling_days: int
    consultation_days: int
    feedback_days: int
    final_reply_hours: float
    verification_days: int
    warning_ratio: float
    escalation_grace_hours: float
    max_rehandling_rounds: int
    repeated_return_threshold: int
    review_sampling_rate: float


class Category(Entry):
    code: str = Field(pattern=CODE_PATTERN)
    name: str
    name_en: str
    lead: str
    co_handlers: tuple[str, ...]
    follow_up_days: tuple[int, ...]
    policies: dict[Urgency, Policy]

    @model_validator(mode="after")
    def _every_urgency_has_a_valid_policy(self) -> "Category":
        if set(self.policies) != set(Urgency):
            raise ValueError(
                f"category {self.code}: a policy for each of {[u.value for u in Urgency]}"
            )
        for urgency in Urgency:
            snapshot(self, urgency)  # raises if a value is out of range
        return self


class Organisation(Entry):
    county: County
    towns: tuple[Town, ...] = Field(min_length=1)
    departments: tuple[Department, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> "Organisation":
        departments = {d.code for d in self.departments}
        for category in self.categories:
            unknown = {category.lead, *category.co_handlers} - departments
            if unknown:
                raise ValueError(f"category {category.code}: unknown departments {sorted(unknown)}")
        codes = [t.code for t in self.towns] + [c.code for t in self.towns for c in t.communities]
        if len(codes) != len(set(codes)):
            raise ValueError("town and community codes must be unique")
        return self


def load_organisation(path: Path) -> Organisation:
    return Organisation.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


def snapshot(category: Category, urgency: Urgency) -> SlaPolicy:
    return _sla_policy(category.policies[urgency], category.follow_up_days)


def _sla_policy(policy: Policy, follow_up_days: Sequence[int]) -> SlaPolicy:
    return SlaPolicy(
        **policy.model_dump(), follow_up_after=tuple(timedelta(days=d) for d in follow_up_days)
    )


# ---- seeding ------------------------------------------------------------------------------


def seed_organisation(session: Session, organisation: Organisation) -> bool:
    """Insert the organisation and its demo users into an empty database; False if not empty."""
    if session.scalar(select(func.count()).select_from(TownRecord)):
        return False
    for town in organisation.towns:
        session.add(
            TownRecord(code=town.code, name=town.name, name_en=town.name_en, kind=town.kind)
        )
        session.flush()  # no ORM relationships: parents are written before children
        for community in town.communities:
            session.add(
                CommunityRecord(
                    code=community.code,
                    town_code=town.code,
                    name=community.name,
                    name_en=community.name_en,
                    kind=community.kind,
                )
            )
            session.flush()
            session.add_all(_grids(town, community))
    session.add_all(
        DepartmentRecord(code=d.code, name=d.name, name_en=d.name_en, tier=d.tier)
        for d in organisation.departments
    )
    session.flush()
    for category in organisation.categories:
        session.add(
            CategoryRecord(
                code=category.code,
                name=category.name,
                name_en=category.name_en,
                lead_department=category.lead,
                co_departments=list(category.co_handlers),
                follow_up_days=list(category.follow_up_days),
            )
        )
        session.flush()
        session.add_all(
            CategoryPolicyRecord(
                category_code=category.code, urgency=urgency.value, **p.model_dump()
            )
            for urgency, p in category.policies.items()
        )
    session.add_all(_demo_users(organisation))
    return True


def _grids(town: Town, community: Community) -> list[GridRecord]:
    return [
        GridRecord(
            code=f"{community.code}_g{number:02d}",
            community_code=community.code,
            town_code=town.code,
            name=f"{community.name}第{number}网格",
            name_en=f"{community.name_en} grid {number}",
            leader=community.grid_leader,
            instructor=community.instructor,
            full_time_worker=community.full_time_worker,
            part_time_workers=list(community.part_time_workers),
        )
        for number in range(1, community.grids + 1)
    ]


def _demo_users(organisation: Organisation) -> list[UserRecord]:
    """One user per role and per department; each demo password is the username."""
    first = organisation.towns[0].communities[0]
    first_grids = [f"{first.code}_g{n:02d}" for n in range(1, first.grids + 1)]
    people: list[tuple[str, str, Role, str | None, list[str]]] = [
        ("coordinator", "指挥室值班员", Role.COORDINATOR, None, []),
        ("auditor", "督查室督查员", Role.AUDITOR, None, []),
        ("gridworker", first.full_time_worker, Role.GRID_WORKER, None, first_grids),
    ] + [(d.code, d.name, Role.DEPARTMENT, d.code, []) for d in organisation.departments]
    return [
        UserRecord(
            username=username,
            display_name=display_name,
            role=role.value,
            department_code=department,
            grid_codes=grids,
            password_hash=PASSWORDS.hash(username),
            active=True,
        )
        for username, display_name, role, department, grids in people
    ]


def users_with_demo_passwords(session: Session) -> list[str]:
    """Users whose password is still their username: production refuses to start with any."""
    weak = []
    for user in session.scalars(select(UserRecord).where(UserRecord.active)):
        try:
            PASSWORDS.verify(user.password_hash, user.username)
        except VerificationError:
            continue
        weak.append(user.username)
    return weak


# ---- what a new case takes from the reference data ----------------------------------------


def policy_snapshot(session: Session, category_code: str, urgency: Urgency) -> SlaPolicy | None:
    category = session.get(CategoryRecord, category_code)
    policy = session.get(CategoryPolicyRecord, (category_code, urgency.value))
    if category is None or policy is None:
        return None
    values = {name: getattr(policy, name) for name in Policy.model_fields}
    return _sla_policy(Policy(**values), category.follow_up_days)
