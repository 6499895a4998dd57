"""Pages from Jinja2 templates, with what every page needs: the user, the language, the CSRF
token, the navigation, and filters for times and working-time countdowns."""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.calendar import CalendarError, WorkingCalendar
from domain.model import Role
from gridloop.access import Principal
from gridloop.messages import message
from gridloop.settings import Settings
from web.i18n import N_, translations
from web.labels import CLOCKS, EVENT_TONES, EVENTS, LABELS, STAGES
from web.names import names_of
from web.session import csrf_token, language_of, principal_of, take_flashes

TEMPLATES = Path(__file__).parent / "templates"

ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)

# Menu entries per role: (path, label, icon).
NAVIGATION: dict[Role, tuple[tuple[str, str, str], ...]] = {
    Role.COORDINATOR: (
        ("/dashboard", N_("Dashboard"), "gauge"),
        ("/cases", N_("Cases"), "list"),
        ("/cases/new", N_("Report a case"), "plus"),
        ("/consultations", N_("Consultations"), "users"),
        ("/stats", N_("Statistics"), "chart"),
        ("/scorecards", N_("Scorecards"), "gauge"),
        ("/map", N_("Grid map"), "map"),
        ("/webhooks", N_("Webhooks"), "inbox"),
    ),
    Role.DEPARTMENT: (
        ("/queue", N_("Work queue"), "inbox"),
        ("/cases", N_("Our cases"), "list"),
    ),
    Role.GRID_WORKER: (
        ("/grid", N_("My grids"), "map-pin"),
        ("/cases/new", N_("Report a case"), "plus"),
    ),
    Role.AUDITOR: (
        ("/audit", N_("Review queue"), "shield"),
        ("/cases", N_("Cases"), "list"),
        ("/stats", N_("Statistics"), "chart"),
        ("/scorecards", N_("Scorecards"), "gauge"),
        ("/map", N_("Grid map"), "map"),
    ),
}
HOME = {role: entries[0][0] for role, entries in NAVIGATION.items()}


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    language = language_of(request)
    gettext = translations(language).gettext
    settings: Settings = request.app.state.settings
    me = principal or principal_of(request)
    page = ENVIRONMENT.get_template(template).render(
        {
            "request": request,
            "me": me,
            "language": language,
            "_": gettext,
            "csrf": csrf_token(request),
            "navigation": NAVIGATION.get(me.role, ()) if me else (),
            "path": request.url.path,
            "stages": STAGES,
            "label": lambda code: gettext(LABELS.get(str(code), str(code))),
            "event_label": lambda kind: gettext(EVENTS.get(str(kind), str(kind))),
            "clock_label": lambda kind: gettext(CLOCKS.get(str(kind), str(kind))),
            "event_tone": lambda kind: EVENT_TONES.get(kind, ""),
            "refusal": lambda kind, params: message(kind, language, params),
            "local": _local_time(ZoneInfo(settings.timezone)),
            "countdown": _countdown(request.app.state.calendar, gettext),
            "name": _names(request, language),
            "flashes": take_flashes(request),
            "new_key": lambda: uuid.uuid4().hex,
            **(context or {}),
        }
    )
    return HTMLResponse(page, status_code=status_code)


def _names(request: Request, language: str) -> Any:
    def name(kind: str, code: str | None) -> str:
        return names_of(request).of(kind, code, language)

    return name


def _local_time(zone: ZoneInfo) -> Any:
    def local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return "" if moment is None else moment.astimezone(zone).strftime(pattern)

    return local


def _countdown(calendar: WorkingCalendar, gettext: Any) -> Any:
    """Working time left until a deadline (or past it), as the SLA clocks count it."""

    def countdown(due: datetime, now: datetime) -> dict[str, Any]:
        try:
            if due >= now:
                left = calendar.working_time_between(now, due)
                return {"overdue": False, "text": _working(left, gettext), "minutes": _m(left)}
            late = calendar.working_time_between(due, now)
        except CalendarError:
            return {"overdue": due < now, "text": "—", "minutes": 0}
        return {"overdue": True, "text": _working(late, gettext), "minutes": -_m(late)}

    return countdown


def _m(amount: timedelta) -> int:
    return int(amount.total_seconds() // 60)


def _working(amount: timedelta, gettext: Any) -> str:
    minutes = _m(amount)
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        return str(gettext("%(hours)d working hours") % {"hours": hours})
    if hours and minutes:
        return str(gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes})
    if hours:
        return str(gettext("%(hours)d h") % {"hours": hours})
    return str(gettext("%(minutes)d min") % {"minutes": minutes})
