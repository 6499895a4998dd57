"""Drive gridloop over HTTP as its users do: sign in as a demo user, report, act, read."""

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from store.models import CaseRecord
from tests.histories import HistoryLog
from workflows.case import workflow_id

TEST_SECRET_KEY = "gridloop-test-signing-key-0123456789abcdef"
OTHER_GRID_WORKER = "gridworker2"
# Demo users (password = username): see store/reference.py.
COORDINATOR, AUDITOR, GRID_WORKER = "coordinator", "auditor", "gridworker"
MY_GRID, OTHER_GRID = "luoxing_xinzhou_g01", "weitang_jiachen_g01"
MARKET, ENFORCEMENT, HEALTH = "market_supervision", "comprehensive_enforcement", "health"


def new_case(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "occupy_road_business",
        "urgency": "normal",
        "grid": MY_GRID,
        "address": "罗星街道解放东路 88 号",
        "description": "沿街店铺占道经营，货物堆放至人行道",
        "evidence_urls": ["https://evidence.example/before.jpg"],
        "reporter_name": "张三",
        "reporter_phone": "13800000000",
    }
    body.update(overrides)
    return body


class ApiDriver:
    def __init__(
        self,
        http: httpx.AsyncClient,
        sessions: sessionmaker[Session],
        env: WorkflowEnvironment,
        history_log: HistoryLog,
        app: FastAPI,
    ) -> None:
        self.http = http
        self.app = app
        self.sessions = sessions
        self.env = env
        self.history_log = history_log
        self._tokens: dict[str, str] = {}

    async def token(self, username: str) -> str:
        if username not in self._tokens:
            response = await self.http.post(
                "/api/v1/auth/token", data={"username": username, "password": username}
            )
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        json: Any = None,
        key: str | None = None,
        language: str | None = None,
        token: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if user is not None or token is not None:
            headers["Authorization"] = f"Bearer {token or await self.token(str(user))}"
        if key is not None:
            headers["Idempotency-Key"] = key
        if language is not None:
            headers["Accept-Language"] = language
        return await self.http.request(method, path, json=json, headers=headers, params=params)

    async def report(self, user: str = GRID_WORKER, **fields: Any) -> dict[str, Any]:
        response = await self.call("POST", "/api/v1/cases", user, json=new_case(**fields))
        assert response.status_code == 201, response.text
        reported: dict[str, Any] = response.json()
        self.noted(reported["case_no"])
        return reported

    def noted(self, case_no: str) -> None:
        """Cases made over HTTP are replayed by the replay test like any other."""
        self.history_log.add(self.env.client, workflow_id(case_no))

    async def act(
        self,
        user: str,
        case_no: str,
        action: str,
        body: dict[str, Any] | None = None,
        *,
        expect: int = 200,
        key: str | None = None,
    ) -> dict[str, Any]:
        response = await self.call(
            "POST", f"/api/v1/cases/{case_no}/{action}", user, json=body, key=key
        )
        assert response.status_code == expect, f"{action} by {user}: {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    async def case(self, user: str, case_no: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/v1/cases/{case_no}", user)
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    async def events(self, user: str, case_no: str) -> list[dict[str, Any]]:
        await self.wait_projected(case_no)
        response = await self.call("GET", f"/api/v1/cases/{case_no}/events", user)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()
        return events

    async def wait_projected(self, case_no: str) -> CaseRecord:
        """Until the read model holds the case as of its last business event."""
        version = (await self.case(COORDINATOR, case_no))["version"]
        for _ in range(200):
            with self.sessions() as session:
                row = session.get(CaseRecord, case_no)
                if row is not None and row.last_event_sequence >= version:
                    return row
            await asyncio.sleep(0.05)
        raise AssertionError(f"{case_no} not projected through event {version}")

    @staticmethod
    def key() -> str:
        return uuid.uuid4().hex
