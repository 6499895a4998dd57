"""`gridloop demo-case`: one sample case through the whole loop against the running stack.

Two departments handle it jointly, the lead gets an extension, the reporter rates the reply, and
one follow-up re-check confirms the fix. The demo policy sets that re-check 15 seconds after
closure so a newcomer can watch it happen; real categories schedule them days apart.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.messages import (
    CaseEvent,
    CaseInput,
    CompleteWork,
    DecideExtension,
    Dispatch,
    RateFeedback,
    RecordFollowUp,
    RequestExtension,
    SignForWork,
    SubmitFinalReply,
    VerifyOnSite,
)
from domain.model import (
    Actor,
    FollowUpOutcome,
    Location,
    Rating,
    Report,
    ReporterContact,
    Role,
    SlaPolicy,
    Source,
    Urgency,
)
from gridloop import cases
from gridloop.settings import Settings
from gridloop.temporal import connect

LEAD, CO_HANDLER = "market_supervision", "comprehensive_enforcement"
COORDINATOR = Actor(user_id="demo-coordinator", role=Role.COORDINATOR)
GRID_WORKER = Actor(user_id="demo-grid-worker", role=Role.GRID_WORKER)
REPORTER = Actor(user_id="public", role=Role.REPORTER)
DEMO_POLICY = SlaPolicy(
    sign_for_hours=2,
    handling_days=5,
    consultation_days=2,
    feedback_days=3,
    follow_up_after=(timedelta(seconds=15),),
    max_rehandling_rounds=1,
    review_sampling_rate=0,
)


def department(code: str) -> Actor:
    return Actor(user_id=f"demo-{code}", role=Role.DEPARTMENT, department=code)


def demo_case_input(now: datetime) -> CaseInput:
    report = Report(
        category="occupy_road_business",
        urgency=Urgency.NORMAL,
        location=Location(address="嘉善县罗星街道解放东路 88 号"),
        grid="luoxing-jiefang-03",
        town="luoxing",
        source=Source.GRID_PATROL,
        description="沿街店铺占道经营，货物堆放至人行道，影响行人通行",
        evidence_urls=("https://evidence.invalid/demo/before.jpg",),
        reporter=ReporterContact(name="演示居民", phone="13800000000"),
        reported_by=GRID_WORKER,
        reported_at=now,
    )
    case_no = f"DEMO-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:4].upper()}"
    return CaseInput(case_no=case_no, report=report, policy=DEMO_POLICY)


def _rid() -> str:
    return uuid.uuid4().hex


async def run_demo_case(settings: Settings) -> None:
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    client = await connect(address, settings.temporal_namespace)
    case = demo_case_input(datetime.now(ZoneInfo(settings.timezone)))
    handle = await cases.start_case(client, case, settings.task_queue)
    print(f"case {case.case_no} reported (workflow {handle.id})")

    steps = [
        Dispatch(
            request_id=_rid(),
            actor=COORDINATOR,
            lead_department=LEAD,
            co_departments=(CO_HANDLER,),
            note="市场监管牵头，综合执法配合",
        ),
        SignForWork(request_id=_rid(), actor=department(LEAD)),
        SignForWork(request_id=_rid(), actor=department(CO_HANDLER)),
        RequestExtension(
            request_id=_rid(), actor=department(LEAD), extra_days=2, reason="需约谈店主并复查"
        ),
        DecideExtension(request_id=_rid(), actor=COORDINATOR, department=LEAD, approve=True),
        CompleteWork(
            request_id=_rid(), actor=department(CO_HANDLER), result="已清理人行道堆放货物"
        ),
        CompleteWork(request_id=_rid(), actor=department(LEAD), result="已约谈店主，责令整改"),
        SubmitFinalReply(
            request_id=_rid(),
            actor=department(LEAD),
            reply="经市场监管、综合执法联合处置，占道货物已清理，店主已签订承诺书。",
        ),
        VerifyOnSite(request_id=_rid(), actor=GRID_WORKER, passed=True, notes="现场已恢复通行"),
        RateFeedback(request_id=_rid(), actor=REPORTER, rating=Rating.SATISFIED),
    ]
    for command in steps:
        answer = await cases.act(handle, command)
        print(f"  {type(command).__name__:<20} → {answer.stage.value} / {answer.status.value}")

    due_at = (await cases.read_case(handle)).case.follow_ups[0].due_at
    print("waiting for the follow-up re-check to fall due (15 s in the demo policy)…")
    # The workflow's timer fires at due_at; leave it a moment to do so.
    await asyncio.sleep((due_at - datetime.now(UTC)).total_seconds() + 2)
    await cases.act(
        handle,
        RecordFollowUp(
            request_id=_rid(), actor=GRID_WORKER, outcome=FollowUpOutcome.STILL_RESOLVED
        ),
    )
    state = (await cases.read_case(handle)).case
    print(f"case {case.case_no} is {state.stage.value}")
    print_timeline(state.events, ZoneInfo(settings.timezone))


def print_timeline(events: list[CaseEvent], timezone: ZoneInfo) -> None:
    print("\ntimeline:")
    for event in events:
        who = event.actor.department or event.actor.user_id
        details = ", ".join(f"{k}={v}" for k, v in event.data.items() if v not in ("", [], None))
        local = event.at.astimezone(timezone)
        print(
            f"{event.sequence:>3}  {local:%Y-%m-%d %H:%M:%S}  {event.type:<22} {who:<28} {details}"
        )
