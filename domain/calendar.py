"""The Chinese statutory working calendar: working days, make-up days (调休) and working hours.

Built-in data comes from the `chinese_calendar` package; other years come from an operator's
holiday table (TOML, see docs/calendar.md). A day that no table covers raises
`CalendarDataMissing`: an SLA deadline is never guessed.
"""

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from domain.model import ensure_aware

BUILTIN_YEARS = range(
    min(day.year for day in chinese_calendar.holidays),
    max(day.year for day in chinese_calendar.holidays) + 1,
)
# Deadlines are at most a few hundred working days ahead; a longer walk means bad input.
MAX_DAYS_WALKED = 5 * 366


class CalendarError(Exception):
    pass


class CalendarDataMissing(CalendarError):
    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no holiday schedule for {year}: the built-in calendar covers "
            f"{BUILTIN_YEARS.start}–{BUILTIN_YEARS.stop - 1}; load the State Council's {year} "
            "schedule as an operator table (GRIDLOOP_HOLIDAY_TABLE, see docs/calendar.md)"
        )


class CalendarTableError(CalendarError):
    pass


@dataclass(frozen=True)
class WorkingPeriod:
    start: time
    end: time


@dataclass(frozen=True)
class YearSchedule:
    """One year of an operator table: statutory holidays and make-up working days."""

    holidays: frozenset[date]
    workdays: frozenset[date]


DEFAULT_PERIODS = (
    WorkingPeriod(time(8, 30), time(12, 0)),
    WorkingPeriod(time(13, 30), time(17, 30)),
)


def parse_working_hours(text: str) -> tuple[WorkingPeriod, ...]:
    """Parse "08:30-12:00,13:30-17:30" into ordered, non-overlapping periods."""
    periods: list[WorkingPeriod] = []
    for part in text.replace(" ", "").split(","):
        try:
            start_text, end_text = part.split("-")
            period = WorkingPeriod(time.fromisoformat(start_text), time.fromisoformat(end_text))
        except ValueError as bad:
            raise ValueError(f"working period {part!r} is not HH:MM-HH:MM") from bad
        if period.start >= period.end:
            raise ValueError(f"working period {part!r} ends before it starts")
        if periods and period.start < periods[-1].end:
            raise ValueError(f"working period {part!r} overlaps or precedes the one before it")
        periods.append(period)
    return tuple(periods)


def load_operator_table(path: Path) -> dict[int, YearSchedule]:
    """Read an operator holiday table; every year in it is complete and authoritative."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as unreadable:
        raise CalendarTableError(f"{path}: {unreadable}") from unreadable
    table: dict[int, YearSchedule] = {}
    for year_key, entry in raw.items():
        if not (year_key.isdigit() and len(year_key) == 4) or not isinstance(entry, dict):
            raise CalendarTableError(f"{path}: [{year_key}] is not a [YYYY] table")
        year = int(year_key)
        unknown = set(entry) - {"holidays", "workdays"}
        if unknown:
            raise CalendarTableError(f"{path}: [{year}] has unknown keys {sorted(unknown)}")
        holidays = _dates(path, year, entry.get("holidays", []))
        workdays = _dates(path, year, entry.get("workdays", []))
        if clash := holidays & workdays:
            raise CalendarTableError(
                f"{path}: [{year}] lists {min(clash)} as both holiday and working day"
            )
        table[year] = YearSchedule(frozenset(holidays), frozenset(workdays))
    return table


def _dates(path: Path, year: int, entries: object) -> set[date]:
    if not isinstance(entries, list):
        raise CalendarTableError(f"{path}: [{year}] expects a list of dates")
    days: set[date] = set()
    for entry in entries:
        try:
            first_text, _, last_text = str(entry).partition("..")
            first = date.fromisoformat(first_text)
            last = date.fromisoformat(last_text) if last_text else first
        except ValueError as bad:
            raise CalendarTableError(f"{path}: [{year}] bad date {entry!r}") from bad
        if first.year != year or last.year != year or last < first:
            raise CalendarTableError(f"{path}: [{year}] entry {entry!r} is not inside {year}")
        days |= {first + timedelta(days=n) for n in range((last - first).days + 1)}
    return days


class WorkingCalendar:
    def __init__(
        self,
        *,
        periods: Sequence[WorkingPeriod] = DEFAULT_PERIODS,
        timezone: str = "Asia/Shanghai",
        operator_table: Mapping[int, YearSchedule] | None = None,
    ) -> None:
        self._periods = tuple(periods)
        self._zone = ZoneInfo(timezone)
        self._table = dict(operator_table or {})

    @classmethod
    def from_settings(
        cls, working_hours: str, timezone: str, holiday_table: Path | None
    ) -> "WorkingCalendar":
        table = load_operator_table(holiday_table) if holiday_table else None
        return cls(
            periods=parse_working_hours(working_hours), timezone=timezone, operator_table=table
        )

    def is_working_day(self, day: date) -> bool:
        schedule = self._table.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True
            return day not in schedule.holidays and day.weekday() < 5
        if day.year in BUILTIN_YEARS:
            return bool(chinese_calendar.is_workday(day))
        raise CalendarDataMissing(day.year)

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """End of the `days`-th working day after the day of `moment` (that day not counted)."""
        if days < 1:
            raise ValueError("add at least one working day")
        day = self._local(moment).date()
        for _ in range(MAX_DAYS_WALKED):
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
                if days == 0:
                    return self._at(day, self._periods[-1].end)
        raise CalendarError("deadline too far ahead")

    def add_working_time(self, moment: datetime, amount: timedelta) -> datetime:
        """The moment when `amount` of working time after `moment` has passed.

        Outside working time the clock starts at the next working period; a deadline that uses
        up a period exactly is that period's end, not the next period's start.
        """
        if amount < timedelta(0):
            raise ValueError("working time to add must not be negative")
        local = self._local(moment)
        if amount == timedelta(0):
            return local
        remaining = amount
        for start, end in self._periods_from(local.date()):
            if end <= local:
                continue
            begin = max(start, local)
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise CalendarError("deadline too far ahead")

    def add_working_hours(self, moment: datetime, hours: float) -> datetime:
        return self.add_working_time(moment, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        local_start, local_end = self._local(start), self._local(end)
        if local_end < local_start:
            raise ValueError("the interval ends before it starts")
        total = timedelta(0)
        for period_start, period_end in self._periods_from(local_start.date()):
            if period_start >= local_end:
                break
            overlap = min(period_end, local_end) - max(period_start, local_start)
            total += max(overlap, timedelta(0))
        return total

    def _periods_from(self, first_day: date) -> Iterator[tuple[datetime, datetime]]:
        day = first_day
        for _ in range(MAX_DAYS_WALKED):
            if self.is_working_day(day):
                for period in self._periods:
                    yield self._at(day, period.start), self._at(day, period.end)
            day += timedelta(days=1)

    def _local(self, moment: datetime) -> datetime:
        return ensure_aware(moment).astimezone(self._zone)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self._zone)
