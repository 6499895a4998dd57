"""One endpoint per action on a case. Each sends the workflow's Update, so an illegal action is
refused by the case itself (409 with the refusal's type) and changes nothing.

The request id is derived from the caller and the `Idempotency-Key` header, so a retried request
takes effect once; the actor comes from the token, never from the body (gridloop.service).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, ConfigDict, create_model, field_validator

from api.auth import CurrentPrincipal
from api.cases import CaseNo, IdempotencyKey
from api.deps import ServiceDep
from api.errors import error_responses
from domain.messages import (
    ActionAccepted,
    Command,
    Urge,
)
from gridloop.cases import ACTION_COMMANDS
from gridloop.intake import plain_text

router = APIRouter(prefix="/v1/cases", tags=["case actions"])

ACTION_RESPONSES = error_responses(401, 403, 404, 409, 422, 503)


@dataclass(frozen=True)
class Action:
    path: str
    summary: str
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> type[Command]:
        return ACTION_COMMANDS[self.path]


ACTIONS = (
    Action(
        "resolve-on-site",
        "Resolve on the spot (就地解决): a grid worker settled a small matter",
        {"result": "网格员现场劝导，店主已收回货物", "evidence_urls": ["https://e.example/1.jpg"]},
    ),
    Action(
        "dispatch",
        "Dispatch (派单) to a lead department and co-handlers; also re-routes after a return",
        {
            "lead_department": "comprehensive_enforcement",
            "co_departments": ["market_supervision"],
            "note": "综合执法牵头，市场监管配合",
        },
    ),
    Action(
        "consultation",
        "Convene a consultation (会商)",
        {"participants": ["housing_construction", "market_supervision"], "agenda": "联合整治"},
    ),
    Action(
        "consultation/decision",
        "Record the consultation's decision: lead, co-handlers, deadlines, minutes",
        {
            "lead_department": "housing_construction",
            "co_departments": ["market_supervision"],
            "deadlines": [{"department": "housing_construction", "handling_days": 10}],
            "participants": ["housing_construction", "market_supervision", "town_command_office"],
            "minutes": "住建牵头拆除，市场监管配合取缔占道",
        },
    ),
    Action("escalate", "Escalate one tier (grid → town → county)", {"reason": "跨部门"}),
    Action("sign", "Sign for the work (签收)"),
    Action(
        "complete",
        "Report the work done, with result and evidence",
        {"result": "已清理占道物品并约谈店主", "evidence_urls": ["https://e.example/after.jpg"]},
    ),
    Action("return", "Return mis-dispatched work (退单)", {"reason": "非本部门职责"}),
    Action(
        "reassign",
        "Reassign a department's open work (改派)",
        {
            "department": "housing_construction",
            "to_department": "ecology_environment",
            "reason": "住建未签收，改派生态环境",
        },
    ),
    Action(
        "withdraw",
        "Withdraw a co-handler's open work (撤回)",
        {"department": "market_supervision", "reason": "无需配合"},
    ),
    Action(
        "notes",
        "Add a progress note to a department's work",
        {"note": "已联系店主，约定明日整改"},
    ),
    Action(
        "extension",
        "Request an extension (延期) of the handling deadline",
        {"extra_days": 2, "reason": "需等待检测报告"},
    ),
    Action(
        "extension/decision",
        "Approve or reject a department's extension request",
        {"department": "market_supervision", "approve": True, "comment": "同意延期两个工作日"},
    ),
    Action("suspend", "Suspend the case (挂账): SLA clocks pause", {"reason": "待鉴定"}),
    Action("resume", "Resume a suspended case", {"comment": "鉴定结果已出"}),
    Action(
        "final-reply",
        "The lead department's final reply after joint handling",
        {"reply": "经市场监管、综合执法联合处置，占道货物已清理。"},
    ),
    Action(
        "verification",
        "On-site verification (核查) by the grid worker",
        {"passed": True, "notes": "现场已恢复通行"},
    ),
    Action(
        "feedback",
        "Record the reporter's rating from a callback (回访)",
        {"rating": "satisfied", "channel": "callback", "comment": "电话回访，群众满意"},
    ),
    Action(
        "follow-up",
        "Record a follow-up re-check (长效跟踪)",
        {"outcome": "still_resolved", "notes": "复查未反弹"},
    ),
    Action(
        "review",
        "Record post-hoc review findings (事后倒查)",
        {
            "root_cause": "签收不及时",
            "responsible_departments": ["housing_construction"],
            "outcome": "notice",
        },
    ),
)


def body_model(command: type[Command]) -> type[BaseModel]:
    """The request body of an action: the message without its request id and actor."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in command.model_fields.items()
        if name not in ("request_id", "actor")
    }
    model: type[BaseModel] = create_model(
        command.__name__,
        __config__=ConfigDict(extra="forbid"),
        __doc__=command.__doc__,
        __validators__={"plain_text": field_validator("*")(plain_text)},
        **fields,
    )
    return model


def _route(action: Action) -> Callable[..., Awaitable[ActionAccepted]]:
    body_type = body_model(action.command)
    examples = [action.example]
    endpoint: Callable[..., Awaitable[ActionAccepted]]

    async def with_body(
        case_no: CaseNo,
        principal: CurrentPrincipal,
        service: ServiceDep,
        body: Annotated[body_type, Body(examples=examples)],  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> ActionAccepted:
        fields = cast(BaseModel, body).model_dump()
        return await service.act(principal, case_no, action.command, fields, idempotency_key)

    async def with_optional_body(
        case_no: CaseNo,
        principal: CurrentPrincipal,
        service: ServiceDep,
        body: Annotated[body_type | None, Body(examples=examples)] = None,  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> ActionAccepted:
        fields = (body or body_type()).model_dump()
        return await service.act(principal, case_no, action.command, fields, idempotency_key)

    required = any(info.is_required() for info in body_type.model_fields.values())
    endpoint = with_body if required else with_optional_body
    endpoint.__name__ = action.path.replace("/", "_").replace("-", "_")
    endpoint.__doc__ = action.command.__doc__
    return endpoint


for _action in ACTIONS:
    router.add_api_route(
        f"/{{case_no}}/{_action.path}",
        _route(_action),
        methods=["POST"],
        summary=_action.summary,
        responses=ACTION_RESPONSES,
        response_model=ActionAccepted,
    )


class UrgeAccepted(BaseModel):
    request_id: str
    case_no: str
    department: str


URGE_EXAMPLE = {"department": "market_supervision", "message": "请于今日内签收"}


@router.post(
    "/{case_no}/urge",
    summary="Urge a department (催办); fire-and-forget",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACTION_RESPONSES,
)
async def urge(
    case_no: CaseNo,
    principal: CurrentPrincipal,
    service: ServiceDep,
    body: Annotated[body_model(Urge), Body(examples=[URGE_EXAMPLE])],  # type: ignore[valid-type]
    idempotency_key: IdempotencyKey = None,
) -> UrgeAccepted:
    """Sent as a Signal: accepted for delivery once the department has open work on the case."""
    command = await service.urge(principal, case_no, body.model_dump(), idempotency_key)
    return UrgeAccepted(
        request_id=command.request_id, case_no=case_no, department=command.department
    )
