"""The Chinese statutory working calendar: working days, make-up days (调休) and working hours.

Built-in data comes from the `chinese_calendar` package; other years come from an operator's
holiday table (TOML, see docs/calendar.md). A day that no table covers raises
`CalendarDataMissing`: an SLA deadline is never guessed.

Every public function takes timezone-aware datetimes and returns them in the calendar's time zone.
Arithmetic is done on UTC instants, so a working period that spans a daylight-saving change in a
configured zone counts the time that really passes.
"""

import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from domain.model import ensure_aware

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_YEAR = re.compile(r"[0-9]{4}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TABLE_KEYS = frozenset({"holidays", "workdays"})


class CalendarError(Exception):
    """Any failure of the working calendar; deadlines are never guessed past one."""


class CalendarDataMissing(CalendarError):
    """A day the computation must look at lies in a year that no table covers."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no holiday schedule for {year}: the built-in calendar covers "
            f"{min(BUILTIN_SCHEDULES)}–{max(BUILTIN_SCHEDULES)}; copy the State Council's "
            f"{year} schedule into an operator table and point GRIDLOOP_HOLIDAY_TABLE at it "
            "(see docs/calendar.md)"
        )


class CalendarTableError(CalendarError):
    """The operator's holiday table is unreadable or malformed."""


@dataclass(frozen=True)
class WorkingPeriod:
    """One stretch of working time within a day, in the calendar's local wall-clock time."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a working period is local wall-clock time: give naive times")
        if self.start >= self.end:
            raise ValueError(f"working period {self} does not end after it starts")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class YearSchedule:
    """One year's statutory holidays and make-up working days (调休上班)."""

    holidays: frozenset[date]
    workdays: frozenset[date]


def _builtin_schedules() -> dict[int, YearSchedule]:
    holidays: set[date] = set(chinese_calendar.holidays)
    workdays: set[date] = set(chinese_calendar.workdays)
    # The package's coverage is read from its data, so upgrading it extends the years by itself.
    years = range(min(day.year for day in holidays), max(day.year for day in holidays) + 1)
    return {
        year: YearSchedule(
            holidays=frozenset(day for day in holidays if day.year == year),
            workdays=frozenset(day for day in workdays if day.year == year),
        )
        for year in years
    }


BUILTIN_SCHEDULES = _builtin_schedules()

DEFAULT_PERIODS = (
    WorkingPeriod(time(8, 30), time(12, 0)),
    WorkingPeriod(time(13, 30), time(17, 30)),
)


def parse_working_hours(text: str) -> tuple[WorkingPeriod, ...]:
    """Parse the settings form "08:30-12:00,13:30-17:30" into ordered, non-overlapping periods.

    Raises ValueError for an empty string, a period that is not HH:MM-HH:MM, a period that does
    not end after it starts, and periods out of order or overlapping.
    """
    periods: list[WorkingPeriod] = []
    for part in text.split(","):
        start_text, dash, end_text = part.partition("-")
        start, end = _clock(start_text), _clock(end_text)
        if not dash or start is None or end is None:
            raise ValueError(f"working period {part.strip()!r} is not HH:MM-HH:MM")
        periods.append(WorkingPeriod(start, end))
    return _ordered(periods)


def _clock(text: str) -> time | None:
    match = _CLOCK.fullmatch(text.strip())
    return time(int(match[1]), int(match[2])) if match else None


def _ordered(periods: Sequence[WorkingPeriod]) -> tuple[WorkingPeriod, ...]:
    if not periods:
        raise ValueError("a working day needs at least one working period")
    for earlier, later in pairwise(periods):
        if later.start < earlier.end:
            raise ValueError(f"working period {later} overlaps or precedes {earlier}")
    return tuple(periods)


def load_operator_table(path: Path) -> dict[int, YearSchedule]:
    """Read an operator holiday table; every year in it is complete and authoritative.

    Raises CalendarTableError, naming the file and the offending entry, for an unreadable file,
    a key that is not a four-digit year, an unknown key in a year, a malformed date or range, a
    date outside its year, a make-up working day on a weekday, or a date listed both ways.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as unreadable:
        raise CalendarTableError(f"{path}: {unreadable}") from unreadable
    table: dict[int, YearSchedule] = {}
    for key, entry in raw.items():
        if not _YEAR.fullmatch(key) or not isinstance(entry, dict):
            raise CalendarTableError(f"{path}: [{key}] is not a [YYYY] table of one year")
        year = int(key)
        unknown = set(entry) - _TABLE_KEYS
        if unknown:
            raise CalendarTableError(
                f"{path}: [{year}] has unknown keys {sorted(unknown)}; "
                f"expected only {sorted(_TABLE_KEYS)}"
            )
        holidays = _dates(path, year, "holidays", entry.get("holidays", []))
        workdays = _dates(path, year, "workdays", entry.get("workdays", []))
        if clash := holidays & workdays:
            raise CalendarTableError(
                f"{path}: [{year}] lists {min(clash)} as both a holiday and a working day"
            )
        # Make-up days are weekends by definition; a weekday here is a typo for another date.
        if weekdays := sorted(day for day in workdays if day.weekday() < 5):
            raise CalendarTableError(
                f"{path}: [{year}] workdays lists {weekdays[0]}, a weekday; "
                "make-up working days (调休上班) fall on a Saturday or Sunday"
            )
        table[year] = YearSchedule(frozenset(holidays), frozenset(workdays))
    return table


def _dates(path: Path, year: int, key: str, entries: object) -> set[date]:
    if not isinstance(entries, list):
        raise CalendarTableError(f"{path}: [{year}] {key} must be a list of dates")
    days: set[date] = set()
    for entry in entries:
        first, last = _date_range(path, year, key, entry)
        if first.year != year or last.year != year:
            raise CalendarTableError(f"{path}: [{year}] {key} entry {entry!r} is not inside {year}")
        if last < first:
            raise CalendarTableError(
                f"{path}: [{year}] {key} entry {entry!r} ends before it starts"
            )
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days


def _date_range(path: Path, year: int, key: str, entry: object) -> tuple[date, date]:
    # An unquoted TOML date is accepted as one day; a TOML datetime is not a day.
    if isinstance(entry, date) and not isinstance(entry, datetime):
        return entry, entry
    if isinstance(entry, str):
        first_text, dots, last_text = entry.partition("..")
        texts = (first_text.strip(), last_text.strip()) if dots else (entry.strip(),) * 2
        # date.fromisoformat alone would also take forms like 20270101 or 2027-W01-1.
        if all(_DAY.fullmatch(text) for text in texts):
            try:
                return date.fromisoformat(texts[0]), date.fromisoformat(texts[1])
            except ValueError:
                pass
    raise CalendarTableError(
        f"{path}: [{year}] {key} has a bad date {entry!r}; "
        "expected YYYY-MM-DD or an inclusive range YYYY-MM-DD..YYYY-MM-DD"
    )


class WorkingCalendar:
    """Working days and working hours, for SLA deadlines.

    A working day is a Monday-to-Friday that is not a statutory holiday, or a weekend day listed
    as a make-up working day. Working time is the configured periods of working days.

    Every method raises ValueError for a naive datetime, and CalendarDataMissing when it is given
    a moment in, or must look at a day of, a year that no table covers.
    """

    def __init__(
        self,
        *,
        periods: Sequence[WorkingPeriod] = DEFAULT_PERIODS,
        timezone: str = "Asia/Shanghai",
        operator_table: Mapping[int, YearSchedule] | None = None,
    ) -> None:
        self._periods = _ordered(periods)
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as unknown:
            raise ValueError(f"unknown time zone {timezone!r}") from unknown
        # An operator's year replaces the package's year wholesale, never merges with it.
        self._schedules = {**BUILTIN_SCHEDULES, **(operator_table or {})}

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @classmethod
    def from_settings(
        cls, working_hours: str, timezone: str, holiday_table: Path | None
    ) -> "WorkingCalendar":
        """Build from the settings' string forms.

        Raises ValueError for bad working hours or an unknown time zone, and CalendarTableError
        for an unreadable or malformed holiday table.
        """
        return cls(
            periods=parse_working_hours(working_hours),
            timezone=timezone,
            operator_table=None if holiday_table is None else load_operator_table(holiday_table),
        )

    def is_working_day(self, day: date) -> bool:
        """Whether `day` is a working day; raises CalendarDataMissing if no table covers it."""
        if isinstance(day, datetime):
            # A moment's day depends on the time zone, and a datetime never equals a table date.
            raise TypeError("is_working_day takes a date; use moment.astimezone(zone).date()")
        schedule = self._schedule(day.year)
        return day in schedule.workdays or (day.weekday() < 5 and day not in schedule.holidays)

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """The end of the last working period of the `days`-th working day after `moment`'s day.

        The day of `moment` (in the calendar's time zone) is not counted, whatever the time of
        day: this is "N个工作日内". Raises ValueError unless `days` >= 1.
        """
        if days < 1:
            raise ValueError("add at least one working day")
        day = self._local_day(self._utc(moment))
        # The starting day is not counted, but a moment in a year nobody covers is still refused.
        self._schedule(day.year)
        while days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return self._instant(day, self._periods[-1].end).astimezone(self._zone)

    def add_working_time(self, moment: datetime, amount: timedelta) -> datetime:
        """The moment when `amount` of working time after `moment` has passed.

        Outside working time the clock starts at the next working period; a deadline that uses
        up a period exactly is that period's end, not the next period's start. A zero amount
        returns `moment` itself; a negative one raises ValueError.
        """
        if amount < timedelta(0):
            raise ValueError("working time to add must not be negative")
        cursor = self._utc(moment)
        day = self._local_day(cursor)
        if amount == timedelta(0):
            self._schedule(day.year)
            return cursor.astimezone(self._zone)
        remaining = amount
        while True:
            for start, end in self._periods_on(day):
                begin = max(start, cursor)
                if begin >= end:
                    continue
                if remaining <= end - begin:
                    return (begin + remaining).astimezone(self._zone)
                remaining -= end - begin
            day += timedelta(days=1)

    def add_working_hours(self, moment: datetime, hours: float) -> datetime:
        """`add_working_time` with the amount given in hours."""
        return self.add_working_time(moment, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time inside [start, end]; raises ValueError if `end` precedes `start`.

        It is the inverse of `add_working_time` and additive over adjacent intervals.
        """
        first, last = self._utc(start), self._utc(end)
        if last < first:
            raise ValueError("the interval ends before it starts")
        total = timedelta(0)
        day, last_day = self._local_day(first), self._local_day(last)
        while day <= last_day:
            for period_start, period_end in self._periods_on(day):
                total += max(min(period_end, last) - max(period_start, first), timedelta(0))
            day += timedelta(days=1)
        return total

    def _schedule(self, year: int) -> YearSchedule:
        try:
            return self._schedules[year]
        except KeyError:
            raise CalendarDataMissing(year) from None

    def _periods_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return
        previous_end: datetime | None = None
        for period in self._periods:
            start, end = self._instant(day, period.start), self._instant(day, period.end)
            # A local edge inside a daylight-saving gap can map past its neighbours; clamping keeps
            # the periods disjoint and in order, so no instant is counted twice.
            if previous_end is not None:
                start = max(start, previous_end)
            if start < end:
                yield start, end
                previous_end = end

    def _utc(self, moment: datetime) -> datetime:
        return ensure_aware(moment).astimezone(UTC)

    def _local_day(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()

    def _instant(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self._zone).astimezone(UTC)
