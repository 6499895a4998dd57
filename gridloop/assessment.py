"""The scorecards as a monthly assessment report (月度考核表), for the API and the console alike:
a title with the period and the kind, the period and the time the figures were taken, a Chinese
header, one row per department or grid worker in rank order, and the formula as a footer. As
.xlsx (openpyxl) or as CSV in UTF-8 with a byte-order mark, so that Excel reads the Chinese.

The layout is described for operators in docs/scorecards.md.
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from domain.model import ReviewOutcome
from domain.scoring import LOWER_IS_BETTER, ScorecardKind, ScoreKpi, ScoringRules
from store.scorecards import Scorecard

# ---- the period --------------------------------------------------------------------------------


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Whole days [first, after) in the calendar's time zone."""

    first: date
    after: date

    def __post_init__(self) -> None:
        if self.after <= self.first:
            raise ValueError("the period is empty: it must end after it starts")

    @classmethod
    def month(cls, first: date) -> "Period":
        return cls(first.replace(day=1), next_month(first))

    @property
    def is_month(self) -> bool:
        return self.first.day == 1 and self.after == next_month(self.first)

    @property
    def last(self) -> date:
        return date.fromordinal(self.after.toordinal() - 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The half-open instants the KPIs are counted over."""
        return (
            datetime.combine(self.first, time(0), tzinfo=zone),
            datetime.combine(self.after, time(0), tzinfo=zone),
        )

    def label(self) -> str:
        """2026年11月, or 2026年11月1日至2026年11月15日 for any other range."""
        if self.is_month:
            return f"{self.first.year}年{self.first.month}月"
        return f"{_chinese_day(self.first)}至{_chinese_day(self.last)}"

    def slug(self) -> str:
        """For file names: 2026-11, or 2026-11-01_2026-11-15."""
        if self.is_month:
            return f"{self.first:%Y-%m}"
        return f"{self.first:%Y-%m-%d}_{self.last:%Y-%m-%d}"


def _chinese_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# ---- the columns -------------------------------------------------------------------------------

KIND_TITLES = {ScorecardKind.DEPARTMENT: "部门", ScorecardKind.GRID_WORKER: "网格员"}
KPI_TITLES = {
    ScoreKpi.CLOSURE_RATE: "办结率",
    ScoreKpi.ON_TIME_CLOSURE_RATE: "按时办结率",
    ScoreKpi.TIMELY_SIGN_RATE: "及时签收率",
    ScoreKpi.SATISFACTION_RATE: "满意率",
    ScoreKpi.RETURN_RATE: "退单率",
    ScoreKpi.REHANDLING_RATE: "重办率",
    ScoreKpi.RECURRENCE_RATE: "复发率",
    ScoreKpi.ON_TIME_COMPLETION_RATE: "按时办理率",
    ScoreKpi.AVG_HANDLING_HOURS: "平均办理时长（工作小时）",
}
OUTCOME_TITLES = {
    ReviewOutcome.NONE: "不予追责",
    ReviewOutcome.NOTICE: "通报",
    ReviewOutcome.INTERVIEW: "约谈",
    ReviewOutcome.SCORE_DEDUCTION: "扣分",
}
EMPTY = "—"
"""A figure without data (a rate whose denominator is 0, a row without a score)."""

Format = Literal["text", "count", "rate", "hours", "points"]
NUMBER_FORMATS: dict[Format, str] = {
    "count": "0",
    "rate": "0.0%",
    "hours": "0.0",
    "points": "0.00",
}
Value = str | int | float | None


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    format: Format
    value: Callable[[Scorecard], Value]


def scored_kpis(rules: ScoringRules) -> list[ScoreKpi]:
    """The KPIs that count in the score, in the order of ScoreKpi: the report's KPI columns."""
    return [kpi for kpi in ScoreKpi if rules.weights.get(kpi, 0) > 0]


def columns(kind: ScorecardKind, rules: ScoringRules) -> list[Column]:
    if kind is ScorecardKind.DEPARTMENT:
        who = [
            Column("部门", 24, "text", lambda c: c.name),
            Column("部门代码", 22, "text", lambda c: c.key),
            Column("主办案件", 9, "count", lambda c: c.kpis.reported),
            Column("承办任务", 9, "count", lambda c: c.kpis.assignments),
        ]
    else:
        who = [
            Column("网格员", 14, "text", lambda c: c.name),
            Column("用户名", 16, "text", lambda c: c.key),
            Column("上报案件", 9, "count", lambda c: c.kpis.reported),
        ]
    figures = [
        Column(
            KPI_TITLES[kpi],
            12 if kpi is ScoreKpi.AVG_HANDLING_HOURS else 10,
            "hours" if kpi is ScoreKpi.AVG_HANDLING_HOURS else "rate",
            _kpi_value(kpi),
        )
        for kpi in scored_kpis(rules)
    ]
    reviews = [
        Column("倒查次数", 9, "count", lambda c: c.reviews.reviews),
        Column("不予追责", 9, "count", lambda c: c.reviews.no_action),
        Column("通报", 7, "count", lambda c: c.reviews.notices),
        Column("约谈", 7, "count", lambda c: c.reviews.interviews),
        Column("扣分处理", 9, "count", lambda c: c.reviews.deductions),
        Column("倒查扣分", 9, "points", lambda c: c.reviews.points_deducted),
        Column("处理扣分", 9, "points", lambda c: c.penalty),
        Column("指标得分", 9, "points", lambda c: c.kpi_score),
        Column("综合得分", 9, "points", lambda c: c.score),
    ]
    return [Column("排名", 6, "count", lambda c: c.rank), *who, *figures, *reviews]


def _kpi_value(kpi: ScoreKpi) -> Callable[[Scorecard], Value]:
    def value(card: Scorecard) -> Value:
        figure: float | None = getattr(card.kpis, kpi.value)
        return figure

    return value


# ---- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    title: str
    period: str
    generated: str
    columns: list[Column]
    rows: list[list[Value]]
    footer: list[str]


def report(
    cards: Sequence[Scorecard],
    kind: ScorecardKind,
    rules: ScoringRules,
    *,
    title: str,
    period: Period,
    generated_at: datetime,
) -> Report:
    """The report of these scorecards (in their order); `title` is Settings.scorecard_title and
    `generated_at` is when the figures were taken, in the calendar's time zone."""
    chosen = columns(kind, rules)
    return Report(
        title=title_of(title, period, kind),
        period=f"考核期间：{period.first:%Y-%m-%d} 至 {period.last:%Y-%m-%d}",
        generated=f"生成时间：{generated_at:%Y-%m-%d %H:%M}",
        columns=chosen,
        rows=[[column.value(card) for column in chosen] for card in cards],
        footer=formula(kind, rules),
    )


def title_of(title: str, period: Period, kind: ScorecardKind) -> str:
    """嘉善县网格化管理月度考核表（2026年11月）· 部门, from Settings.scorecard_title."""
    return f"{title}（{period.label()}）· {KIND_TITLES[kind]}"


def formula(kind: ScorecardKind, rules: ScoringRules) -> list[str]:
    """The formula and the rules in force, in Chinese, for the report's footer."""
    total = sum(rules.weights.get(kpi, 0) for kpi in scored_kpis(rules))
    weights = "，".join(
        f"{KPI_TITLES[kpi]} {_share(rules.weights[kpi] / total)}" for kpi in scored_kpis(rules)
    )
    lower = "、".join(KPI_TITLES[kpi] for kpi in ScoreKpi if kpi in LOWER_IS_BETTER)
    target = f"{rules.handling_hours_target:g}"
    penalties = "，".join(
        f"{OUTCOME_TITLES[outcome]}每次 {points:g} 分"
        for outcome, points in rules.penalties.items()
        if points > 0
    )
    who = (
        "部门的结案类指标按其主办的案件统计，"
        "签收、退单、办理类指标按其承办（主办或协办）的全部任务统计。"
        if kind is ScorecardKind.DEPARTMENT
        else "网格员的指标按本人上报的案件统计；"
        "倒查“责任人”填写其用户名或（不与他人重名的）姓名时计入。"
    )
    return [
        "计分公式：综合得分 = 指标得分 − 倒查扣分 − 处理扣分；"
        "指标得分 = 100 × Σ(权重 × 达成度) ÷ Σ(有数据指标的权重)。",
        f"指标权重：{weights}。",
        f"达成度：比率类指标按比率计，{lower}按（1 − 比率）计；"
        f"平均办理时长不超过 {target} 个工作小时计满分，超过按 {target} ÷ 平均时长计；"
        "无数据的指标不参与加权。",
        f"倒查扣分为考核期间内登记结论的倒查所记扣分之和；处理扣分：{penalties or '无'}。",
        who,
        "案件按上报时间、任务按派单时间计入考核期间；无任何指标数据的不计得分、不参与排名。",
    ]


def _share(fraction: float) -> str:
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


# ---- the files ---------------------------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
HEADER_ROW = 4
"""Title, period, generation time, then the header."""


def to_xlsx(content: Report) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None, "a new workbook has a sheet"
    sheet.title = "考核表"
    width = len(content.columns)
    sheet.append([content.title])
    sheet.append([content.period])
    sheet.append([content.generated])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([column.title for column in content.columns])
    for cell in sheet[HEADER_ROW]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="12305A")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in content.rows:
        sheet.append([EMPTY if value is None else value for value in row])
    for index, column in enumerate(content.columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.format == "text":
            continue
        for (cell,) in sheet.iter_rows(
            min_row=HEADER_ROW + 1,
            max_row=HEADER_ROW + len(content.rows),
            min_col=index,
            max_col=index,
        ):
            cell.number_format = NUMBER_FORMATS[column.format]
            cell.alignment = Alignment(horizontal="right")
    sheet.append([])
    for line in content.footer:
        sheet.append([line])
    # The header and the rank and name columns stay in view.
    sheet.freeze_panes = f"C{HEADER_ROW + 1}"
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def to_csv(content: Report) -> bytes:
    out = io.StringIO()
    out.write("\ufeff")  # a byte-order mark, so that Excel reads the file as UTF-8
    writer = csv.writer(out)
    writer.writerow([content.title])
    writer.writerow([content.period])
    writer.writerow([content.generated])
    writer.writerow([column.title for column in content.columns])
    for row in content.rows:
        writer.writerow(
            [
                _text(value, column.format)
                for value, column in zip(row, content.columns, strict=True)
            ]
        )
    writer.writerow([])
    for line in content.footer:
        writer.writerow([line])
    return out.getvalue().encode("utf-8")


def _text(value: Value, kind: Format) -> str:
    """A cell as a CSV field: rates as percentages, like the spreadsheet shows them."""
    if value is None:
        return EMPTY
    if isinstance(value, str):
        return value
    match kind:
        case "rate":
            return f"{value * 100:.1f}%"
        case "hours":
            return f"{value:.1f}"
        case "points":
            return f"{value:.2f}"
        case _:
            return str(value)


def file_name(kind: ScorecardKind, period: Period, extension: str) -> str:
    return f"gridloop-scorecards-{kind.value}-{period.slug()}.{extension}"
