"""The working-day calendar: fixed cases from the State Council's schedules, and properties."""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    DEFAULT_PERIODS,
    CalendarDataMissing,
    CalendarTableError,
    WorkingCalendar,
    WorkingPeriod,
    YearSchedule,
    load_operator_table,
    parse_working_hours,
)
from tests.support import SHANGHAI, at

CALENDAR = WorkingCalendar()
HOURS = timedelta(hours=1)
WORKING_DAY = 7.5 * HOURS
BERLIN = ZoneInfo("Europe/Berlin")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "calendar.md"

TABLE_2027 = """
# Illustration only: an operator copies the State Council's notice for the year.
[2027]
holidays = ["2027-01-01", "2027-02-06..2027-02-13", "2027-10-01..2027-10-07"]
workdays = ["2027-02-14", "2027-09-26", "2027-10-09"]
"""


def write(tmp_path: Path, content: str) -> Path:
    table = tmp_path / "holidays.toml"
    table.write_text(content, encoding="utf-8")
    return table


def test_spring_festival_2026() -> None:
    for day in range(15, 24):
        assert not CALENDAR.is_working_day(date(2026, 2, day))
    assert CALENDAR.is_working_day(date(2026, 2, 14))  # Saturday, make-up working day
    assert CALENDAR.is_working_day(date(2026, 2, 28))  # Saturday, make-up working day
    assert not CALENDAR.is_working_day(date(2026, 2, 21))  # Saturday inside the holiday
    assert CALENDAR.add_working_days(at("2026-02-13 10:00"), 1) == at("2026-02-14 17:30")
    assert CALENDAR.add_working_days(at("2026-02-14 10:00"), 1) == at("2026-02-24 17:30")
    assert CALENDAR.add_working_days(at("2026-02-13 10:00"), 2) == at("2026-02-24 17:30")
    assert CALENDAR.add_working_hours(at("2026-02-14 16:30"), 2) == at("2026-02-24 09:30")
    assert CALENDAR.working_time_between(at("2026-02-14 08:30"), at("2026-02-24 08:30")) == (
        WORKING_DAY
    )
    assert CALENDAR.working_time_between(at("2026-02-15 00:00"), at("2026-02-24 00:00")) == (
        timedelta(0)
    )


def test_national_day_2026() -> None:
    # chinese_calendar 1.11: Mid-Autumn 25–27 Sep, National Day 1–7 Oct, make-up 20 Sep, 10 Oct.
    for day in (date(2026, 9, 25), date(2026, 9, 26), date(2026, 9, 27)):
        assert not CALENDAR.is_working_day(day)
    for day in range(1, 8):
        assert not CALENDAR.is_working_day(date(2026, 10, day))
    assert CALENDAR.is_working_day(date(2026, 9, 20))  # Sunday, make-up working day
    assert CALENDAR.is_working_day(date(2026, 10, 10))  # Saturday, make-up working day
    assert not CALENDAR.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert CALENDAR.add_working_days(at("2026-09-19 10:00"), 1) == at("2026-09-20 17:30")
    assert CALENDAR.add_working_days(at("2026-09-24 10:00"), 1) == at("2026-09-28 17:30")
    assert CALENDAR.add_working_days(at("2026-09-30 10:00"), 1) == at("2026-10-08 17:30")
    assert CALENDAR.add_working_days(at("2026-09-30 10:00"), 3) == at("2026-10-10 17:30")
    assert CALENDAR.add_working_days(at("2026-09-30 10:00"), 4) == at("2026-10-12 17:30")
    assert CALENDAR.add_working_hours(at("2026-09-30 17:00"), 1) == at("2026-10-08 09:00")
    assert CALENDAR.working_time_between(at("2026-09-30 17:00"), at("2026-10-09 09:00")) == (
        8.5 * HOURS
    )


def test_a_deadline_across_the_year_boundary() -> None:
    assert {date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)} <= set(chinese_calendar.holidays)
    assert date(2026, 1, 4) in chinese_calendar.workdays  # Sunday, make-up working day
    assert CALENDAR.add_working_days(at("2025-12-30 10:00"), 3) == at("2026-01-05 17:30")
    assert CALENDAR.add_working_days(at("2025-12-30 10:00"), 2) == at("2026-01-04 17:30")
    assert CALENDAR.add_working_hours(at("2025-12-31 17:00"), 1) == at("2026-01-04 09:00")
    assert CALENDAR.working_time_between(at("2025-12-31 17:00"), at("2026-01-04 09:00")) == (HOURS)


def test_the_built_in_years_agree_with_chinese_calendar_day_by_day() -> None:
    # One pass over 23 years also shows long intervals are measured a day, not a minute, at a time.
    first, last = date(2004, 1, 1), date(2026, 12, 31)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    working = [day for day in days if chinese_calendar.is_workday(day)]
    assert [day for day in days if CALENDAR.is_working_day(day)] == working
    start = datetime.combine(first, time(0), tzinfo=SHANGHAI)
    end = datetime.combine(last, time(23, 59), tzinfo=SHANGHAI)
    assert CALENDAR.working_time_between(start, end) == len(working) * WORKING_DAY


def test_2027_without_an_operator_table_fails_loudly() -> None:
    with pytest.raises(CalendarDataMissing, match="2027") as missing:
        CALENDAR.add_working_days(at("2026-12-30 10:00"), 5)
    assert missing.value.year == 2027
    with pytest.raises(CalendarDataMissing, match="GRIDLOOP_HOLIDAY_TABLE"):
        CALENDAR.working_time_between(at("2026-12-31 09:00"), at("2027-01-04 09:00"))
    with pytest.raises(CalendarDataMissing, match="2027"):
        CALENDAR.add_working_hours(at("2026-12-31 17:00"), 1)
    with pytest.raises(CalendarDataMissing, match="2027"):
        CALENDAR.add_working_days(at("2027-01-04 10:00"), 1)
    with pytest.raises(CalendarDataMissing, match="2027"):
        CALENDAR.add_working_time(at("2027-01-04 10:00"), timedelta(0))
    with pytest.raises(CalendarDataMissing, match="2003"):
        CALENDAR.is_working_day(date(2003, 6, 2))
    # Within the known years the same calendar still answers.
    assert CALENDAR.add_working_days(at("2026-12-28 10:00"), 3) == at("2026-12-31 17:30")


def test_2027_with_an_operator_table(tmp_path: Path) -> None:
    table = write(tmp_path, TABLE_2027)
    assert load_operator_table(table)[2027].workdays == {
        date(2027, 2, 14),
        date(2027, 9, 26),
        date(2027, 10, 9),
    }
    calendar = WorkingCalendar.from_settings("08:30-12:00,13:30-17:30", "Asia/Shanghai", table)
    # Thu 31 Dec 2026, Fri 1 Jan 2027 holiday, weekend, Mon 4 Jan 2027.
    assert calendar.add_working_days(at("2026-12-30 10:00"), 2) == at("2027-01-04 17:30")
    assert calendar.add_working_days(at("2027-02-05 10:00"), 1) == at("2027-02-14 17:30")
    assert calendar.add_working_days(at("2027-02-14 10:00"), 1) == at("2027-02-15 17:30")
    assert calendar.add_working_hours(at("2027-02-05 17:00"), 1) == at("2027-02-14 09:00")
    assert calendar.working_time_between(at("2026-12-31 09:00"), at("2027-01-04 09:00")) == (
        WORKING_DAY
    )
    assert not calendar.is_working_day(date(2027, 10, 7))
    assert calendar.is_working_day(date(2027, 10, 9))  # Saturday, make-up working day
    with pytest.raises(CalendarDataMissing, match="2028"):
        calendar.add_working_days(at("2027-12-30 10:00"), 5)


def test_an_operator_year_replaces_the_built_in_one() -> None:
    plain_2026 = YearSchedule(holidays=frozenset(), workdays=frozenset())
    calendar = WorkingCalendar(operator_table={2026: plain_2026})
    assert calendar.is_working_day(date(2026, 2, 16))  # a Monday, no longer Spring Festival
    assert not calendar.is_working_day(date(2026, 2, 14))  # a Saturday, no longer made up
    assert not calendar.is_working_day(date(2025, 10, 1))  # 2025 is still the package's


def test_the_example_table_in_the_docs_is_valid(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1
    schedule = load_operator_table(write(tmp_path, blocks[0]))[2027]
    assert date(2027, 10, 1) in schedule.holidays
    assert schedule.workdays


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('[2027]\nholidays = ["2027-02-14"]\nworkdays = ["2027-02-14"]\n', "both"),
        ('[2027]\nholidays = ["2027-02-10..2027-02-16"]\nworkdays = ["2027-02-14"]\n', "both"),
        ('[2027]\nholidays = ["2027-02-30"]\n', "bad date '2027-02-30'"),
        ('[2027]\nholidays = ["20270101"]\n', "bad date"),
        ('[2027]\nholidays = ["2027-01-01..2027-01-xx"]\n', "bad date"),
        ("[2027]\nholidays = [2027-01-01T00:00:00]\n", "bad date"),
        ("[2027]\nholidays = [20270101]\n", "bad date"),
        ('[2027]\nholidays = "2027-01-01"\n', "list of dates"),
        ('[2027]\nholidays = ["2028-01-01"]\n', "'2028-01-01' is not inside 2027"),
        ('[2027]\nholidays = ["2027-12-31..2028-01-02"]\n', "not inside 2027"),
        ('[2027]\nholidays = ["2027-03-05..2027-03-01"]\n', "ends before it starts"),
        ('[2027]\nworkdays = ["2027-02-15"]\n', "2027-02-15, a weekday"),
        ('[2027]\nvacations = ["2027-01-01"]\n', "unknown keys \\['vacations'\\]"),
        ("[twenty]\nholidays = []\n", "YYYY"),
        ('["２０２７"]\nholidays = []\n', "YYYY"),
        ("year = 2027\n", "YYYY"),
        ("[2027\n", "holidays.toml"),
    ],
)
def test_a_malformed_operator_table_is_refused(
    tmp_path: Path, content: str, complaint: str
) -> None:
    table = write(tmp_path, content)
    with pytest.raises(CalendarTableError, match=complaint) as refused:
        load_operator_table(table)
    assert str(table) in str(refused.value)


def test_an_operator_table_accepts_toml_dates_and_an_empty_year(tmp_path: Path) -> None:
    table = write(tmp_path, "[2027]\nholidays = [2027-01-01]\n[2028]\n")
    assert load_operator_table(table) == {
        2027: YearSchedule(holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset()),
        2028: YearSchedule(holidays=frozenset(), workdays=frozenset()),
    }


def test_a_missing_operator_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CalendarTableError, match=r"absent\.toml"):
        WorkingCalendar.from_settings("08:30-12:00", "Asia/Shanghai", tmp_path / "absent.toml")


def test_working_hours() -> None:
    monday = "2026-03-02"
    assert CALENDAR.add_working_hours(at(f"{monday} 11:00"), 2) == at(f"{monday} 14:30")
    assert CALENDAR.add_working_hours(at(f"{monday} 17:00"), 1) == at("2026-03-03 09:00")
    assert CALENDAR.add_working_hours(at(f"{monday} 11:00"), 1) == at(f"{monday} 12:00")
    assert CALENDAR.add_working_hours(at(f"{monday} 12:00"), 1) == at(f"{monday} 14:30")
    assert CALENDAR.add_working_hours(at(f"{monday} 12:30"), 1) == at(f"{monday} 14:30")
    assert CALENDAR.add_working_hours(at(f"{monday} 07:00"), 3.5) == at(f"{monday} 12:00")
    assert CALENDAR.add_working_hours(at(f"{monday} 16:30"), 1) == at(f"{monday} 17:30")
    assert CALENDAR.add_working_hours(at("2026-03-06 17:00"), 1) == at("2026-03-09 09:00")
    assert CALENDAR.add_working_time(at(f"{monday} 20:00"), timedelta(0)) == at(f"{monday} 20:00")
    assert CALENDAR.working_time_between(at(f"{monday} 11:00"), at(f"{monday} 14:30")) == 2 * HOURS
    assert CALENDAR.working_time_between(at(f"{monday} 12:00"), at(f"{monday} 13:30")) == (
        timedelta(0)
    )


def test_moments_in_another_time_zone_are_converted() -> None:
    utc_morning = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    deadline = CALENDAR.add_working_hours(utc_morning, 1)
    assert deadline == at("2026-03-02 10:00")
    assert deadline.tzinfo == SHANGHAI
    # 23:00 UTC on Sunday 1 March is already Monday morning in Shanghai.
    late_sunday = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert CALENDAR.add_working_days(late_sunday, 1) == at("2026-03-03 17:30")
    assert CALENDAR.working_time_between(late_sunday, utc_morning) == 30 * timedelta(minutes=1)
    unchanged = CALENDAR.add_working_time(utc_morning, timedelta(0))
    assert unchanged == utc_morning
    assert unchanged.tzinfo == SHANGHAI


def test_custom_working_hours_and_time_zone() -> None:
    assert parse_working_hours(" 09:00-12:00 , 14:00-18:00 ") == (
        WorkingPeriod(time(9), time(12)),
        WorkingPeriod(time(14), time(18)),
    )
    calendar = WorkingCalendar(periods=parse_working_hours("09:00-17:00"), timezone="UTC")
    monday_nine = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert calendar.add_working_hours(monday_nine + 7 * HOURS, 2) == monday_nine + 25 * HOURS
    assert calendar.add_working_days(monday_nine, 1) == monday_nine + 32 * HOURS
    assert calendar.add_working_days(monday_nine, 1).tzinfo == ZoneInfo("UTC")


@pytest.mark.parametrize(
    "text",
    [
        "",
        ",",
        "9-17",
        "08:30",
        "08:30-12:00,",
        "08:30-12:00;13:30-17:30",
        "24:00-25:00",
        "08:30+08:00-12:00",
        "08:30-08:30",
        "09:00-08:00",
        "08:30-12:00,11:00-17:30",
        "13:30-17:30,08:30-12:00",
    ],
)
def test_bad_working_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="working period"):
        parse_working_hours(text)


def test_a_calendar_refuses_bad_settings() -> None:
    morning = WorkingPeriod(time(8, 30), time(12, 0))
    afternoon = WorkingPeriod(time(13, 30), time(17, 30))
    with pytest.raises(ValueError, match="overlaps or precedes"):
        WorkingCalendar(periods=[afternoon, morning])
    with pytest.raises(ValueError, match="at least one"):
        WorkingCalendar(periods=[])
    with pytest.raises(ValueError, match="unknown time zone"):
        WorkingCalendar(timezone="Asia/Beijing")
    with pytest.raises(ValueError, match="does not end after"):
        WorkingPeriod(time(12), time(8, 30))
    with pytest.raises(ValueError, match="naive"):
        WorkingPeriod(time(8, 30, tzinfo=UTC), time(12, tzinfo=UTC))


def test_naive_moments_and_bad_arguments_are_refused() -> None:
    naive = datetime(2026, 3, 2, 9, 0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.add_working_hours(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.add_working_days(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.working_time_between(at("2026-03-02 09:00"), naive + HOURS)
    with pytest.raises(ValueError, match="at least one"):
        CALENDAR.add_working_days(at("2026-03-02 09:00"), 0)
    with pytest.raises(ValueError, match="negative"):
        CALENDAR.add_working_hours(at("2026-03-02 09:00"), -1)
    with pytest.raises(ValueError, match="ends before"):
        CALENDAR.working_time_between(at("2026-03-03 09:00"), at("2026-03-02 09:00"))
    with pytest.raises(TypeError, match="takes a date"):
        CALENDAR.is_working_day(at("2026-02-16 09:00"))


def test_a_daylight_saving_zone_counts_the_time_that_passes(tmp_path: Path) -> None:
    # Berlin springs forward on Sun 28 Mar 2027 and falls back on Sun 31 Oct 2027; the table
    # makes both working days so that a 01:00–04:00 period straddles each change.
    table = write(tmp_path, '[2027]\nworkdays = ["2027-03-28", "2027-10-31"]\n')
    calendar = WorkingCalendar.from_settings("01:00-04:00", "Europe/Berlin", table)

    def berlin(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=BERLIN)

    spring, autumn = berlin("2027-03-28 00:00"), berlin("2027-10-31 00:00")
    assert calendar.working_time_between(spring, spring + timedelta(hours=23)) == 2 * HOURS
    assert calendar.working_time_between(autumn, autumn + timedelta(hours=23)) == 4 * HOURS
    assert calendar.add_working_hours(berlin("2027-03-28 01:30"), 1) == berlin("2027-03-28 03:30")
    assert calendar.add_working_hours(berlin("2027-03-28 01:00"), 2) == berlin("2027-03-28 04:00")
    assert calendar.add_working_hours(berlin("2027-10-31 01:00"), 4) == berlin("2027-10-31 04:00")


# ---- properties ---------------------------------------------------------------------------------

# Generated moments stop at the end of June 2026 and amounts are bounded, so every computation
# stays inside 2026, the last year the package covers. Hypothesis takes naive bounds and attaches
# the time zone itself.
moments = st.datetimes(
    min_value=datetime(2004, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 6, 30),  # noqa: DTZ001
    timezones=st.just(SHANGHAI),
)
durations = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=20))


def inside_a_period(calendar: WorkingCalendar, moment: datetime, zone: ZoneInfo) -> bool:
    day = moment.astimezone(zone).date()
    return any(
        datetime.combine(day, period.start, tzinfo=zone)
        < moment
        <= datetime.combine(day, period.end, tzinfo=zone)
        for period in DEFAULT_PERIODS
    ) and calendar.is_working_day(day)


@given(moments, durations)
def test_adding_working_time_and_measuring_it_agree(moment: datetime, amount: timedelta) -> None:
    deadline = CALENDAR.add_working_time(moment, amount)
    assert deadline > moment
    assert deadline.tzinfo == SHANGHAI
    assert CALENDAR.working_time_between(moment, deadline) == amount
    assert inside_a_period(CALENDAR, deadline, SHANGHAI)


@given(moments, st.integers(min_value=1, max_value=60))
def test_working_day_deadlines_end_a_working_day(moment: datetime, days: int) -> None:
    deadline = CALENDAR.add_working_days(moment, days)
    assert CALENDAR.is_working_day(deadline.date())
    assert deadline.time() == time(17, 30)
    assert deadline.tzinfo == SHANGHAI
    counted = [
        moment.date() + timedelta(days=n)
        for n in range(1, (deadline.date() - moment.date()).days + 1)
    ]
    assert sum(CALENDAR.is_working_day(day) for day in counted) == days


@given(moments, durations, durations)
def test_working_time_is_additive_and_monotonic(
    start: datetime, first: timedelta, second: timedelta
) -> None:
    middle, end = start + first, start + first + second
    before = CALENDAR.working_time_between(start, middle)
    after = CALENDAR.working_time_between(middle, end)
    assert before + after == CALENDAR.working_time_between(start, end)
    assert timedelta(0) <= before <= first
    assert timedelta(0) <= after <= second


@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31)))
def test_a_non_working_day_has_no_working_time(day: date) -> None:
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    measured = CALENDAR.working_time_between(start, start + timedelta(days=1))
    assert measured == (WORKING_DAY if CALENDAR.is_working_day(day) else timedelta(0))


@st.composite
def calendars(draw: st.DrawFn) -> tuple[WorkingCalendar, timedelta]:
    """A calendar with random working hours and zone, and its working time per day."""
    edges = sorted(draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=2, max_size=6, unique=True)))
    clocks = [time(minute // 60, minute % 60) for minute in edges[: len(edges) // 2 * 2]]
    periods = [
        WorkingPeriod(start, end) for start, end in zip(clocks[::2], clocks[1::2], strict=True)
    ]
    zone = draw(st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Berlin", "America/New_York"]))
    per_day = sum(
        (
            datetime.combine(date.min, period.end) - datetime.combine(date.min, period.start)
            for period in periods
        ),
        timedelta(0),
    )
    return WorkingCalendar(periods=periods, timezone=zone), per_day


utc_moments = st.datetimes(
    min_value=datetime(2004, 1, 2),  # noqa: DTZ001
    max_value=datetime(2026, 6, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(calendars(), utc_moments, st.floats(min_value=1e-6, max_value=30))
def test_any_working_hours_round_trip(
    calendar_and_day: tuple[WorkingCalendar, timedelta], moment: datetime, working_days: float
) -> None:
    calendar, per_day = calendar_and_day
    amount = max(per_day * working_days, timedelta(microseconds=1))
    deadline = calendar.add_working_time(moment, amount)
    assert deadline > moment
    assert calendar.working_time_between(moment, deadline) == amount
    middle = moment + (deadline - moment) / 3
    assert (
        calendar.working_time_between(moment, middle)
        + calendar.working_time_between(middle, deadline)
        == amount
    )
