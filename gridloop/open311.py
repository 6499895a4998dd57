"""gridloop as an Open311 GeoReport v2 endpoint (docs/open311.md): the category catalogue as
services, cases as service requests, and a POSTed request reported as a case through the same
intake as every other report.

A request as anyone may read it shows what the public progress page (进度查询) shows and no more:
never the reporter's name, phone or the report's own words and street address. Its place is the
grid's name and the grid's centre, not the reported point.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session

from domain.model import Role, Source, Stage, Status, Urgency
from gridloop import intake, open311_keys
from gridloop.access import Principal
from gridloop.gridmap import GridMap
from gridloop.intake import NewCase
from gridloop.messages import message as api_message
from gridloop.open311_wire import (
    Attribute,
    AttributeValue,
    Discovery,
    Endpoint,
    Format,
    Open311Error,
    PostedRequest,
    RequestStatus,
    Service,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequestForm,
    parse_datetime,
)
from gridloop.progress import REPLIED_STAGES
from gridloop.service import CaseService, RefusalKind, Refused
from gridloop.settings import Settings
from store import open311 as store
from store import queries
from store.models import CaseRecord, CategoryRecord, DepartmentRecord, GridRecord, TownRecord

CHANGESET = datetime(2026, 11, 25, tzinfo=UTC)
"""When this endpoint's behaviour last changed (discovery's `changeset`)."""
MAX_REQUESTS = 1000
WINDOW = timedelta(days=90)
"""The default search window, and the longest one may ask for (the standard's 90 days)."""
COORDINATE_DIGITS = 5  # about a metre

# ---- a case's stage as an Open311 status --------------------------------------------------------

CLOSED_STAGES = frozenset({Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED})
"""办结: the reporter has rated the reply (or the feedback window ended). Later stages are the
county's own business; a recurrence found at a follow-up re-check opens the case again."""

# What the case waits for, in the reporter's words: zh-CN, en.
STATUS_NOTES: dict[Status, tuple[str, str]] = {
    Status.AWAITING_TRIAGE: ("已受理，等待分派。", "Received; awaiting dispatch."),
    Status.CONSULTING: (
        "多部门会商中，确定承办部门。",
        "The departments are consulting on who handles it.",
    ),
    Status.AWAITING_REROUTING: ("正在重新分派承办部门。", "Being passed to another department."),
    Status.HANDLING: ("承办部门处置中。", "The responsible department is handling it."),
    Status.AWAITING_FINAL_REPLY: (
        "各部门已处置，主办部门正在答复。",
        "Handled; the lead department is writing the reply.",
    ),
    Status.AWAITING_VERIFICATION: (
        "已处置，网格员现场核查中。",
        "Handled; a grid worker is checking on site.",
    ),
    Status.AWAITING_FEEDBACK: ("已答复，等待评价。", "Replied; awaiting the reporter's rating."),
    Status.FOLLOW_UP_SCHEDULED: (
        "已办结，将回访复查。",
        "Closed; it will be re-checked to make sure it stays resolved.",
    ),
    Status.FOLLOW_UP_DUE: (
        "已办结，将回访复查。",
        "Closed; it will be re-checked to make sure it stays resolved.",
    ),
    Status.AWAITING_REVIEW: ("已办结。", "Closed."),
    Status.ARCHIVED: ("已办结。", "Closed."),
}


def request_status(stage: Stage) -> RequestStatus:
    return RequestStatus.CLOSED if stage in CLOSED_STAGES else RequestStatus.OPEN


def status_notes(stage: Stage, status: Status, reply: str | None, language: str) -> str:
    """The status in words, then the reply once the case has one to show (as the progress page
    does: from feedback on)."""
    zh, en = STATUS_NOTES[status]
    if reply is None or stage not in REPLIED_STAGES:
        return zh if language == "zh-CN" else en
    return f"{zh}答复：{reply}" if language == "zh-CN" else f"{en} Reply: {reply}"


# ---- error descriptions -------------------------------------------------------------------------

# Open311's own errors; the rest (not found, unknown grid, too large…) are the API's.
MESSAGES: dict[str, tuple[str, str]] = {
    "bad_request": ("请求不合法。", "The request is not valid."),
    "unknown_format": (
        "不支持格式“{format}”，请用 .xml 或 .json。",
        "No format {format}: use .xml or .json.",
    ),
    "api_key_missing": (
        "提交服务请求需要 api_key。",
        "Posting a service request needs an api_key.",
    ),
    "api_key_invalid": ("api_key 无效或已吊销。", "The api_key is not valid or has been revoked."),
    "unknown_service": ("服务类别“{code}”不存在。", "There is no service {code}."),
    "request_not_found": ("服务请求“{id}”不存在。", "There is no service request {id}."),
    "missing_field": ("缺少参数 {field}。", "{field} is missing."),
    "invalid_field": ("参数 {field} 不合法：{problem}", "{field} is not valid: {problem}"),
    "field_repeated": ("参数 {field} 只能出现一次。", "{field} may be given only once."),
    "form_content_type": (
        "请以 application/x-www-form-urlencoded 表单提交。",
        "Send the form as application/x-www-form-urlencoded.",
    ),
    "form_not_utf8": ("表单须为 UTF-8 编码。", "The form must be UTF-8."),
    "form_too_many_fields": ("表单字段超过 {limit} 个。", "The form has more than {limit} fields."),
    "location_missing": (
        "请提供位置：本县范围内的 lat 和 long，或 attribute[grid]（网格编码）。",
        "Say where: lat and long inside the county, or attribute[grid] (a grid code).",
    ),
    "location_outside": (
        "坐标 lat={lat}, long={long} 不在本县任何网格内；请核对坐标或提供 attribute[grid]。",
        "lat={lat}, long={long} is in none of the county's grids; check it or send "
        "attribute[grid].",
    ),
    "attribute_repeated": (
        "attribute[{code}] 只能有一个值。",
        "attribute[{code}] takes one value.",
    ),
    "unknown_urgency": (
        "attribute[urgency] 应为 {values} 之一。",
        "attribute[urgency] is one of {values}.",
    ),
    "bad_datetime": (
        "{field}“{value}”不是 W3C 日期时间，请写成如 2026-01-01T00:00:00+08:00。",
        "{field} {value} is not a W3C date-time; write it like 2026-01-01T00:00:00+08:00.",
    ),
    "datetime_without_offset": (
        "{field}“{value}”缺少时区，请写成如 2026-01-01T00:00:00+08:00。",
        "{field} {value} has no time zone; write it like 2026-01-01T00:00:00+08:00.",
    ),
    "dates_reversed": ("start_date 晚于 end_date。", "start_date is after end_date."),
    "dates_too_far_apart": (
        "start_date 与 end_date 相隔不得超过 {days} 天。",
        "start_date and end_date may be at most {days} days apart.",
    ),
    "bad_status": (
        "status 应为 open 或 closed，而非“{value}”。",
        "status is open or closed, not {value}.",
    ),
    "too_many_ids": (
        "service_request_id 一次最多 {limit} 个。",
        "At most {limit} service_request_id at once.",
    ),
    "unavailable": (
        "服务暂时不可用，请稍后重试。",
        "The service is unavailable; try again shortly.",
    ),
}


def describe(error: Open311Error, language: str) -> str:
    """The error's description in the caller's language; a refusal passed on from the case
    service (intake busy, Temporal down…) in the API's own words."""
    templates = MESSAGES.get(error.message)
    if templates is None:
        return api_message(error.message, language, error.params)
    zh, en = templates
    return (zh if language == "zh-CN" else en).format(**error.params)


# ---- services ---------------------------------------------------------------------------------

GRID_ATTRIBUTE, URGENCY_ATTRIBUTE = "grid", "urgency"
URGENCY_NAMES = {
    Urgency.NORMAL: ("一般", "Normal"),
    Urgency.MAJOR: ("较大", "Major"),
    Urgency.SERIOUS: ("重大", "Serious"),
    Urgency.CRITICAL: ("紧急", "Critical"),
}


def _in(language: str, zh: str, en: str) -> str:
    return zh if language == "zh-CN" else en


def attributes(language: str) -> list[Attribute]:
    """The same two optional attributes for every service. Their descriptions avoid ASCII
    colons: FixMyStreet strips the first one it finds."""
    return [
        Attribute(
            variable=True,
            code=GRID_ATTRIBUTE,
            datatype="string",
            required=False,
            datatype_description=_in(
                language,
                "网格编码，如 luoxing_xinzhou_g01",
                "A grid code, e.g. luoxing_xinzhou_g01",
            ),
            order=1,
            description=_in(
                language,
                "所在网格（可不填，按 lat/long 定位网格）",
                "The grid it is in (optional; found from lat and long when left out)",
            ),
            values=[],
        ),
        Attribute(
            variable=True,
            code=URGENCY_ATTRIBUTE,
            datatype="singlevaluelist",
            required=False,
            datatype_description="",
            order=2,
            description=_in(
                language, "紧急程度（可不填，默认一般）", "Urgency (optional; normal when left out)"
            ),
            values=[
                AttributeValue(key=urgency.value, name=_in(language, *names))
                for urgency, names in URGENCY_NAMES.items()
            ],
        ),
    ]


def services(session: Session, language: str) -> list[Service]:
    """Every category of the catalogue, grouped by its lead department."""
    departments = store.departments(session)
    return [_service(category, departments, language) for category in store.categories(session)]


def service_definition(session: Session, code: str, language: str) -> ServiceDefinition:
    if session.get(CategoryRecord, code) is None:
        raise Open311Error(404, "unknown_service", {"code": code})
    return ServiceDefinition(service_code=code, attributes=attributes(language))


def _service(
    category: CategoryRecord, departments: Mapping[str, DepartmentRecord], language: str
) -> Service:
    def name(code: str) -> str:
        department = departments.get(code)
        return code if department is None else _name(department, language)

    lead = name(category.lead_department)
    co = [name(code) for code in category.co_departments]
    if language == "zh-CN":
        description = f"主办：{lead}" + (f"；协办：{'、'.join(co)}" if co else "")
    else:
        description = f"Lead: {lead}" + (f"; co-handling: {', '.join(co)}" if co else "")
    return Service(
        service_code=category.code,
        service_name=_name(category, language),
        description=description,
        metadata=True,
        type="realtime",
        keywords=",".join([lead, *co]),
        group=lead,
    )


def _name(
    record: CategoryRecord | DepartmentRecord | GridRecord | TownRecord, language: str
) -> str:
    return record.name if language == "zh-CN" else record.name_en


# ---- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """How requests are shown: in which language, time zone and on which grid map."""

    language: str
    zone: ZoneInfo
    grid_map: GridMap


def request_filter(
    session: Session,
    *,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
    now: datetime,
) -> store.RequestFilter:
    """GET requests' arguments as a filter; `service_request_id` overrides the others."""
    ids = _listed(service_request_id)
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise Open311Error(400, "too_many_ids", {"limit": str(MAX_REQUESTS)})
        return store.RequestFilter(case_nos=ids)
    codes = _listed(service_code)
    for code in codes:
        if session.get(CategoryRecord, code) is None:
            raise Open311Error(400, "unknown_service", {"code": code})
    stages: set[str] | None = None
    if _listed(status):
        wanted = set()
        for value in _listed(status):
            if value not in RequestStatus._value2member_map_:
                raise Open311Error(400, "bad_status", {"value": value})
            wanted.add(RequestStatus(value))
        stages = {stage.value for stage in Stage if request_status(stage) in wanted}
    start = parse_datetime(start_date, "start_date") if start_date else None
    end = parse_datetime(end_date, "end_date") if end_date else None
    if start is None and end is None:
        start, end = now - WINDOW, now
    elif start is None:
        assert end is not None
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    if start > end:
        raise Open311Error(400, "dates_reversed")
    if end - start > WINDOW:
        raise Open311Error(400, "dates_too_far_apart", {"days": str(WINDOW.days)})
    return store.RequestFilter(
        categories=codes or None, stages=stages, reported_from=start, reported_to=end
    )


def find_requests(session: Session, found: store.RequestFilter, view: View) -> list[ServiceRequest]:
    return _requests(session, store.find_cases(session, found, MAX_REQUESTS), view)


def request_by_id(session: Session, service_request_id: str, view: View) -> ServiceRequest:
    found = store.find_cases(session, store.RequestFilter(case_nos=[service_request_id]), 1)
    if not found:
        raise Open311Error(404, "request_not_found", {"id": service_request_id})
    return _requests(session, found, view)[0]


def _listed(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _requests(session: Session, rows: Sequence[CaseRecord], view: View) -> list[ServiceRequest]:
    categories = {category.code: category for category in store.categories(session)}
    departments = store.departments(session)
    places = store.places(session, {row.grid for row in rows})
    replied = [row.case_no for row in rows if Stage(row.stage) in REPLIED_STAGES]
    replies = queries.latest_replies(session, replied)
    requests = []
    for row in rows:
        stage, category = Stage(row.stage), categories.get(row.category)
        status = request_status(stage)
        lead = departments.get(row.lead_department) if row.lead_department else None
        place = places.get(row.grid)
        centre = view.grid_map.centre(row.grid)
        closed_at = row.closed_at if status is RequestStatus.CLOSED else None
        requests.append(
            ServiceRequest(
                service_request_id=row.case_no,
                status=status,
                status_notes=status_notes(
                    stage, Status(row.status), replies.get(row.case_no), view.language
                ),
                service_name=row.category if category is None else _name(category, view.language),
                service_code=row.category,
                description=None,
                agency_responsible=None if lead is None else _name(lead, view.language),
                service_notice=None,
                requested_datetime=_local(row.reported_at, view.zone),
                updated_datetime=_local(closed_at or row.updated_at, view.zone),
                expected_datetime=None,
                address=row.grid if place is None else _address(*place, view.language),
                address_id=None,
                zipcode=None,
                lat=None if centre is None else round(centre[1], COORDINATE_DIGITS),
                long=None if centre is None else round(centre[0], COORDINATE_DIGITS),
                media_url=None,
            )
        )
    return requests


def _address(grid: GridRecord, town: TownRecord, language: str) -> str:
    """Most specific first, as the standard asks."""
    separator = "，" if language == "zh-CN" else ", "
    return separator.join((_name(grid, language), _name(town, language)))


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(microsecond=0)


# ---- posting a request ------------------------------------------------------------------------


def client_of(session: Session, api_key: str | None) -> str:
    """The name of the client whose key this is: 403 for none, an unknown or a revoked one."""
    if not api_key:
        raise Open311Error(403, "api_key_missing")
    holder = open311_keys.key_holder(session, api_key)
    if holder is None:
        raise Open311Error(403, "api_key_invalid")
    return holder


def parse_form(fields: Mapping[str, object]) -> ServiceRequestForm:
    try:
        return ServiceRequestForm.model_validate(fields)
    except ValidationError as invalid:
        raise _invalid(invalid) from invalid


async def post_request(
    service: CaseService,
    grid_map: GridMap,
    client: str,
    form: ServiceRequestForm,
    idempotency_key: str | None,
    language: str,
) -> tuple[PostedRequest, bool]:
    """Report the request as a case, filed as reported by `open311:<client>` for a resident;
    True if it made a new case, False if it named one an earlier identical request made.

    Without an Idempotency-Key the key is the case itself: a retried POST that would report the
    very same case (service, place, words, name, phone, photos) gets the same case back.
    """
    with service.sessions() as session:
        category = session.get(CategoryRecord, form.service_code)
        if category is None:
            raise Open311Error(404, "unknown_service", {"code": form.service_code})
        grid_code = _grid_of(form, grid_map)
        grid = session.get(GridRecord, grid_code)
        if grid is None:
            raise Open311Error(400, "unknown_grid", {"code": grid_code})
    try:
        new_case = NewCase(
            category=category.code,
            urgency=_urgency_of(form),
            grid=grid.code,
            address=form.address_string or _where(grid, form),
            latitude=form.lat,
            longitude=form.long,
            description=form.description or category.name,
            evidence_urls=tuple(form.media_url),
            source=Source.RESIDENT,
            reporter_name=" ".join(n for n in (form.first_name, form.last_name) if n) or None,
            reporter_phone=form.phone,
        )
    except ValidationError as invalid:
        raise _invalid(invalid) from invalid
    key = idempotency_key or intake.fingerprint(new_case)
    reporter = Principal(user_id=open311_keys.reporter_id(client), role=Role.REPORTER)
    try:
        reported = await service.report(reporter, new_case, key)
    except Refused as refused:
        raise _passed_on(refused) from refused
    # So that a GET right after the POST finds the request.
    await service.projected(reported.case_no, 1)
    code = reported.lookup_code
    notice = _in(
        language,
        f"已受理为案件 {reported.case_no}。查询码 {code}，可在 /track/{code} 查询进度并评价。",
        f"Filed as case {reported.case_no}. Lookup code {code}: follow it and rate the reply "
        f"at /track/{code}.",
    )
    return PostedRequest(service_request_id=reported.case_no, service_notice=notice), (
        reported.created
    )


def _grid_of(form: ServiceRequestForm, grid_map: GridMap) -> str:
    """attribute[grid] if given (the reporter said so), else the grid containing lat/long."""
    named = _single(form, GRID_ATTRIBUTE)
    if named is not None:
        return named
    if form.lat is None or form.long is None:
        raise Open311Error(400, "location_missing")
    found = grid_map.locate(form.long, form.lat)
    if found is None:
        raise Open311Error(400, "location_outside", {"lat": str(form.lat), "long": str(form.long)})
    return found


def _urgency_of(form: ServiceRequestForm) -> Urgency:
    value = _single(form, URGENCY_ATTRIBUTE)
    if value is None:
        return Urgency.NORMAL
    if value not in Urgency._value2member_map_:
        raise Open311Error(400, "unknown_urgency", {"values": ", ".join(u.value for u in Urgency)})
    return Urgency(value)


def _single(form: ServiceRequestForm, code: str) -> str | None:
    values = form.attribute.get(code, [])
    if len(values) > 1:
        raise Open311Error(400, "attribute_repeated", {"code": code})
    return values[0] if values else None


def _where(grid: GridRecord, form: ServiceRequestForm) -> str:
    """The case's address when the client sent none: the grid, and the point if there is one."""
    if form.lat is None or form.long is None:
        return grid.name
    return f"{grid.name}（{form.lat:.{COORDINATE_DIGITS}f}, {form.long:.{COORDINATE_DIGITS}f}）"


def _invalid(invalid: ValidationError) -> Open311Error:
    error = invalid.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "form"
    if error["type"] == "missing":
        return Open311Error(400, "missing_field", {"field": field})
    return Open311Error(400, "invalid_field", {"field": field, "problem": error["msg"]})


_STATUS_OF_REFUSAL = {
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.FORBIDDEN: 403,
    RefusalKind.UNAVAILABLE: 503,
    RefusalKind.INTERNAL: 500,
}


def _passed_on(refused: Refused) -> Open311Error:
    """The case service's refusal in the standard's terms: 400 unless it is more precise."""
    return Open311Error(_STATUS_OF_REFUSAL.get(refused.kind, 400), refused.type, refused.params)


# ---- discovery --------------------------------------------------------------------------------


def discovery(settings: Settings, url: str, language: str) -> Discovery:
    key_service = _in(
        language,
        f"向{settings.open311_contact}申请 api_key；"
        "运维人员以 `gridloop open311-key issue 名称` 签发。",
        f"Ask {settings.open311_contact} for an api_key; operators issue one with "
        "`gridloop open311-key issue NAME`.",
    )
    return Discovery(
        changeset=CHANGESET,
        contact=settings.open311_contact,
        key_service=key_service,
        endpoints=[
            Endpoint(
                url=url,
                changeset=CHANGESET,
                type="production" if settings.environment == "production" else "test",
                formats=[Format.XML.media_type.split(";")[0], Format.JSON.media_type.split(";")[0]],
            )
        ],
    )
