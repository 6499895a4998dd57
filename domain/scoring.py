"""The composite score of a scorecard (综合得分), the input of 薪金浮动制 and 晋升淘汰制.

    score = 100 × Σ(weight × attainment) / Σ(weight)   over the weighted KPIs that have data
            − Σ score_deduction of the reviews naming the unit
            − Σ fixed penalty of each review's outcome (通报, 约谈…)

Each KPI's attainment is a share between 0 and 1: the rate itself where higher is better, one
minus the rate where lower is better (退单率, 重办率, 复发率), and for the average handling time
1 up to a target number of working hours, target / average beyond it. A KPI without data (its
denominator is 0) leaves the mean, weight and all, so that "nothing to count" is neither a
reward nor a penalty. Without any weighted KPI there is no score.

Pure: the rules come from the settings (gridloop/settings.py), the figures from store.stats and
store.scorecards. The operator's account of the formula is docs/scorecards.md.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.model import ReviewOutcome


class ScorecardKind(StrEnum):
    """Who is scored."""

    DEPARTMENT = "department"
    GRID_WORKER = "grid_worker"


class ScoreKpi(StrEnum):
    """The KPIs a score can weigh; each value is the name of the figure on store.stats.KpiRow."""

    CLOSURE_RATE = "closure_rate"  # 办结率
    ON_TIME_CLOSURE_RATE = "on_time_closure_rate"  # 按时办结率
    TIMELY_SIGN_RATE = "timely_sign_rate"  # 及时签收率
    SATISFACTION_RATE = "satisfaction_rate"  # 满意率
    RETURN_RATE = "return_rate"  # 退单率
    REHANDLING_RATE = "rehandling_rate"  # 重办率
    RECURRENCE_RATE = "recurrence_rate"  # 复发率
    ON_TIME_COMPLETION_RATE = "on_time_completion_rate"  # 按时办理率
    AVG_HANDLING_HOURS = "avg_handling_hours"  # 平均办理时长（工作小时）


LOWER_IS_BETTER = frozenset(
    {ScoreKpi.RETURN_RATE, ScoreKpi.REHANDLING_RATE, ScoreKpi.RECURRENCE_RATE}
)

DEFAULT_DEPARTMENT_WEIGHTS: Mapping[ScoreKpi, float] = {
    ScoreKpi.CLOSURE_RATE: 0.10,
    ScoreKpi.ON_TIME_CLOSURE_RATE: 0.15,
    ScoreKpi.TIMELY_SIGN_RATE: 0.15,
    ScoreKpi.SATISFACTION_RATE: 0.20,
    ScoreKpi.RETURN_RATE: 0.05,
    ScoreKpi.REHANDLING_RATE: 0.05,
    ScoreKpi.RECURRENCE_RATE: 0.05,
    ScoreKpi.ON_TIME_COMPLETION_RATE: 0.15,
    ScoreKpi.AVG_HANDLING_HOURS: 0.10,
}
"""A department is weighed on the cases it leads and on all the work it receives."""

DEFAULT_GRID_WORKER_WEIGHTS: Mapping[ScoreKpi, float] = {
    ScoreKpi.CLOSURE_RATE: 0.25,
    ScoreKpi.ON_TIME_CLOSURE_RATE: 0.20,
    ScoreKpi.SATISFACTION_RATE: 0.30,
    ScoreKpi.REHANDLING_RATE: 0.10,
    ScoreKpi.RECURRENCE_RATE: 0.15,
}
"""A grid worker is weighed on the outcome of the cases they reported; the departments' sign-for,
returns and handling time on those cases are the departments' doing, not theirs."""

DEFAULT_OUTCOME_PENALTIES: Mapping[ReviewOutcome, float] = {
    ReviewOutcome.NONE: 0.0,
    ReviewOutcome.NOTICE: 2.0,
    ReviewOutcome.INTERVIEW: 5.0,
    # The deduction the auditor records is the penalty; nothing fixed comes on top.
    ReviewOutcome.SCORE_DEDUCTION: 0.0,
}

DEFAULT_HANDLING_HOURS_TARGET = 15.0
"""Two working days of the default working hours (7.5 h a day)."""

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Points = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


def check_weights(weights: Mapping[ScoreKpi, float]) -> Mapping[ScoreKpi, float]:
    """Refuse weights that weigh nothing: every score would be empty."""
    if not any(weight > 0 for weight in weights.values()):
        raise ValueError("at least one KPI needs a weight above 0")
    return weights


class ScoringRules(BaseModel):
    """How one kind of scorecard is scored: KPI weights (a KPI not listed, or weighted 0, does
    not count), fixed penalty points per review outcome (an outcome not listed costs nothing),
    and the average handling time that still earns full marks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[ScoreKpi, Weight]
    penalties: dict[ReviewOutcome, Points]
    handling_hours_target: float = Field(gt=0, allow_inf_nan=False)

    @field_validator("weights")
    @classmethod
    def _weigh_something(cls, weights: dict[ScoreKpi, float]) -> dict[ScoreKpi, float]:
        check_weights(weights)
        return weights

    def attainment(self, kpi: ScoreKpi, value: float) -> float:
        """The KPI's value as a share of full marks, between 0 and 1."""
        if kpi is ScoreKpi.AVG_HANDLING_HOURS:
            return min(1.0, self.handling_hours_target / value) if value > 0 else 1.0
        if kpi in LOWER_IS_BETTER:
            return 1.0 - value
        return value

    def kpi_score(self, values: Mapping[ScoreKpi, float | None]) -> float | None:
        """100 × the weighted mean attainment of the weighted KPIs with data; None without."""
        weighed = [
            (weight, self.attainment(kpi, value))
            for kpi, weight in self.weights.items()
            if weight > 0 and (value := values.get(kpi)) is not None
        ]
        if not weighed:
            return None
        total = sum(weight for weight, _ in weighed)
        return 100 * sum(weight * share for weight, share in weighed) / total

    def penalty(self, outcomes: Mapping[ReviewOutcome, int]) -> float:
        """The fixed penalty points of these review outcomes (how many of each)."""
        return sum(self.penalties.get(outcome, 0.0) * count for outcome, count in outcomes.items())

    def score(self, kpi_score: float | None, penalty: float, deducted: float) -> float | None:
        """The composite score, rounded to two decimals (equal rounded scores share a rank)."""
        if kpi_score is None:
            return None
        return round(kpi_score - penalty - deducted, 2)
