"""Cases: the filtered list and its export, one case in full with the actions it allows now,
and the report form."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from pydantic import BeforeValidator, ValidationError

from domain.model import Role, Source, Stage, Status, Urgency
from domain.state import CaseState
from gridloop import intake
from gridloop.access import Principal, visibility
from gridloop.auditing import AUDITING_ROLES
from gridloop.history import StateAsOf
from gridloop.messages import message
from gridloop.service import CaseService, RefusalKind, Refused
from gridloop.settings import Settings
from store import queries
from store.models import CaseRecord, CategoryRecord
from web.actions import ACTIONS, available
from web.forms import command_fields
from web.i18n import N_, translations
from web.labels import LABELS
from web.names import Names, names_of
from web.render import render
from web.session import CsrfChecked, SignedIn, flash, language_of, local_path, sessions_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
EXPORT_LIMIT = 10_000
CaseNo = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,40}$")]
EXPORT_COLUMNS = (
    (N_("Case number"), 18), (N_("Reported at"), 17), (N_("Category"), 18), (N_("Town"), 14),
    (N_("Grid"), 20), (N_("Urgency"), 8), (N_("Stage"), 10), (N_("Status"), 14),
    (N_("Lead department"), 20), (N_("Overdue"), 8), (N_("Breached"), 8),
    (N_("Closed at"), 17), (N_("Description"), 50), (N_("Address"), 30),
)  # fmt: skip


def service_of(request: Request) -> CaseService:
    service: CaseService | None = request.app.state.service
    if service is None:
        raise Refused(RefusalKind.UNAVAILABLE, "temporal_unavailable")
    return service


def _blank_is_any(value: object) -> object:
    """The filter form's "All" option sends an empty value."""
    return None if value == "" else value


AnyIfBlank = BeforeValidator(_blank_is_any)


def _filters(
    stage: Annotated[Stage | None, AnyIfBlank] = None,
    status_: Annotated[Status | None, Query(alias="status"), AnyIfBlank] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    town: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    urgency: Annotated[Urgency | None, AnyIfBlank] = None,
    overdue: Annotated[bool | None, AnyIfBlank] = None,
    text: Annotated[str | None, Query(max_length=100)] = None,
) -> queries.CaseFilters:
    return queries.CaseFilters(
        stage=stage,
        status=status_,
        category=category or None,
        town=town or None,
        grid=grid or None,
        department=department or None,
        urgency=urgency,
        overdue=overdue,
        text=text or None,
    )


Filters = Annotated[queries.CaseFilters, Depends(_filters)]


# ---- the list and its export -------------------------------------------------------------


@router.get("/cases")
def case_list(
    request: Request,
    me: SignedIn,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> HTMLResponse:
    with sessions_of(request)() as session:
        try:
            page = queries.list_cases(
                session, visibility(me), filters, limit=PAGE_SIZE, cursor=cursor
            )
        except queries.BadCursor:
            page = queries.list_cases(session, visibility(me), filters, limit=PAGE_SIZE)
    query = "&".join(p for p in request.url.query.split("&") if p and not p.startswith("cursor="))
    return render(
        request,
        "cases.html",
        {
            "cases": page.cases,
            "next_cursor": page.next_cursor,
            "filters": filters,
            "paged": cursor is not None,
            "names": names_of(request),
            "query": query,
        },
        principal=me,
    )


@router.get("/cases/export.csv")
def export_csv(request: Request, me: SignedIn, filters: Filters) -> StreamingResponse:
    header, rows = _export(request, me, filters)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        out.write("\ufeff")  # a byte-order mark, so that Excel reads the file as UTF-8
        writer = csv.writer(out)
        for row in (header, *rows):
            writer.writerow(row)
            yield out.getvalue()
            out.seek(0)
            out.truncate(0)

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_export_name()}.csv"'},
    )


@router.get("/cases/export.xlsx")
def export_xlsx(request: Request, me: SignedIn, filters: Filters) -> Response:
    header, rows = _export(request, me, filters)
    book = Workbook()
    sheet = book.active
    assert sheet is not None, "a new workbook has a sheet"
    sheet.title = "cases"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="12305A")
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for index, (_, width) in enumerate(EXPORT_COLUMNS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    data = io.BytesIO()
    book.save(data)
    return Response(
        data.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{_export_name()}.xlsx"'},
    )


def _export(
    request: Request, me: Principal, filters: queries.CaseFilters
) -> tuple[list[str], list[list[str]]]:
    """The filtered cases (up to EXPORT_LIMIT) as the table the user sees, in their language."""
    language = language_of(request)
    gettext = translations(language).gettext
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    names = names_of(request)
    rows: list[list[str]] = []
    with sessions_of(request)() as session:
        cursor = None
        while len(rows) < EXPORT_LIMIT:
            page = queries.list_cases(session, visibility(me), filters, limit=500, cursor=cursor)
            rows += [_export_row(c, names, language, gettext, zone) for c in page.cases]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return [gettext(title) for title, _ in EXPORT_COLUMNS], rows[:EXPORT_LIMIT]


def _export_row(
    case: CaseRecord, names: Names, language: str, gettext: Any, zone: ZoneInfo
) -> list[str]:
    def label(code: str) -> str:
        return str(gettext(LABELS.get(code, code)))

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return [
        case.case_no,
        local(case.reported_at),
        names.of("category", case.category, language),
        names.of("town", case.town, language),
        names.of("grid", case.grid, language),
        label(case.urgency),
        label(case.stage),
        label(case.status),
        names.of("department", case.lead_department, language),
        str(gettext("yes")) if case.overdue else "",
        str(gettext("yes")) if case.breached else "",
        local(case.closed_at),
        case.description,
        case.address,
    ]


def _export_name() -> str:
    return f"gridloop-cases-{datetime.now(UTC):%Y%m%d-%H%M}"


# ---- one case ------------------------------------------------------------------------------


@router.get("/cases/new")
def new_case_form(request: Request, me: SignedIn) -> HTMLResponse:
    return _new_case_page(request, me, {}, None)


@router.post("/cases/new", dependencies=[CsrfChecked])
async def report_case(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        new_case = intake.NewCase(
            category=values.get("category", ""),
            urgency=values.get("urgency") or Urgency.NORMAL,
            grid=values.get("grid", ""),
            address=values.get("address", ""),
            description=values.get("description", ""),
            evidence_urls=tuple(
                line.strip()
                for line in values.get("evidence_urls", "").splitlines()
                if line.strip()
            ),
            source=values.get("source") or None,
            reporter_name=values.get("reporter_name") or None,
            reporter_phone=values.get("reporter_phone") or None,
        )
        reported = await service_of(request).report(me, new_case, values.get("idempotency_key"))
    except ValidationError:
        return _new_case_page(request, me, values, _invalid_form(request), status_code=422)
    except Refused as refused:
        problem = message(refused.type, language_of(request), refused.params)
        return _new_case_page(request, me, values, problem, status_code=409)
    gettext = translations(language_of(request)).gettext
    flash(
        request,
        gettext("Case %(case_no)s reported. The reporter's lookup code is %(code)s.")
        % {"case_no": reported.case_no, "code": reported.lookup_code},
    )
    return RedirectResponse(f"/cases/{reported.case_no}", status.HTTP_303_SEE_OTHER)


def _new_case_page(
    request: Request,
    me: Principal,
    values: dict[str, str],
    problem: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    names = names_of(request)
    language = language_of(request)
    grids = sorted(names.grids) if me.role is not Role.GRID_WORKER else sorted(me.grids)
    return render(
        request,
        "case_new.html",
        {
            "values": values,
            "problem": problem,
            "categories": sorted(names.categories, key=lambda c: names.of("category", c, language)),
            "grids": grids,
            "sources": [
                s for s in Source if me.role is not Role.GRID_WORKER or s is Source.GRID_PATROL
            ],
            "urgencies": list(Urgency),
        },
        principal=me,
        status_code=status_code,
    )


@router.get("/cases/{case_no}")
async def case_page(request: Request, me: SignedIn, case_no: CaseNo) -> HTMLResponse:
    snapshot = await service_of(request).snapshot(me, case_no)
    return render_case_page(request, me, snapshot.case, snapshot.flags, problem=None)


@router.post("/cases/{case_no}/do/{action:path}", dependencies=[CsrfChecked])
async def act(request: Request, me: SignedIn, case_no: CaseNo, action: str) -> Response:
    if action not in ACTIONS:
        raise Refused(RefusalKind.NOT_FOUND, "not_found")
    command, _ = ACTIONS[action]
    form = await request.form()
    service = service_of(request)
    key = form.get("idempotency_key")
    key = key if isinstance(key, str) else None
    back = local_path(str(form.get("next", "")))
    try:
        fields = command_fields(command, form)
        if action == "urge":
            await service.urge(me, case_no, fields, key)
        else:
            answer = await service.act(me, case_no, command, fields, key)
            if back:  # a list read from the read model comes next: let it show the change
                await service.projected(case_no, max(answer.event_sequence, default=0))
    except (Refused, ValueError) as refused:
        problem = (
            message(refused.type, language_of(request), refused.params)
            if isinstance(refused, Refused) and refused.type != "validation_error"
            else _invalid_form(request)
        )
        snapshot = await service.snapshot(me, case_no)
        return render_case_page(
            request, me, snapshot.case, snapshot.flags, problem=problem, status_code=409
        )
    gettext = translations(language_of(request)).gettext
    flash(request, gettext("Done: %(action)s.") % {"action": gettext(ACTIONS[action][1])})
    return RedirectResponse(back or f"/cases/{case_no}", status.HTTP_303_SEE_OTHER)


def _invalid_form(request: Request) -> str:
    gettext = translations(language_of(request)).gettext
    return str(gettext("Some fields are missing or not valid; check the form and try again."))


def render_case_page(
    request: Request,
    me: Principal,
    case: CaseState,
    flags: Any,
    *,
    problem: str | None,
    status_code: int = 200,
    as_of: StateAsOf | None = None,
) -> HTMLResponse:
    """The case page; with `as_of`, the case as it was then, read-only, clocks counted from then."""
    names = names_of(request)
    with sessions_of(request)() as session:
        category = session.get(CategoryRecord, case.report.category)
        routing = (category.lead_department, tuple(category.co_departments)) if category else None
    now = as_of.state_at if as_of else datetime.now(UTC)
    departments = tuple(sorted(names.departments))
    return render(
        request,
        "case.html",
        {
            "case": case,
            "flags": flags,
            "now": now,
            "problem": problem,
            "as_of": as_of,
            "actions": [] if as_of else available(me, case, now, departments, routing),
            "path_of_stages": stage_path(case),
            "all_departments": sorted(names.departments),
            "show_reporter": me.role is Role.COORDINATOR,
            "auditing": me.role in AUDITING_ROLES,
        },
        principal=me,
        status_code=status_code,
    )


# Events that mark arriving at a stage: the progress bar lights each stage the case has been in.
STAGE_OF_EVENT = {
    "reported": Stage.REPORT,
    "consultation_convened": Stage.CONSULT,
    "returned": Stage.CONSULT,
    "round_started": Stage.HANDLE,
    "awaiting_feedback": Stage.FEEDBACK,
    "follow_up_scheduled": Stage.FOLLOW_UP,
    "review_opened": Stage.REVIEW,
    "archived": Stage.ARCHIVED,
}


def stage_path(case: CaseState) -> dict[Stage, dict[str, Any]]:
    """For each stage: visited, current, and how often (handling rounds, recurrences)."""
    visited = {STAGE_OF_EVENT[e.type] for e in case.events if e.type in STAGE_OF_EVENT}
    return {
        stage: {
            "visited": stage in visited,
            "current": stage is case.stage,
            "rounds": len(case.rounds) if stage is Stage.HANDLE else 0,
            "recurrences": case.recurrences if stage is Stage.FOLLOW_UP else 0,
        }
        for stage in Stage
    }
