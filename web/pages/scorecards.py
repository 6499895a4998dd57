"""Scorecards (考核评分) for the command centre and the auditors: one month's ranked scorecards of
the departments or the grid workers (store.scorecards), the formula in force, and the monthly
assessment report (月度考核表) to download as .xlsx or CSV (gridloop.assessment)."""

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from domain.scoring import ScorecardKind, ScoreKpi, ScoringRules
from gridloop import assessment
from gridloop.access import Principal
from gridloop.assessment import Period
from gridloop.settings import Settings
from store.scorecards import Scorecard, scorecards
from web.i18n import N_
from web.pages.stats import MONTHS_OFFERED, OVERSEERS, Month, month_label, month_of, shift
from web.render import HOME, render
from web.session import SignedIn, language_of, sessions_of

router = APIRouter(include_in_schema=False)

Kind = Annotated[str | None, Query(max_length=20)]

KINDS = (
    (ScorecardKind.DEPARTMENT, N_("Departments")),
    (ScorecardKind.GRID_WORKER, N_("Grid workers")),
)
KPI_LABELS = {
    ScoreKpi.CLOSURE_RATE: N_("Closure rate"),
    ScoreKpi.ON_TIME_CLOSURE_RATE: N_("On-time closure rate"),
    ScoreKpi.TIMELY_SIGN_RATE: N_("Timely sign-for rate"),
    ScoreKpi.SATISFACTION_RATE: N_("Satisfaction rate"),
    ScoreKpi.RETURN_RATE: N_("Return rate"),
    ScoreKpi.REHANDLING_RATE: N_("Re-handling rate"),
    ScoreKpi.RECURRENCE_RATE: N_("Recurrence rate"),
    ScoreKpi.ON_TIME_COMPLETION_RATE: N_("On-time completion rate"),
    ScoreKpi.AVG_HANDLING_HOURS: N_("Average handling time (working hours)"),
}


def kind_of(text: str | None) -> ScorecardKind:
    """The kind asked for; departments for anything else, as the month falls back to this one."""
    return ScorecardKind(text) if text in tuple(ScorecardKind) else ScorecardKind.DEPARTMENT


@router.get("/scorecards")
def scorecard_page(
    request: Request, me: SignedIn, month: Month = None, kind: Kind = None
) -> Response:
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    settings: Settings = request.app.state.settings
    now = datetime.now(ZoneInfo(settings.timezone))
    chosen_kind = kind_of(kind)
    period = Period.month(month_of(month, now.date()))
    rules = settings.scoring_rules(chosen_kind)
    cards = _scorecards(request, settings, period, chosen_kind, rules)
    language = language_of(request)
    this_month = now.date().replace(day=1)
    offered = [shift(this_month, -n) for n in range(MONTHS_OFFERED)]
    if period.first not in offered:
        offered.append(period.first)
    weighed = assessment.scored_kpis(rules)
    total_weight = sum(rules.weights[kpi] for kpi in weighed)
    query = f"kind={chosen_kind.value}&month={period.first:%Y-%m}"
    return render(
        request,
        "scorecards.html",
        {
            "kind": chosen_kind.value,
            "kinds": [(k.value, title) for k, title in KINDS],
            "month_value": f"{period.first:%Y-%m}",
            "month_name": month_label(period.first, language),
            "months": [(f"{m:%Y-%m}", month_label(m, language)) for m in offered],
            "taken_at": now,
            "cards": cards,
            "ranked": sum(1 for card in cards if card.rank is not None),
            "kpis": [(kpi.value, KPI_LABELS[kpi]) for kpi in weighed],
            "weights": [(KPI_LABELS[kpi], rules.weights[kpi] / total_weight) for kpi in weighed],
            "penalties": [
                (outcome.value, points) for outcome, points in rules.penalties.items() if points > 0
            ],
            "handling_hours": rules.handling_hours_target,
            "query": query,
        },
        principal=me,
    )


@router.get("/scorecards/export.xlsx")
def export_xlsx(request: Request, me: SignedIn, month: Month = None, kind: Kind = None) -> Response:
    return _export(request, me, month, kind, "xlsx")


@router.get("/scorecards/export.csv")
def export_csv(request: Request, me: SignedIn, month: Month = None, kind: Kind = None) -> Response:
    return _export(request, me, month, kind, "csv")


def _export(
    request: Request,
    me: Principal,
    month: str | None,
    kind: str | None,
    extension: Literal["xlsx", "csv"],
) -> Response:
    """The month's report, in Chinese whatever the console's language: it is filed as is."""
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    settings: Settings = request.app.state.settings
    now = datetime.now(ZoneInfo(settings.timezone))
    chosen_kind = kind_of(kind)
    period = Period.month(month_of(month, now.date()))
    rules = settings.scoring_rules(chosen_kind)
    content = assessment.report(
        _scorecards(request, settings, period, chosen_kind, rules),
        chosen_kind,
        rules,
        title=settings.scorecard_title,
        period=period,
        generated_at=now,
    )
    data, media_type = (
        (assessment.to_xlsx(content), assessment.XLSX_TYPE)
        if extension == "xlsx"
        else (assessment.to_csv(content), assessment.CSV_TYPE)
    )
    name = assessment.file_name(chosen_kind, period, extension)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _scorecards(
    request: Request, settings: Settings, period: Period, kind: ScorecardKind, rules: ScoringRules
) -> list[Scorecard]:
    zone = ZoneInfo(settings.timezone)
    with sessions_of(request)() as session:
        return scorecards(session, *period.bounds(zone), kind, rules)
