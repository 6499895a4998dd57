"""Why something was refused, in words: zh-CN first, en second. The case rules' own refusals
live in domain/errors.py; these are the ones the service and the API add."""

from collections.abc import Mapping

from domain.errors import MESSAGES as REFUSAL_MESSAGES
from domain.errors import Refusal

LANGUAGES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "validation_error": {
        "zh-CN": "请求内容不合法，请检查各字段。",
        "en": "The request is not valid; check the fields listed.",
    },
    "not_authenticated": {
        "zh-CN": "请先登录或提供有效的访问令牌。",
        "en": "Sign in or provide a valid access token.",
    },
    "invalid_credentials": {
        "zh-CN": "用户名或密码错误。",
        "en": "Wrong username or password.",
    },
    "forbidden": {
        "zh-CN": "当前账号无权执行此操作。",
        "en": "This account may not do that.",
    },
    "case_not_found": {
        "zh-CN": "找不到案件 {case_no}。",
        "en": "No case {case_no}.",
    },
    "lookup_code_not_found": {
        "zh-CN": "查询码无效，请核对后重试。",
        "en": "No case has this lookup code; check it and try again.",
    },
    "not_found": {
        "zh-CN": "请求的资源不存在。",
        "en": "Not found.",
    },
    "method_not_allowed": {
        "zh-CN": "此地址不支持该请求方法。",
        "en": "This method is not allowed here.",
    },
    "unknown_category": {
        "zh-CN": "事项类别“{code}”不存在。",
        "en": "There is no category {code}.",
    },
    "unknown_department": {
        "zh-CN": "部门“{code}”不存在。",
        "en": "There is no department {code}.",
    },
    "unknown_grid": {
        "zh-CN": "网格“{code}”不存在。",
        "en": "There is no grid {code}.",
    },
    "grid_not_yours": {
        "zh-CN": "网格“{grid}”不在您负责的网格内。",
        "en": "Grid {grid} is not one of yours.",
    },
    "intake_busy": {
        "zh-CN": "上报繁忙，未予受理，请稍后重试（可带同一 Idempotency-Key）。",
        "en": "Too many reports at once; nothing was recorded. Retry soon, same Idempotency-Key.",
    },
    "too_many_attempts": {
        "zh-CN": "登录失败次数过多，请稍后再试。",
        "en": "Too many failed sign-ins; try again later.",
    },
    "request_too_large": {
        "zh-CN": "请求内容过大。",
        "en": "The request body is too large.",
    },
    "idempotency_key_reused": {
        "zh-CN": "该 Idempotency-Key 已用于另一份不同的上报。",
        "en": "This Idempotency-Key was already used for a different report.",
    },
    "case_archived": {
        "zh-CN": "案件已归档，不能再执行操作。",
        "en": "The case is archived; nothing more can be done to it.",
    },
    "naive_moment": {
        "zh-CN": "时间 {moment} 缺少时区，请写成如 2026-11-24T09:00:00+08:00。",
        "en": "The moment {moment} has no time zone; write it like 2026-11-24T09:00:00+08:00.",
    },
    "case_not_yet_reported": {
        "zh-CN": "该时间点案件 {case_no} 尚未受理（最早可查 {first_state_at}）。",
        "en": "Case {case_no} did not exist yet then (its first state is at {first_state_at}).",
    },
    "case_not_replayable": {
        "zh-CN": "当前流程代码无法重现案件 {case_no} 的历史，不能还原其过往状态；"
        "请运行回放校验查看原因。",
        "en": "The current workflow code does not reproduce case {case_no}'s history, so its past "
        "state cannot be rebuilt; run the replay check to see why.",
    },
    "webhook_limit_reached": {
        "zh-CN": "部门“{department}”已登记 {limit} 个有效的回调地址，请先撤销不再使用的。",
        "en": "Department {department} already has {limit} active webhooks; revoke one first.",
    },
    "temporal_unavailable": {
        "zh-CN": "案件引擎暂时不可用，请稍后重试。",
        "en": "The case engine is unavailable; try again shortly.",
    },
    "case_unreadable": {
        "zh-CN": "案件 {case_no} 的流程暂时无法读取，请稍后重试；如持续出现，请联系系统管理员。",
        "en": "Case {case_no} cannot be read right now; try again shortly, and tell an "
        "administrator if this persists.",
    },
    "internal_error": {
        "zh-CN": "系统内部错误，案件未作任何改动。",
        "en": "Internal error; the case is unchanged.",
    },
}


def message(error_type: str, lang: str, params: Mapping[str, str]) -> str:
    templates = MESSAGES.get(error_type)
    if templates is None and error_type in Refusal._value2member_map_:
        templates = REFUSAL_MESSAGES[Refusal(error_type)]
    if templates is None:
        templates = MESSAGES["internal_error"]
    try:
        return templates.get(lang, templates["zh-CN"]).format(**params)
    except (KeyError, IndexError):
        return templates.get(lang, templates["zh-CN"])


def preferred_language(accept_language: str) -> str:
    """zh-CN unless the caller prefers English (the first zh or en tag decides)."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh-CN"
    return "zh-CN"
