"""The working-day calendar: fixed cases from the State Council's schedules, and properties."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    CalendarDataMissing,
    CalendarTableError,
    WorkingCalendar,
    load_operator_table,
    parse_working_hours,
)
from tests.support import SHANGHAI, at

CALENDAR = WorkingCalendar()
HOURS = timedelta(hours=1)

TABLE_2027 = """
# Illustration only: an operator copies the State Council's notice for the year.
[2027]
holidays = ["2027-01-01", "2027-02-06..2027-02-13", "2027-10-01..2027-10-07"]
workdays = ["2027-02-14", "2027-09-26", "2027-10-09"]
"""


def test_spring_festival_2026() -> None:
    for day in range(15, 24):
        assert not CALENDAR.is_working_day(date(2026, 2, day))
    assert CALENDAR.is_working_day(date(2026, 2, 14))  # Saturday, make-up working day
    assert CALENDAR.is_working_day(date(2026, 2, 28))  # Saturday, make-up working day
    assert CALENDAR.add_working_days(at("2026-02-13 10:00"), 1) == at("2026-02-14 17:30")
    assert CALENDAR.add_working_days(at("2026-02-14 10:00"), 1) == at("2026-02-24 17:30")
    assert CALENDAR.add_working_hours(at("2026-02-14 16:30"), 2) == at("2026-02-24 09:30")
    assert CALENDAR.working_time_between(at("2026-02-14 08:30"), at("2026-02-24 08:30")) == (
        7.5 * HOURS
    )


def test_national_day_2026() -> None:
    for day in range(1, 8):
        assert not CALENDAR.is_working_day(date(2026, 10, day))
    assert CALENDAR.is_working_day(date(2026, 9, 20))  # Sunday, make-up working day
    assert CALENDAR.is_working_day(date(2026, 10, 10))  # Saturday, make-up working day
    assert CALENDAR.add_working_days(at("2026-09-19 10:00"), 1) == at("2026-09-20 17:30")
    assert CALENDAR.add_working_days(at("2026-09-30 10:00"), 1) == at("2026-10-08 17:30")
    assert CALENDAR.add_working_days(at("2026-09-30 10:00"), 3) == at("2026-10-10 17:30")
    assert CALENDAR.working_time_between(at("2026-09-30 17:00"), at("2026-10-09 09:00")) == (
        8.5 * HOURS
    )


def test_a_deadline_across_the_year_boundary() -> None:
    # 1–3 Jan 2026 are holidays, Sunday 4 Jan 2026 is a make-up working day.
    assert CALENDAR.add_working_days(at("2025-12-30 10:00"), 3) == at("2026-01-05 17:30")
    assert CALENDAR.add_working_hours(at("2025-12-31 17:00"), 1) == at("2026-01-04 09:00")


def test_2027_without_an_operator_table_fails_loudly() -> None:
    with pytest.raises(CalendarDataMissing, match="2027") as missing:
        CALENDAR.add_working_days(at("2026-12-30 10:00"), 5)
    assert missing.value.year == 2027
    with pytest.raises(CalendarDataMissing, match="GRIDLOOP_HOLIDAY_TABLE"):
        CALENDAR.working_time_between(at("2026-12-31 09:00"), at("2027-01-04 09:00"))
    with pytest.raises(CalendarDataMissing):
        CALENDAR.is_working_day(date(2003, 6, 2))


def test_2027_with_an_operator_table(tmp_path: Path) -> None:
    table = tmp_path / "holidays.toml"
    table.write_text(TABLE_2027, encoding="utf-8")
    calendar = WorkingCalendar.from_settings("08:30-12:00,13:30-17:30", "Asia/Shanghai", table)
    # Thu 31 Dec 2026, Fri 1 Jan 2027 holiday, weekend, Mon 4 Jan 2027.
    assert calendar.add_working_days(at("2026-12-30 10:00"), 2) == at("2027-01-04 17:30")
    assert calendar.add_working_days(at("2027-02-05 10:00"), 1) == at("2027-02-14 17:30")
    assert calendar.add_working_days(at("2027-02-14 10:00"), 1) == at("2027-02-15 17:30")
    assert calendar.is_working_day(date(2027, 10, 9))
    with pytest.raises(CalendarDataMissing, match="2028"):
        calendar.add_working_days(at("2027-12-30 10:00"), 5)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('[2027]\nholidays = ["2027-02-14"]\nworkdays = ["2027-02-14"]\n', "both"),
        ('[2027]\nholidays = ["2027-02-30"]\n', "bad date"),
        ('[2027]\nholidays = ["2028-01-01"]\n', "not inside 2027"),
        ('[2027]\nholidays = ["2027-03-05..2027-03-01"]\n', "not inside 2027"),
        ('[2027]\nvacations = ["2027-01-01"]\n', "unknown keys"),
        ("[twenty]\nholidays = []\n", "YYYY"),
        ("[2027\n", "holidays.toml"),
    ],
)
def test_a_malformed_operator_table_is_refused(
    tmp_path: Path, content: str, complaint: str
) -> None:
    table = tmp_path / "holidays.toml"
    table.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarTableError, match=complaint):
        load_operator_table(table)


def test_working_hours() -> None:
    assert CALENDAR.add_working_hours(at("2026-03-02 11:00"), 2) == at("2026-03-02 14:30")
    assert CALENDAR.add_working_hours(at("2026-03-02 17:00"), 1) == at("2026-03-03 09:00")
    assert CALENDAR.add_working_hours(at("2026-03-02 11:00"), 1) == at("2026-03-02 12:00")
    assert CALENDAR.add_working_hours(at("2026-03-02 12:30"), 1) == at("2026-03-02 14:30")
    assert CALENDAR.add_working_hours(at("2026-03-06 17:00"), 1) == at("2026-03-09 09:00")
    utc_morning = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert CALENDAR.add_working_hours(utc_morning, 1) == at("2026-03-02 10:00")


def test_custom_working_hours() -> None:
    calendar = WorkingCalendar(periods=parse_working_hours("09:00-17:00"))
    assert calendar.add_working_hours(at("2026-03-02 16:00"), 2) == at("2026-03-03 10:00")
    assert calendar.add_working_days(at("2026-03-02 10:00"), 1) == at("2026-03-03 17:00")
    for bad in ["", "9-17", "09:00-08:00", "08:30-12:00,11:00-17:30", "13:30-17:30,08:30-12:00"]:
        with pytest.raises(ValueError, match="working period"):
            parse_working_hours(bad)


def test_naive_moments_and_bad_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.add_working_hours(datetime(2026, 3, 2, 9, 0), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="at least one"):
        CALENDAR.add_working_days(at("2026-03-02 09:00"), 0)
    with pytest.raises(ValueError, match="ends before"):
        CALENDAR.working_time_between(at("2026-03-03 09:00"), at("2026-03-02 09:00"))


# ---- properties, over the built-in years ------------------------------------------------------

# Hypothesis takes naive bounds and attaches the time zone itself.
moments = st.datetimes(
    min_value=datetime(2004, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 9, 30),  # noqa: DTZ001
    timezones=st.just(SHANGHAI),
)
durations = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=20))


@given(moments, durations)
def test_adding_working_time_and_measuring_it_agree(moment: datetime, amount: timedelta) -> None:
    deadline = CALENDAR.add_working_time(moment, amount)
    assert deadline > moment
    assert CALENDAR.working_time_between(moment, deadline) == amount
    assert CALENDAR.is_working_day(deadline.date())


@given(moments, st.integers(min_value=1, max_value=60))
def test_working_day_deadlines_end_a_working_day(moment: datetime, days: int) -> None:
    deadline = CALENDAR.add_working_days(moment, days)
    assert CALENDAR.is_working_day(deadline.date())
    assert deadline.timetz().replace(tzinfo=None).isoformat() == "17:30:00"
    counted = [
        moment.date() + timedelta(days=n)
        for n in range(1, (deadline.date() - moment.date()).days + 1)
    ]
    assert sum(CALENDAR.is_working_day(day) for day in counted) == days


@given(moments, durations, durations)
def test_working_time_is_additive(start: datetime, first: timedelta, second: timedelta) -> None:
    middle, end = start + first, start + first + second
    assert CALENDAR.working_time_between(start, middle) + CALENDAR.working_time_between(
        middle, end
    ) == CALENDAR.working_time_between(start, end)


@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31)))
def test_a_non_working_day_has_no_working_time(day: date) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)
    measured = CALENDAR.working_time_between(start, start + timedelta(days=1))
    assert measured == (timedelta(0) if not CALENDAR.is_working_day(day) else 7.5 * HOURS)
