"""Every action × every kind of caller. The expected table is written out here by hand, not
taken from the code, and every refused attempt must leave the case as it was."""

from typing import Any

import httpx

from api.actions import ACTIONS, URGE_EXAMPLE
from gridloop import tokens
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    GRID_WORKER,
    HEALTH,
    MARKET,
    OTHER_GRID_WORKER,
    ApiDriver,
)

MARKET_TOKEN, NOBODY = "market via API token", "no token"
CALLERS = (
    COORDINATOR,
    AUDITOR,
    GRID_WORKER,
    OTHER_GRID_WORKER,
    MARKET,
    MARKET_TOKEN,
    HEALTH,
    NOBODY,
)
DEPARTMENT = {MARKET, MARKET_TOKEN}  # the department the case is dispatched to

# Who may send each action (the case may still refuse it for its state: 409).
ALLOWED: dict[str, set[str]] = {
    "resolve-on-site": {GRID_WORKER},
    "dispatch": {COORDINATOR},
    "consultation": {COORDINATOR},
    "consultation/decision": {COORDINATOR},
    "escalate": {COORDINATOR},
    "sign": DEPARTMENT,
    "complete": DEPARTMENT,
    "return": DEPARTMENT,
    "reassign": {COORDINATOR},
    "withdraw": {COORDINATOR},
    "notes": {COORDINATOR, GRID_WORKER} | DEPARTMENT,
    "extension": DEPARTMENT,
    "extension/decision": {COORDINATOR},
    "suspend": {COORDINATOR},
    "resume": {COORDINATOR},
    "final-reply": DEPARTMENT,
    "verification": {COORDINATOR, GRID_WORKER},
    "feedback": {COORDINATOR},
    "follow-up": {COORDINATOR, GRID_WORKER},
    "review": {AUDITOR},
    "urge": {COORDINATOR},
}
DEPARTMENT_ACTIONS = {"sign", "complete", "return", "notes", "extension", "final-reply"}
GRID_WORKER_ACTIONS = {"resolve-on-site", "notes", "verification", "follow-up"}
BODIES: dict[str, dict[str, Any]] = {a.path: a.example for a in ACTIONS} | {"urge": URGE_EXAMPLE}


def expected_refusal(action: str, caller: str) -> tuple[int, set[str]] | None:
    """None when the caller may send the action; else the status and error types expected."""
    if caller in ALLOWED[action]:
        return None
    if caller == NOBODY:
        return 401, {"not_authenticated"}
    if caller == HEALTH and action in DEPARTMENT_ACTIONS:
        return 409, {"not_assigned", "not_lead"}  # a department, but not this case's
    if caller == OTHER_GRID_WORKER and action in GRID_WORKER_ACTIONS:
        return 403, {"grid_not_yours"}
    return 403, {"not_permitted"}


async def attempt(
    api: ApiDriver, caller: str, action: str, case_no: str, token: str
) -> httpx.Response:
    path, body = f"/api/v1/cases/{case_no}/{action}", BODIES[action]
    if caller == NOBODY:
        return await api.call("POST", path, json=body)
    if caller == MARKET_TOKEN:
        return await api.call("POST", path, json=body, token=token)
    return await api.call("POST", path, caller, json=body)


async def test_every_action_by_every_caller(api: ApiDriver) -> None:
    assert set(BODIES) == set(ALLOWED), "a new action needs its row in ALLOWED"
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    with api.sessions.begin() as session:
        token = tokens.create_token(session, MARKET, f"matrix-{api.key()[:8]}").token
    before = await api.events(COORDINATOR, case_no)

    allowed: list[tuple[str, str]] = []
    for action in ALLOWED:
        for caller in CALLERS:
            refusal = expected_refusal(action, caller)
            if refusal is None:
                allowed.append((action, caller))
                continue
            response = await attempt(api, caller, action, case_no, token)
            status, types = refusal
            assert response.status_code == status, (action, caller, response.text)
            assert response.json()["error"]["type"] in types, (action, caller, response.text)
    assert await api.events(COORDINATOR, case_no) == before

    # The rest pass the authorisation; the case decides (2xx, or 409 for its state).
    for action, caller in allowed:
        response = await attempt(api, caller, action, case_no, token)
        assert response.status_code not in (401, 403, 422), (action, caller, response.text)
        if response.status_code == 409:
            assert response.json()["error"]["type"] != "not_permitted"


async def test_who_may_read_a_case(api: ApiDriver) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.wait_projected(case_no)
    for caller, status in (
        (COORDINATOR, 200),
        (AUDITOR, 200),
        (GRID_WORKER, 200),
        (MARKET, 200),
        (OTHER_GRID_WORKER, 404),
        (HEALTH, 404),
    ):
        for path in (f"/api/v1/cases/{case_no}", f"/api/v1/cases/{case_no}/events"):
            response = await api.call("GET", path, caller)
            assert response.status_code == status, (caller, path, response.text)
        listed = await api.call("GET", "/api/v1/cases", caller, params={"text": case_no})
        assert (case_no in listed.text) is (status == 200), caller
    for path in ("/api/v1/cases", f"/api/v1/cases/{case_no}", "/api/v1/stats"):
        assert (await api.call("GET", path)).status_code == 401
