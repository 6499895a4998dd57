"""Parts 2, 3, 5 and 6: gridloop itself, the real app over HTTP (in process, through httpx's
ASGI transport), a real worker and the demo county's read model."""

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from bench.measure import Report, Stopwatch, gather_limited, rss_mib
from gridloop.http import create_app
from gridloop.replay import replay_cases
from gridloop.settings import Settings
from store.db import database_url, prepare_read_model
from store.models import CaseRecord
from store.reference import DEMO_COUNTY, load_organisation, seed_organisation
from worker import build_worker

BENCH_SECRET_KEY = "gridloop-bench-signing-key-0123456789abcdef"
COORDINATOR, AUDITOR, GRID_WORKER = "coordinator", "auditor", "gridworker"
LEAD, CO = "market_supervision", "comprehensive_enforcement"
GRID = "luoxing_xinzhou_g01"
PROJECTION_POLL_SECONDS = 0.02
PROJECTION_TIMEOUT_SECONDS = 120.0


class BenchFailure(RuntimeError):
    """gridloop answered something the benchmark's script did not expect."""


@dataclass
class Gridloop:
    http: httpx.AsyncClient
    sessions: sessionmaker[Session]
    tokens: dict[str, str]

    async def call(
        self, method: str, path: str, user: str | None, body: Any = None, expect: int = 200
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        response = await self.http.request(method, path, json=body, headers=headers)
        if response.status_code != expect:
            raise BenchFailure(f"{method} {path}: {response.status_code} {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    async def report(self) -> dict[str, Any]:
        return await self.call(
            "POST",
            "/api/v1/cases",
            GRID_WORKER,
            {
                "category": "public_health",
                "urgency": "normal",
                "grid": GRID,
                "address": "新洲社区 3 幢",
                "description": "垃圾房蚊蝇滋生（压测）",
                "reporter_phone": "13800000000",
            },
            expect=201,
        )

    async def projected(self, case_no: str, version: int = 0) -> None:
        """Until the read model holds the case (through business event `version`)."""
        clock = Stopwatch()
        while clock.seconds() < PROJECTION_TIMEOUT_SECONDS:
            with self.sessions() as session:
                row = session.get(CaseRecord, case_no)
                if row is not None and row.last_event_sequence >= version:
                    return
            await asyncio.sleep(PROJECTION_POLL_SECONDS)
        raise BenchFailure(f"{case_no} not projected through event {version}")

    async def report_and_project(self) -> dict[str, Any]:
        reported = await self.report()
        await self.projected(reported["case_no"])
        return reported

    async def act(self, user: str, case_no: str, action: str, body: Any = None) -> dict[str, Any]:
        return await self.call("POST", f"/api/v1/cases/{case_no}/{action}", user, body or {})

    async def lifecycle(self, reported: dict[str, Any]) -> int:
        """Drive one reported case to archive; return the messages (workflow updates) sent."""
        case_no = reported["case_no"]
        await self.act(
            COORDINATOR, case_no, "dispatch", {"lead_department": LEAD, "co_departments": [CO]}
        )
        messages = 1
        for department in (CO, LEAD):
            await self.act(department, case_no, "sign")
            await self.act(department, case_no, "complete", {"result": "已处置"})
            messages += 2
        await self.act(LEAD, case_no, "final-reply", {"reply": "已联合检查并整改。"})
        verified = await self.act(GRID_WORKER, case_no, "verification", {"passed": True})
        messages += 2
        # The public page reads the read model: wait until it shows the verified case. Every
        # answer says what the action left (its events, the stage), as a client sees it, so the
        # driver reads nothing else from the case.
        await self.projected(case_no, max(verified["event_sequence"]))
        code = reported["lookup_code"]
        answer = await self.call(
            "POST", f"/api/v1/public/cases/{code}/feedback", None, {"rating": "satisfied"}
        )
        messages += 1
        if answer["stage"] == "review":  # drawn by the category's sampling rate
            answer = await self.act(
                AUDITOR, case_no, "review", {"root_cause": "抽查", "outcome": "none"}
            )
            messages += 1
        if answer["stage"] != "archived":
            raise BenchFailure(f"{case_no} ended in stage {answer['stage']}, not archived")
        return messages


def seeded_county(directory: Path) -> sessionmaker[Session]:
    sessions = prepare_read_model(database_url(None, directory))
    with sessions.begin() as session:
        seed_organisation(session, load_organisation(DEMO_COUNTY))
    return sessions


@contextlib.asynccontextmanager
async def running_gridloop(client: Client, data_dir: Path) -> AsyncIterator[Gridloop]:
    settings = Settings(
        task_queue=f"bench-cases-{uuid.uuid4().hex[:8]}",
        data_dir=data_dir,
        secret_key=BENCH_SECRET_KEY,
    )
    sessions = seeded_county(data_dir / "county")
    app = create_app(settings, client, sessions)
    async with (
        build_worker(client, settings, sessions=sessions),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gridloop.bench"
        ) as http,
    ):
        tokens = {}
        for user in (COORDINATOR, AUDITOR, GRID_WORKER, LEAD, CO):
            response = await http.post(
                "/api/v1/auth/token", data={"username": user, "password": user}
            )
            if response.status_code != 200:
                raise BenchFailure(f"sign-in of {user}: {response.text}")
            tokens[user] = response.json()["access_token"]
        yield Gridloop(http, sessions, tokens)
        sessions.kw["bind"].dispose()


async def run_intake(
    gridloop: Gridloop, report: Report, cases: int, concurrency: int, engine_start_rate: float
) -> list[dict[str, Any]]:
    clock = Stopwatch()
    reported = await gather_limited(
        concurrency, [gridloop.report_and_project for _ in range(cases)]
    )
    rate = cases / clock.seconds()
    report.add("2 intake", "cases reported and projected", rate, "/s", f"N={cases}")
    report.add(
        "2 intake",
        "ratio to raw start rate",
        rate / engine_start_rate,
        "x",
        "target ≥ 0.7",
    )
    return reported


async def run_lifecycle(
    gridloop: Gridloop,
    report: Report,
    reported: list[dict[str, Any]],
    concurrency: int,
    engine_signal_rate: float,
) -> None:
    clock = Stopwatch()
    messages = await gather_limited(
        concurrency, [partial(gridloop.lifecycle, case) for case in reported]
    )
    seconds = clock.seconds()
    sent = sum(messages)
    per_message_ms = 1000 * seconds / sent
    raw_per_signal_ms = 1000 / engine_signal_rate
    report.add("3 lifecycle", "cases dispatch → archive", len(reported) / seconds, "/s")
    report.add(
        "3 lifecycle",
        "messages per case",
        sent / len(reported),
        "",
        "dispatch, 2×sign, 2×complete, reply, verify, rating (+review)",
    )
    report.add("3 lifecycle", "cost per message", per_message_ms, "ms")
    report.add(
        "3 lifecycle",
        "ratio to raw cost per signal",
        per_message_ms / raw_per_signal_ms,
        "x",
        "target ≤ 2.0",
    )


async def run_replay(client: Client, report: Report, case_numbers: list[str]) -> None:
    clock = Stopwatch()
    summary = await replay_cases(client, case_numbers)
    seconds = clock.seconds()
    runs = sum(len(case.runs) for case in summary.cases)
    if summary.failures:
        raise BenchFailure(f"replay failed for {[case.case_no for case in summary.failures]}")
    events = sum(run.events for case in summary.cases for run in case.runs)
    report.add(
        "5 replay", "histories replayed (fetch + replay)", runs / seconds, "/s", f"{runs} runs"
    )
    report.add("5 replay", "events replayed", events / seconds, "/s")


async def run_memory(gridloop: Gridloop, report: Report, open_cases: int, concurrency: int) -> None:
    gc.collect()
    before = rss_mib()
    await gather_limited(concurrency, [gridloop.report_and_project for _ in range(open_cases)])
    # Let the worker finish the tasks those reports scheduled before reading RSS.
    await asyncio.sleep(2)
    gc.collect()
    after = rss_mib()
    report.add("6 memory", "process RSS with open cases", after, "MiB", f"K={open_cases}")
    report.add(
        "6 memory",
        "RSS growth per open case",
        1024 * (after - before) / open_cases,
        "KiB",
        "API + worker + read model in one process",
    )
