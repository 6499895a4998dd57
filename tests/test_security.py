"""Security properties: how passwords are stored, that guessing them is throttled, that tokens
can be taken back, and that a reporter's name and phone go nowhere they should not: not into
logs, Temporal's search attributes or memo, or the public progress page."""

import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from gridloop import tokens
from gridloop.admission import LoginThrottle, Throttled
from gridloop.http import create_app
from gridloop.settings import Settings
from store.models import UserRecord
from store.reference import PASSWORDS
from tests.api_driver import COORDINATOR, GRID_WORKER, HEALTH, TEST_SECRET_KEY, ApiDriver
from tests.console_driver import Console
from workflows.case import workflow_id

pytestmark = pytest.mark.faults

PER_USERNAME, PER_ADDRESS = 3, 7
TOKEN = "/api/v1/auth/token"
AUDITOR_NAME = "auditor"


@pytest_asyncio.fixture
async def auth_app(
    demo_county: sessionmaker[Session], tmp_path: Path
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app without Temporal (sign-in needs none) and with low sign-in limits."""
    settings = Settings(
        data_dir=tmp_path,
        secret_key=TEST_SECRET_KEY,
        login_failures_per_username=PER_USERNAME,
        login_failures_per_address=PER_ADDRESS,
    )
    app = create_app(settings, None, demo_county)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gridloop.test") as http:
        yield app, http


def _user(sessions: sessionmaker[Session], role: str = "department") -> str:
    """A user of the test's own, so that deactivating it touches no other test."""
    username = f"sec{uuid.uuid4().hex[:10]}"
    with sessions.begin() as session:
        session.add(
            UserRecord(
                username=username,
                display_name="安全测试",
                role=role,
                department_code=HEALTH if role == "department" else None,
                grid_codes=[],
                password_hash=PASSWORDS.hash(username),
                active=True,
            )
        )
    return username


def test_passwords_are_stored_as_argon2id_hashes(demo_county: sessionmaker[Session]) -> None:
    with demo_county() as session:
        users = session.query(UserRecord).all()
    assert users
    for user in users:
        assert user.password_hash.startswith("$argon2id$v=19$"), user.username
        assert user.username not in user.password_hash
        assert PasswordHasher().verify(user.password_hash, user.username)


async def test_token_sign_in_is_throttled_per_username(
    auth_app: tuple[Any, httpx.AsyncClient],
) -> None:
    _, http = auth_app
    for _ in range(PER_USERNAME):
        wrong = await http.post(TOKEN, data={"username": AUDITOR_NAME, "password": "guess"})
        assert wrong.status_code == 401
    for password in ("guess", AUDITOR_NAME):  # now even the right password is not checked
        refused = await http.post(TOKEN, data={"username": AUDITOR_NAME, "password": password})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "too_many_attempts"
        assert 0 < int(refused.headers["Retry-After"]) <= 900
    # Another user from the same address is not locked out by someone else's failures.
    other = await http.post(TOKEN, data={"username": COORDINATOR, "password": COORDINATOR})
    assert other.status_code == 200


async def test_token_sign_in_is_throttled_per_address(
    auth_app: tuple[Any, httpx.AsyncClient],
) -> None:
    _, http = auth_app
    for number in range(PER_ADDRESS):  # one failure each, under every username's own limit
        wrong = await http.post(TOKEN, data={"username": f"nobody{number}", "password": "x"})
        assert wrong.status_code == 401
    refused = await http.post(TOKEN, data={"username": COORDINATOR, "password": COORDINATOR})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


async def test_console_sign_in_shares_the_throttle(
    auth_app: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = auth_app
    browser = Console(app, "en")
    try:
        for _ in range(PER_USERNAME):
            assert (await browser.sign_in(GRID_WORKER, "guess")).status_code == 401
        refused = await browser.sign_in(GRID_WORKER)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins" in refused.text
        # The API's token endpoint counts the same failures.
        api = await http.post(TOKEN, data={"username": GRID_WORKER, "password": GRID_WORKER})
        assert api.status_code == 429
    finally:
        await browser.close()


def test_the_throttle_forgets_failures_after_its_window_and_on_success() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_username=2, per_address=5, window_seconds=60, clock=lambda: now[0])
    throttle.failed("Alice", "10.0.0.1")
    now[0] += 30
    throttle.failed("alice", "10.0.0.2")  # usernames count without regard to case
    with pytest.raises(Throttled) as throttled:
        throttle.check("ALICE", "10.0.0.3")
    assert throttled.value.retry_after == 30  # when the first failure leaves the window
    now[0] += 30
    throttle.check("alice", "10.0.0.3")  # the first failure has left the window
    throttle.failed("alice", "10.0.0.1")
    throttle.succeeded("alice")
    throttle.check("alice", "10.0.0.1")


async def test_a_revoked_department_api_token_stops_at_once(
    auth_app: tuple[Any, httpx.AsyncClient], demo_county: sessionmaker[Session]
) -> None:
    _, http = auth_app
    name = f"security-{uuid.uuid4().hex[:8]}"
    with demo_county.begin() as session:
        issued = tokens.create_token(session, HEALTH, name)
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert (await http.get("/api/v1/cases", headers=headers)).status_code == 200
    with demo_county.begin() as session:
        assert tokens.revoke_token(session, HEALTH, name)
        stored = [t for t in tokens.list_tokens(session) if t.name == name]
    refused = await http.get("/api/v1/cases", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "not_authenticated"
    assert stored[0].revoked_at is not None
    assert issued.token not in repr(stored)  # only the hash is stored


async def test_a_deactivated_users_bearer_token_stops_at_once(
    auth_app: tuple[Any, httpx.AsyncClient], demo_county: sessionmaker[Session]
) -> None:
    _, http = auth_app
    username = _user(demo_county)
    signed_in = await http.post(TOKEN, data={"username": username, "password": username})
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert (await http.get("/api/v1/cases", headers=headers)).status_code == 200
    with demo_county.begin() as session:
        user = session.get(UserRecord, username)
        assert user is not None
        user.active = False
    assert (await http.get("/api/v1/cases", headers=headers)).status_code == 401
    again = await http.post(TOKEN, data={"username": username, "password": username})
    assert again.status_code == 401


async def test_a_forged_or_expired_bearer_token_is_refused(
    auth_app: tuple[Any, httpx.AsyncClient],
) -> None:
    import jwt  # only here: the test forges tokens as an attacker would

    _, http = auth_app
    forged = jwt.encode(
        {"sub": COORDINATOR, "exp": 4102444800},
        "not-the-signing-key-but-as-long-as-one-0123",
        "HS256",
    )
    expired = jwt.encode({"sub": COORDINATOR, "exp": 946684800}, TEST_SECRET_KEY, "HS256")
    unsigned = jwt.encode({"sub": COORDINATOR, "exp": 4102444800}, "", "none")
    for token in (forged, expired, unsigned, "gl_not-a-token"):
        answer = await http.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token


# ---- personal data -------------------------------------------------------------------------


@pytest.mark.devserver
async def test_reporter_contact_details_stay_out_of_logs_search_attributes_and_public_page(
    api: ApiDriver, console: Any, captured_logs: io.StringIO
) -> None:
    name, phone = "隐私测试人甲", "13912345678"
    reported = await api.report(GRID_WORKER, reporter_name=name, reporter_phone=phone)
    case_no, code = reported["case_no"], reported["lookup_code"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": HEALTH})
    await api.act(HEALTH, case_no, "sign", {})
    await api.act(HEALTH, case_no, "notes", {"note": "已联系"})
    await api.act(HEALTH, case_no, "complete", {"result": "已处理"})
    refused = await api.call("POST", f"/api/v1/cases/{case_no}/sign", HEALTH, json={})
    assert refused.status_code == 409  # a refusal is logged too, if anything is
    await api.wait_projected(case_no)

    # The coordinator sees them: they are really in the case.
    reporter = (await api.case(COORDINATOR, case_no))["reporter"]
    assert (reporter["name"], reporter["phone"]) == (name, phone)

    public = await api.call("GET", f"/api/v1/public/cases/{code}")
    assert public.status_code == 200
    browser: Console = await console(COORDINATOR)
    track = await browser.page(f"/track/{code}")
    handle = api.env.client.get_workflow_handle(workflow_id(case_no))
    description = await handle.describe()
    attributes = [str(pair.value) for pair in description.typed_search_attributes]
    memo = str(await description.memo())

    logs = captured_logs.getvalue()
    assert case_no in logs, "the case was never logged: the scan would prove nothing"
    for where, text in {
        "logs": logs,
        "search attributes": " ".join(attributes),
        "memo": memo,
        "public API page": public.text,
        "public console page": track.text,
    }.items():
        for secret in (name, phone, json.dumps(name)[1:-1]):  # also as \\u escapes
            assert secret not in text, f"{secret} in {where}"
    assert attributes, "the workflow has search attributes to scan"
