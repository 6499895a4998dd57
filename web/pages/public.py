"""The public pages, without an account, phone-first: follow a case by its lookup code
(进度查询), rate the reply, and report an issue as a resident.

What a resident sees is decided by gridloop.progress, as for the public API (no contact
details, no description, no staff names); these pages only render it."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from domain.model import Rating, Stage, Status
from gridloop import intake
from gridloop.messages import message
from gridloop.progress import RESIDENT, progress, rate
from gridloop.service import RefusalKind, Refused
from store import queries
from store.models import GridRecord
from web.i18n import N_, translations
from web.names import names_of
from web.pages.cases import service_of
from web.render import render
from web.session import CsrfChecked, flash, language_of, sessions_of

router = APIRouter(include_in_schema=False)

AnyCode = Annotated[str, Path(max_length=40)]
CODE_SHAPE = re.compile(rf"^[{intake.ALPHABET}]{{{intake.LOOKUP_CODE_LENGTH}}}$")

# The resident's four steps, and where each stage of the loop stands on them.
STEPS = (N_("Received"), N_("Being handled"), N_("Replied"), N_("Closed"))
STEP_OF_STAGE = {
    Stage.REPORT: 0,
    Stage.CONSULT: 1,
    Stage.HANDLE: 1,
    Stage.FEEDBACK: 2,
    Stage.FOLLOW_UP: 3,
    Stage.REVIEW: 3,
    Stage.ARCHIVED: 3,
}
# What each status means to the reporter.
EXPLAINED = {
    Status.AWAITING_TRIAGE: N_("The command centre has your report and is assigning it."),
    Status.CONSULTING: N_("Several departments are deciding together who handles it."),
    Status.AWAITING_REROUTING: N_("The command centre is assigning it to another department."),
    Status.HANDLING: N_("A department is handling it."),
    Status.AWAITING_FINAL_REPLY: N_("The departments have finished; the reply is being written."),
    Status.AWAITING_VERIFICATION: N_("The grid worker is checking the result on site."),
    Status.AWAITING_FEEDBACK: N_("There is a reply. Please tell us whether you are satisfied."),
    Status.FOLLOW_UP_SCHEDULED: N_(
        "Closed. The grid worker will come back to check that it stays resolved."
    ),
    Status.FOLLOW_UP_DUE: N_("Closed. The grid worker is re-checking that it stays resolved."),
    Status.AWAITING_REVIEW: N_("Closed."),
    Status.ARCHIVED: N_("Closed."),
}


# ---- following a case ----------------------------------------------------------------------


@router.get("/track")
def track_form(
    request: Request, code: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    if code and code.strip():
        return RedirectResponse(f"/track/{_normal(code)}", status.HTTP_303_SEE_OTHER)
    return render(request, "public_track.html", {"code": "", "problem": None})


@router.get("/track/{code}")
def track(request: Request, code: AnyCode) -> HTMLResponse:
    return _progress_page(request, code)


@router.post("/track/{code}/rating", dependencies=[CsrfChecked])
async def rate_reply(request: Request, code: AnyCode) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    language = language_of(request)
    gettext = translations(language).gettext
    if not CODE_SHAPE.match(_normal(code)):
        return _not_found(request, code)
    try:
        rating = Rating(values.get("rating", ""))
    except ValueError:
        problem = gettext("Choose one of the three answers.")
        return _progress_page(request, code, problem=str(problem), status_code=422)
    service = service_of(request)
    try:
        accepted = await rate(
            service,
            _normal(code),
            rating,
            values.get("comment", "").strip(),
            values.get("idempotency_key") or None,
        )
    except Refused as refused:
        if refused.kind is RefusalKind.NOT_FOUND:
            return _not_found(request, code)
        problem = message(refused.type, language, refused.params)
        return _progress_page(request, code, problem=problem, status_code=409)
    await service.projected(accepted.case_no, max(accepted.event_sequence, default=0))
    flash(request, str(gettext("Thank you: your rating was recorded.")))
    return RedirectResponse(f"/track/{_normal(code)}", status.HTTP_303_SEE_OTHER)


def _progress_page(
    request: Request, code: str, *, problem: str | None = None, status_code: int = 200
) -> HTMLResponse:
    lookup_code = _normal(code)
    if not CODE_SHAPE.match(lookup_code):
        return _not_found(request, code)
    with sessions_of(request)() as session:
        public = progress(session, lookup_code, language_of(request))
    if public is None:
        return _not_found(request, code)
    return render(
        request,
        "public_case.html",
        {
            "code": lookup_code,
            "shown_code": shown(lookup_code),
            "public": public,
            "step": STEP_OF_STAGE[public.stage],
            "steps": STEPS,
            "explained": EXPLAINED.get(public.status, ""),
            "milestones": list(reversed(public.milestones)),
            "problem": problem,
        },
        status_code=status_code,
    )


def _not_found(request: Request, code: str) -> HTMLResponse:
    problem = message("lookup_code_not_found", language_of(request), {})
    context = {"code": code[:12], "problem": problem}
    return render(request, "public_track.html", context, status_code=404)


def _normal(code: str) -> str:
    return intake.normalise_code(code)[:20]


def shown(code: str) -> str:
    """A lookup code as printed for people: two groups of four."""
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


# ---- reporting as a resident -----------------------------------------------------------------


@router.get("/report")
def report_form(
    request: Request, town: Annotated[str | None, Query(max_length=64)] = None
) -> HTMLResponse:
    return _report_page(request, {"town": town or ""}, None)


@router.get("/report/grids")
def report_grids(request: Request, town: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """The grid choices of one town (the form swaps them in when the town changes)."""
    return render(request, "partials/public_grids.html", {"groups": _grid_groups(request, town)})


@router.post("/report", dependencies=[CsrfChecked])
async def report(request: Request) -> HTMLResponse:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    language = language_of(request)
    try:
        new_case = intake.NewCase(
            category=values.get("category", ""),
            grid=values.get("grid", ""),
            address=values.get("address", ""),
            description=values.get("description", ""),
            reporter_name=values.get("reporter_name") or None,
            reporter_phone=values.get("reporter_phone") or None,
        )
        reported = await service_of(request).report(
            RESIDENT, new_case, values.get("idempotency_key") or None
        )
    except ValidationError:
        gettext = translations(language).gettext
        problem = str(
            gettext("Some fields are missing or not valid; check the form and try again.")
        )
        return _report_page(request, values, problem, status_code=422)
    except Refused as refused:
        problem = message(refused.type, language, refused.params)
        return _report_page(request, values, problem, status_code=409)
    await service_of(request).projected(reported.case_no, 1)
    return render(
        request,
        "public_reported.html",
        {
            "code": reported.lookup_code,
            "shown_code": shown(reported.lookup_code),
            "case_no": reported.case_no,
        },
    )


def _report_page(
    request: Request, values: dict[str, str], problem: str | None, status_code: int = 200
) -> HTMLResponse:
    names = names_of(request)
    language = language_of(request)
    town = values.get("town", "")
    if not town and values.get("grid"):
        with sessions_of(request)() as session:
            grid = session.get(GridRecord, values["grid"])
            town = grid.town_code if grid else ""
    return render(
        request,
        "public_report.html",
        {
            "values": values | {"town": town},
            "problem": problem,
            "categories": sorted(names.categories, key=lambda c: names.of("category", c, language)),
            "towns": sorted(names.towns),
            "groups": _grid_groups(request, town),
        },
        status_code=status_code,
    )


def _grid_groups(request: Request, town: str) -> list[dict[str, Any]]:
    """Grids grouped by village or community: of one town, or of every town without one."""
    names = names_of(request)
    language = language_of(request)
    towns = [town] if town in names.towns else sorted(names.towns)
    groups: list[dict[str, Any]] = []
    with sessions_of(request)() as session:
        for code in towns:
            for grid, community in queries.town_grids(session, code):
                title = community.name if language == "zh-CN" else community.name_en
                if len(towns) > 1:
                    title = f"{names.of('town', code, language)} · {title}"
                if not groups or groups[-1]["code"] != community.code:
                    groups.append({"code": community.code, "title": title, "grids": []})
                groups[-1]["grids"].append(grid.code)
    return groups
