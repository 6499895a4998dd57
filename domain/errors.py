"""Why an action on a case is refused: a machine-readable code and a message in zh-CN and en."""

from enum import StrEnum


class Refusal(StrEnum):
    NOT_PERMITTED = "not_permitted"
    WRONG_STAGE = "wrong_stage"
    NOT_ASSIGNED = "not_assigned"
    ALREADY_SIGNED = "already_signed"
    NOT_SIGNED = "not_signed"
    NOT_LEAD = "not_lead"
    HANDLING_UNFINISHED = "handling_unfinished"
    EXTENSION_PENDING = "extension_pending"
    NO_PENDING_EXTENSION = "no_pending_extension"
    CASE_SUSPENDED = "case_suspended"
    NOT_SUSPENDED = "not_suspended"
    NO_RUNNING_CLOCK = "no_running_clock"
    ALREADY_ASSIGNED = "already_assigned"
    LEAD_NOT_WITHDRAWABLE = "lead_not_withdrawable"
    LIMIT_REACHED = "limit_reached"
    NOT_AWAITING_FEEDBACK = "not_awaiting_feedback"
    FOLLOW_UP_NOT_DUE = "follow_up_not_due"
    TOP_TIER_REACHED = "top_tier_reached"
    INVALID_ROUTING = "invalid_routing"
    CALENDAR_DATA_MISSING = "calendar_data_missing"


MESSAGES: dict[Refusal, dict[str, str]] = {
    Refusal.NOT_PERMITTED: {
        "zh-CN": "当前角色（{role}）无权执行“{action}”。",
        "en": "Role {role} may not perform {action}.",
    },
    Refusal.WRONG_STAGE: {
        "zh-CN": "案件当前状态为“{status}”，不能执行“{action}”。",
        "en": "The case is {status}; {action} is not possible now.",
    },
    Refusal.NOT_ASSIGNED: {
        "zh-CN": "部门“{department}”在本案中没有待办的任务。",
        "en": "Department {department} has no open assignment on this case.",
    },
    Refusal.ALREADY_SIGNED: {
        "zh-CN": "部门“{department}”已签收。",
        "en": "Department {department} has already signed for this work.",
    },
    Refusal.NOT_SIGNED: {
        "zh-CN": "部门“{department}”尚未签收，不能办结。",
        "en": "Department {department} must sign for the work before completing it.",
    },
    Refusal.NOT_LEAD: {
        "zh-CN": "只有主办部门“{lead}”可以提交最终答复。",
        "en": "Only the lead department {lead} may write the final reply.",
    },
    Refusal.HANDLING_UNFINISHED: {
        "zh-CN": "仍有部门未办结：{departments}。",
        "en": "Departments still handling: {departments}.",
    },
    Refusal.EXTENSION_PENDING: {
        "zh-CN": "部门“{department}”已有待审批的延期申请。",
        "en": "Department {department} already has an extension request awaiting a decision.",
    },
    Refusal.NO_PENDING_EXTENSION: {
        "zh-CN": "部门“{department}”没有待审批的延期申请。",
        "en": "Department {department} has no extension request awaiting a decision.",
    },
    Refusal.CASE_SUSPENDED: {
        "zh-CN": "案件已挂账，恢复后才能执行“{action}”。",
        "en": "The case is suspended; resume it before {action}.",
    },
    Refusal.NOT_SUSPENDED: {
        "zh-CN": "案件未挂账。",
        "en": "The case is not suspended.",
    },
    Refusal.NO_RUNNING_CLOCK: {
        "zh-CN": "案件当前没有正在计时的时限，无需挂账。",
        "en": "No SLA clock of the case is running; there is nothing to suspend.",
    },
    Refusal.ALREADY_ASSIGNED: {
        "zh-CN": "部门“{department}”在本轮已有任务。",
        "en": "Department {department} already has work in this round.",
    },
    Refusal.LEAD_NOT_WITHDRAWABLE: {
        "zh-CN": "主办部门“{department}”的任务不能撤回，可改派给其他部门。",
        "en": "The lead department {department}'s work cannot be withdrawn; reassign it instead.",
    },
    Refusal.LIMIT_REACHED: {
        "zh-CN": "本案的进展记录和催办已达上限（{limit} 条），请通过会商或督办推进。",
        "en": "This case has reached its limit of {limit} progress notes and urges; "
        "use a consultation or escalation instead.",
    },
    Refusal.NOT_AWAITING_FEEDBACK: {
        "zh-CN": "案件当前不在等待评价（状态：“{status}”）。",
        "en": "The case is not awaiting feedback (it is {status}).",
    },
    Refusal.FOLLOW_UP_NOT_DUE: {
        "zh-CN": "回访复查尚未到期，下一次复查时间为 {due_at}。",
        "en": "No follow-up re-check is due yet; the next one is due at {due_at}.",
    },
    Refusal.TOP_TIER_REACHED: {
        "zh-CN": "案件已在县级，无法继续上报。",
        "en": "The case is already at county level and cannot be escalated further.",
    },
    Refusal.INVALID_ROUTING: {
        "zh-CN": "派单无效：{reason}",
        "en": "Invalid routing: {reason}",
    },
    Refusal.CALENDAR_DATA_MISSING: {
        "zh-CN": "工作日历缺少 {year} 年的节假日安排，请运维人员导入该年度的节假日表。",
        "en": "The working calendar has no holiday schedule for {year}; "
        "an operator must load that year's table.",
    },
}


class CaseRuleViolation(Exception):
    """An action the case's rules refuse; nothing has changed."""

    def __init__(self, refusal: Refusal, **params: str) -> None:
        self.refusal = refusal
        self.params = params
        super().__init__(self.message("en"))

    def message(self, language: str) -> str:
        templates = MESSAGES[self.refusal]
        return templates.get(language, templates["zh-CN"]).format(**self.params)
