"""`gridloop demo-case`: one sample case through the whole loop against the running stack.

The case is reported the real way, through `gridloop.intake.report_case`: category 占道经营
(`occupy_road_business`) in one of the seeded grid worker's grids, reported by that grid worker,
and every later action is taken by a seeded demo user (coordinator, department users, grid
worker). The category's lead and co-handling departments handle it jointly, the lead gets an
extension, the command centre's callback (回访) records the reporter's rating, and the case closes
into long-term follow-up (长效跟踪).

Intake takes the SLA policy from the seeded reference data, whose re-checks for this category are
7, 30 and 90 days after closure; a short demo policy could not go through intake, so demo-case no
longer waits for a re-check. It stops with the case in `follow_up_scheduled` and prints when the
re-checks fall due (the grid worker records them then).
"""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.messages import (
    CaseEvent,
    Command,
    CompleteWork,
    DecideExtension,
    Dispatch,
    RateFeedback,
    RequestExtension,
    SignForWork,
    SubmitFinalReply,
    VerifyOnSite,
)
from domain.model import FeedbackChannel, Rating, Urgency
from gridloop import cases
from gridloop.demo_data import DemoReference, MissingReference, load_reference
from gridloop.intake import NewCase, report_case
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.db import database_url, prepare_read_model

CATEGORY = "occupy_road_business"


def demo_new_case(reference: DemoReference) -> NewCase:
    grids = reference.grid_worker_grids or reference.grids
    grid = grids[0]
    return NewCase(
        category=CATEGORY,
        urgency=Urgency.NORMAL,
        grid=grid.code,
        address=f"{grid.town_name}{grid.community_name}解放东路 88 号",
        latitude=30.8412,
        longitude=120.9268,
        description="沿街店铺占道经营，货物堆放至人行道，影响行人通行",
        evidence_urls=("https://evidence.invalid/demo/before.jpg",),
        reporter_name="演示居民",
        reporter_phone="13800000000",
    )


def demo_steps(reference: DemoReference) -> list[Command]:
    category = next((c for c in reference.categories if c.code == CATEGORY), None)
    if category is None:
        raise MissingReference(f"the seeded reference data has no category {CATEGORY}")
    lead, co_handlers = category.lead, category.co_handlers
    names = reference.department_names
    coordinator, worker = reference.coordinator, reference.grid_worker
    departments = reference.departments
    helpers = "、".join(names.get(d, d) for d in co_handlers)
    steps: list[Command] = [
        Dispatch(
            request_id=_rid(),
            actor=coordinator,
            lead_department=lead,
            co_departments=co_handlers,
            note=f"{names.get(lead, lead)}牵头" + (f"，{helpers}配合" if helpers else ""),
        ),
        *(SignForWork(request_id=_rid(), actor=departments[d]) for d in (lead, *co_handlers)),
        RequestExtension(
            request_id=_rid(), actor=departments[lead], extra_days=2, reason="需约谈店主并复查"
        ),
        DecideExtension(request_id=_rid(), actor=coordinator, department=lead, approve=True),
        *(
            CompleteWork(request_id=_rid(), actor=departments[d], result="已配合清理人行道货物")
            for d in co_handlers
        ),
        CompleteWork(request_id=_rid(), actor=departments[lead], result="已约谈店主，责令整改"),
    ]
    if co_handlers:
        steps.append(
            SubmitFinalReply(
                request_id=_rid(),
                actor=departments[lead],
                reply=f"经{names.get(lead, lead)}、{helpers}联合处置，占道货物已清理，"
                "店主已签订承诺书。",
            )
        )
    steps += [
        VerifyOnSite(request_id=_rid(), actor=worker, passed=True, notes="现场已恢复通行"),
        RateFeedback(
            request_id=_rid(),
            actor=coordinator,
            rating=Rating.SATISFIED,
            channel=FeedbackChannel.CALLBACK,
            comment="回访：居民对处置结果满意",
        ),
    ]
    return steps


def _rid() -> str:
    return uuid.uuid4().hex


async def run_demo_case(settings: Settings) -> None:
    timezone = ZoneInfo(settings.timezone)
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    with sessions() as session:
        reference = load_reference(session)
    client = await connect(settings.effective_temporal_address, settings.temporal_namespace)
    reported = await report_case(
        client,
        sessions,
        new_case=demo_new_case(reference),
        reported_by=reference.grid_worker,
        reported_at=datetime.now(timezone),
        task_queue=settings.task_queue,
        case_prefix=settings.case_prefix,
    )
    handle = cases.case_handle(client, reported.case_no)
    print(
        f"case {reported.case_no} reported by {reference.grid_worker.user_id} "
        f"(lookup code {reported.lookup_code}, workflow {handle.id})"
    )
    for command in demo_steps(reference):
        answer = await cases.act(handle, command)
        who = command.actor.department or command.actor.user_id
        print(
            f"  {type(command).__name__:<20} {who:<26} → "
            f"{answer.stage.value} / {answer.status.value}"
        )

    state = (await cases.read_case(handle)).case
    print(f"case {reported.case_no} is {state.stage.value} / {state.status.value}")
    if state.follow_ups:
        dates = ", ".join(
            f"{f.due_at.astimezone(timezone):%Y-%m-%d %H:%M}" for f in state.follow_ups
        )
        print(
            f"its follow-up re-checks fall due at {dates} (the seeded policy's days); "
            "demo-case does not wait for them: the grid worker records each when it is due"
        )
    print_timeline(state.events, timezone)


def print_timeline(events: list[CaseEvent], timezone: ZoneInfo) -> None:
    print("\ntimeline:")
    for event in events:
        who = event.actor.department or event.actor.user_id
        details = ", ".join(f"{k}={v}" for k, v in event.data.items() if v not in ("", [], None))
        local = event.at.astimezone(timezone)
        print(
            f"{event.sequence:>3}  {local:%Y-%m-%d %H:%M:%S}  {event.type:<22} {who:<28} {details}"
        )
