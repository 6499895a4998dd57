"""Reference data: departments, categories with their routing and SLA policies, grids."""

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import SessionDep
from domain.model import Urgency
from store.models import (
    CategoryPolicyRecord,
    CategoryRecord,
    DepartmentRecord,
    GridRecord,
)

router = APIRouter(prefix="/v1", tags=["reference data"])


class Department(BaseModel):
    code: str
    name: str
    name_en: str
    tier: str


class Policy(BaseModel):
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


class Category(BaseModel):
    code: str
    name: str
    name_en: str
    lead_department: str
    co_departments: list[str]
    follow_up_days: list[int]
    policies: dict[Urgency, Policy]


class Grid(BaseModel):
    code: str
    name: str
    name_en: str
    community: str
    town: str
    leader: str
    instructor: str
    full_time_worker: str
    part_time_workers: list[str]


@router.get("/departments", summary="Departments that handle cases")
def departments(session: SessionDep) -> list[Department]:
    records = session.scalars(select(DepartmentRecord).order_by(DepartmentRecord.code))
    return [Department.model_validate(r, from_attributes=True) for r in records]


@router.get("/categories", summary="Case categories with routing rules and SLA policies")
def categories(session: SessionDep) -> list[Category]:
    policies: dict[str, dict[Urgency, Policy]] = {}
    for record in session.scalars(select(CategoryPolicyRecord)):
        policies.setdefault(record.category_code, {})[Urgency(record.urgency)] = (
            Policy.model_validate(record, from_attributes=True)
        )
    return [
        Category(
            code=r.code,
            name=r.name,
            name_en=r.name_en,
            lead_department=r.lead_department,
            co_departments=r.co_departments,
            follow_up_days=r.follow_up_days,
            policies=policies.get(r.code, {}),
        )
        for r in session.scalars(select(CategoryRecord).order_by(CategoryRecord.code))
    ]


@router.get("/grids", summary="Grids, optionally of one town or community")
def grids(
    session: SessionDep,
    town: str | None = Query(default=None, max_length=64, description="town code"),
    community: str | None = Query(default=None, max_length=64, description="community code"),
) -> list[Grid]:
    query = select(GridRecord).order_by(GridRecord.code)
    if town is not None:
        query = query.where(GridRecord.town_code == town)
    if community is not None:
        query = query.where(GridRecord.community_code == community)
    return [
        Grid(
            code=r.code,
            name=r.name,
            name_en=r.name_en,
            community=r.community_code,
            town=r.town_code,
            leader=r.leader,
            instructor=r.instructor,
            full_time_worker=r.full_time_worker,
            part_time_workers=r.part_time_workers,
        )
        for r in session.scalars(query)
    ]
