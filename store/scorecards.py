"""Scorecards (考核评分) per department and per grid worker for a half-open period: the KPIs of
store.stats, the post-hoc reviews (事后倒查) that name them, and the composite score of
domain.scoring, ranked.

Who is a row:

- department: every department of the reference data, and any other department code that has
  KPI figures or is named by a review in the period. Its KPIs are store.stats' department cut
  (the cases it leads, all the work it receives).
- grid worker: every user with the grid-worker role that is active, or that has figures or a
  review in the period; keyed by username. Its KPIs are store.stats' grid-worker cut: the cases
  they reported (`cases.reported_by`). Cases in their grids reported by someone else (a
  resident, the 12345 hotline) are not theirs: a grid shares its 一长三员 and a case would count
  for each of them.

Which reviews count: those whose findings were recorded in the period (`reviews.recorded_at`),
whatever the period of their case. A review counts once for every department in
`responsible_departments` and every grid worker named in `responsible_people`. People are
named in free text (one per line in the review form), so an entry names a grid worker when it
is their username, or their display name when no other grid worker has that display name; an
ambiguous name is attributed to nobody rather than to the wrong person.

docs/scorecards.md is the operator's account of all this.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.model import ReviewOutcome, Role
from domain.scoring import ScorecardKind, ScoreKpi, ScoringRules
from store.models import DepartmentRecord, ReviewRecord, UserRecord
from store.stats import Grouping, KpiRow, kpis

_GROUPING = {
    ScorecardKind.DEPARTMENT: Grouping.DEPARTMENT,
    ScorecardKind.GRID_WORKER: Grouping.GRID_WORKER,
}


class ReviewTally(BaseModel):
    """The recorded reviews that name one department or grid worker, by outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reviews: int = 0
    no_action: int = 0
    """Outcome none (不予追责)."""
    notices: int = 0
    """Outcome notice (通报)."""
    interviews: int = 0
    """Outcome interview (约谈)."""
    deductions: int = 0
    """Outcome score deduction (扣分)."""
    points_deducted: float = 0.0
    """The sum of the reviews' `score_deduction`."""

    def outcomes(self) -> dict[ReviewOutcome, int]:
        return {
            ReviewOutcome.NONE: self.no_action,
            ReviewOutcome.NOTICE: self.notices,
            ReviewOutcome.INTERVIEW: self.interviews,
            ReviewOutcome.SCORE_DEDUCTION: self.deductions,
        }


class Scorecard(BaseModel):
    """One department's or grid worker's figures, review findings and score for the period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    """Department code, or the grid worker's username."""
    name: str
    """Chinese name of the department, or the user's display name; the key if unknown."""
    kpis: KpiRow
    reviews: ReviewTally
    kpi_score: float | None
    """100 × the weighted mean attainment of the KPIs with data (domain.scoring), two decimals;
    None when no weighted KPI has data."""
    penalty: float
    """Fixed points of the reviews' outcomes (通报, 约谈…)."""
    score: float | None
    """kpi_score − penalty − reviews.points_deducted, two decimals; None without a kpi_score."""
    rank: int | None
    """1 for the best score; equal scores share a rank (1, 1, 3); None without a score."""


def scorecards(
    session: Session, start: datetime, end: datetime, kind: ScorecardKind, rules: ScoringRules
) -> list[Scorecard]:
    """The scorecards of [start, end), ranked: the best score first, rows without a score last
    (by key)."""
    rows = {row.key: row for row in kpis(session, start, end, _GROUPING[kind]) if row.key}
    reviews = _recorded_reviews(session, start, end)
    if kind is ScorecardKind.DEPARTMENT:
        names = {
            code: name
            for code, name in session.execute(select(DepartmentRecord.code, DepartmentRecord.name))
        }
        named = _department_reviews(reviews)
        keys = set(names) | set(rows) | set(named)
    else:
        workers = session.execute(
            select(UserRecord.username, UserRecord.display_name, UserRecord.active).where(
                UserRecord.role == Role.GRID_WORKER.value
            )
        ).all()
        names = {username: display_name for username, display_name, _ in workers}
        named = _grid_worker_reviews(reviews, names)
        # Only grid workers: the reporters of store.stats' cut also include residents, the
        # hotline and other roles.
        rows = {key: row for key, row in rows.items() if key in names}
        active = {username for username, _, is_active in workers if is_active}
        keys = active | set(rows) | set(named)
    unranked = [
        _scorecard(key, names.get(key, key), rows.get(key), named.get(key, ReviewTally()), rules)
        for key in keys
    ]
    return _ranked(unranked)


_Review = tuple[list[str], list[str], ReviewOutcome, float]
"""responsible_departments, responsible_people, outcome, score_deduction"""


def _recorded_reviews(session: Session, start: datetime, end: datetime) -> list[_Review]:
    # The responsible lists are JSON arrays: unnesting them in SQL differs between SQLite and
    # PostgreSQL, so the period's reviews are read once (few per month) and tallied here.
    query = select(
        ReviewRecord.responsible_departments,
        ReviewRecord.responsible_people,
        ReviewRecord.outcome,
        ReviewRecord.score_deduction,
    ).where(ReviewRecord.recorded_at >= start, ReviewRecord.recorded_at < end)
    return [
        (list(departments or ()), list(people or ()), ReviewOutcome(outcome), float(deduction))
        for departments, people, outcome, deduction in session.execute(query)
        # Findings always carry an outcome; this only tells the type checker so.
        if outcome is not None
    ]


def _department_reviews(reviews: Iterable[_Review]) -> dict[str, ReviewTally]:
    return _tally(
        (set(departments), outcome, deduction) for departments, _, outcome, deduction in reviews
    )


def _grid_worker_reviews(
    reviews: Iterable[_Review], display_names: Mapping[str, str]
) -> dict[str, ReviewTally]:
    shared = Counter(display_names.values())
    aliases = {name: user for user, name in display_names.items() if shared[name] == 1}
    aliases |= {user: user for user in display_names}  # a username always names its user
    return _tally(
        ({aliases[p.strip()] for p in people if p.strip() in aliases}, outcome, deduction)
        for _, people, outcome, deduction in reviews
    )


def _tally(
    reviews: Iterable[tuple[set[str], ReviewOutcome, float]],
) -> dict[str, ReviewTally]:
    """Each review once for each key it names (a key named twice in one review counts once)."""
    counts: dict[str, Counter[ReviewOutcome]] = {}
    deducted: dict[str, float] = {}
    for keys, outcome, deduction in reviews:
        for key in keys:
            counts.setdefault(key, Counter())[outcome] += 1
            deducted[key] = deducted.get(key, 0.0) + deduction
    return {
        key: ReviewTally(
            reviews=sum(outcomes.values()),
            no_action=outcomes[ReviewOutcome.NONE],
            notices=outcomes[ReviewOutcome.NOTICE],
            interviews=outcomes[ReviewOutcome.INTERVIEW],
            deductions=outcomes[ReviewOutcome.SCORE_DEDUCTION],
            points_deducted=deducted[key],
        )
        for key, outcomes in counts.items()
    }


def _scorecard(
    key: str, name: str, row: KpiRow | None, reviews: ReviewTally, rules: ScoringRules
) -> Scorecard:
    figures = row or _no_figures(key)
    values: dict[ScoreKpi, float | None] = {kpi: getattr(figures, kpi.value) for kpi in ScoreKpi}
    kpi_score = rules.kpi_score(values)
    penalty = rules.penalty(reviews.outcomes())
    return Scorecard(
        key=key,
        name=name,
        kpis=figures,
        reviews=reviews,
        kpi_score=None if kpi_score is None else round(kpi_score, 2),
        penalty=penalty,
        score=rules.score(kpi_score, penalty, reviews.points_deducted),
        rank=None,
    )


def _no_figures(key: str) -> KpiRow:
    return KpiRow(
        key=key,
        reported=0,
        closed=0,
        closed_on_time=0,
        rated=0,
        satisfied=0,
        rehandled=0,
        recurred=0,
        assignments=0,
        sign_settled=0,
        signed_on_time=0,
        returned=0,
        completed=0,
        completed_on_time=0,
        avg_handling_hours=None,
    )


def _ranked(cards: list[Scorecard]) -> list[Scorecard]:
    ordered = sorted(cards, key=lambda c: (c.score is None, -(c.score or 0.0), c.key))
    ranked: list[Scorecard] = []
    for position, card in enumerate(ordered, start=1):
        if card.score is None:
            ranked.append(card)
        elif ranked and ranked[-1].score == card.score:
            ranked.append(card.model_copy(update={"rank": ranked[-1].rank}))
        else:
            ranked.append(card.model_copy(update={"rank": position}))
    return ranked
