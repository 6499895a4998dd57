"""Reference data: the demo county file, seeding it, policy snapshots and demo credentials."""

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.model import Role, Urgency
from gridloop.http import create_app
from gridloop.settings import Settings
from gridloop.stack import DemoCredentialsInProduction, _read_model
from store.models import (
    CategoryRecord,
    CommunityRecord,
    DepartmentRecord,
    GridRecord,
    TownRecord,
    UserRecord,
)
from store.reference import (
    DEMO_COUNTY,
    PASSWORDS,
    load_organisation,
    policy_snapshot,
    seed_organisation,
    snapshot,
    users_with_demo_passwords,
)
from tests.api_driver import TEST_SECRET_KEY


def count(session: Session, record: type) -> int:
    return session.scalar(select(func.count()).select_from(record)) or 0


def test_the_demo_county_is_modelled_on_jiashan() -> None:
    county = load_organisation(DEMO_COUNTY)
    communities = [c for town in county.towns for c in town.communities]
    assert county.county.name == "嘉善县"
    assert len(county.towns) == 9
    assert 35 <= len(communities) <= 45
    assert 455 <= sum(c.grids for c in communities) <= 470
    assert len(county.departments) >= 15
    assert len(county.categories) >= 30
    for category in county.categories:
        policies = [snapshot(category, urgency) for urgency in Urgency]
        hours = [p.sign_for_hours for p in policies]
        days = [p.handling_days for p in policies]
        assert hours == sorted(hours, reverse=True), category.code
        assert days == sorted(days, reverse=True), category.code


def test_seeding_fills_an_empty_database_once(sessions: sessionmaker[Session]) -> None:
    county = load_organisation(DEMO_COUNTY)
    with sessions.begin() as session:
        assert seed_organisation(session, county)
    with sessions.begin() as session:
        assert not seed_organisation(session, county)
        assert count(session, TownRecord) == 9
        assert count(session, CommunityRecord) == sum(len(t.communities) for t in county.towns)
        assert count(session, GridRecord) == sum(
            c.grids for t in county.towns for c in t.communities
        )
        assert count(session, DepartmentRecord) == len(county.departments)
        assert count(session, CategoryRecord) == len(county.categories)
        grid = session.scalars(select(GridRecord).order_by(GridRecord.code)).first()
        assert grid is not None
        assert all((grid.leader, grid.instructor, grid.full_time_worker))  # 一长三员

        category = county.categories[0]
        for urgency in Urgency:
            assert policy_snapshot(session, category.code, urgency) == snapshot(category, urgency)
        assert policy_snapshot(session, "no_such_category", Urgency.NORMAL) is None

        roles = {user.role for user in session.scalars(select(UserRecord))}
        assert roles == {
            r.value for r in (Role.COORDINATOR, Role.AUDITOR, Role.GRID_WORKER, Role.DEPARTMENT)
        }
        grid_worker = session.get(UserRecord, "gridworker")
        assert grid_worker is not None
        assert grid_worker.grid_codes
        assert count(session, UserRecord) == 3 + len(county.departments)


def test_demo_passwords_are_hashed_and_detected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        seed_organisation(session, load_organisation(DEMO_COUNTY))
        coordinator = session.get(UserRecord, "coordinator")
        assert coordinator is not None
        assert coordinator.password_hash.startswith("$argon2")
        assert "coordinator" in users_with_demo_passwords(session)
        coordinator.password_hash = PASSWORDS.hash("a long and private passphrase")
    with sessions() as session:
        assert "coordinator" not in users_with_demo_passwords(session)


def test_production_refuses_to_start_with_demo_credentials(tmp_path: Path) -> None:
    _read_model(Settings(data_dir=tmp_path, environment="development"))
    with pytest.raises(DemoCredentialsInProduction, match="coordinator"):
        _read_model(Settings(data_dir=tmp_path, environment="production"))


def test_production_does_not_seed_demo_data(tmp_path: Path) -> None:
    sessions = _read_model(Settings(data_dir=tmp_path, environment="production"))
    with sessions() as session:
        assert count(session, TownRecord) == 0


def test_a_category_with_an_unknown_department_is_refused(tmp_path: Path) -> None:
    text = DEMO_COUNTY.read_text(encoding="utf-8")
    first_lead = load_organisation(DEMO_COUNTY).categories[0].lead
    broken = tmp_path / "county.toml"
    broken.write_text(text.replace(f'lead = "{first_lead}"', 'lead = "no_such_bureau"', 1))
    with pytest.raises(ValidationError, match="no_such_bureau"):
        load_organisation(broken)


def test_follow_up_days_become_the_policy_schedule() -> None:
    county = load_organisation(DEMO_COUNTY)
    recurring = next(c for c in county.categories if c.follow_up_days)
    policy = snapshot(recurring, Urgency.NORMAL)
    assert policy.follow_up_after == tuple(timedelta(days=d) for d in recurring.follow_up_days)


async def test_reference_data_over_http(sessions: sessionmaker[Session]) -> None:
    county = load_organisation(DEMO_COUNTY)
    with sessions.begin() as session:
        seed_organisation(session, county)
    app = create_app(Settings(secret_key=TEST_SECRET_KEY), None, sessions)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gridloop") as http:
        departments = (await http.get("/api/v1/departments")).json()
        categories = (await http.get("/api/v1/categories")).json()
        first_town = county.towns[0]
        grids = (await http.get("/api/v1/grids", params={"town": first_town.code})).json()
        unknown_town = await http.get("/api/v1/grids", params={"town": "x" * 65})

    assert {d["code"] for d in departments} == {d.code for d in county.departments}
    assert len(categories) == len(county.categories)
    category = next(c for c in categories if c["code"] == county.categories[0].code)
    assert set(category["policies"]) == {u.value for u in Urgency}
    assert category["lead_department"] == county.categories[0].lead
    assert len(grids) == sum(c.grids for c in first_town.communities)
    assert all(g["town"] == first_town.code for g in grids)
    assert unknown_town.status_code == 422
