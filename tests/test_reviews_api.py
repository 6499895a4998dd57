"""`GET /api/v1/reviews` over HTTP with the real stack: cases driven to post-hoc review through
the API, then found again by every filter; who may search; what a bad filter answers.

The demo county's database is shared by the session's API tests, so every search here is
narrowed to this test's cases by a marker in their description."""

import uuid
from datetime import datetime
from typing import Any

from domain.calendar import WorkingCalendar
from tests.api_driver import (
    AUDITOR,
    COORDINATOR,
    ENFORCEMENT,
    GRID_WORKER,
    HEALTH,
    MARKET,
    MY_GRID,
    ApiDriver,
)

REVIEWS = "/api/v1/reviews"


async def returned_twice(api: ApiDriver, description: str) -> str:
    """A case 退单 twice before 卫健 settles it: closed, it goes to review for repeated returns."""
    case_no = str(
        (await api.report(GRID_WORKER, category="public_health", description=description))[
            "case_no"
        ]
    )
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, case_no, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": HEALTH})
    await api.act(HEALTH, case_no, "sign")
    await api.act(HEALTH, case_no, "complete", {"result": "已消杀"})
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})
    assert (await api.case(AUDITOR, case_no))["stage"] == "review"
    return case_no


async def search(api: ApiDriver, user: str = AUDITOR, **params: Any) -> dict[str, Any]:
    response = await api.call("GET", REVIEWS, user, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def numbers(api: ApiDriver, **params: Any) -> list[str]:
    return [item["case_no"] for item in (await search(api, **params))["items"]]


async def test_reviews_are_found_by_every_filter(api: ApiDriver, calendar: WorkingCalendar) -> None:
    marker = uuid.uuid4().hex[:10]
    cause, note = f"派单不准确-{marker}", f"已约谈-{marker}"
    notice, pending, fine = [
        await returned_twice(api, f"垃圾房蚊蝇滋生 {marker} {n}") for n in range(3)
    ]
    await api.act(
        AUDITOR,
        notice,
        "review",
        {
            "root_cause": cause,
            "responsible_departments": ["town_command_office"],
            "outcome": "notice",
        },
    )
    await api.act(
        AUDITOR,
        fine,
        "review",
        {
            "root_cause": "职责清晰，处置及时",
            "responsible_departments": [MARKET],
            "outcome": "none",
            "notes": note,
        },
    )
    for case_no in (notice, pending, fine):
        await api.wait_projected(case_no)
    mine = {"text": marker}

    # Without a state: the most recently recorded first, open work after.
    page = await search(api, **mine)
    assert [i["case_no"] for i in page["items"]] == [fine, notice, pending]
    assert (page["total"], page["next_offset"]) == (3, None)
    assert page == await search(api, COORDINATOR, **mine)

    # The open one, with the deadline an auditor expects: 10 working days after it opened.
    (open_item,) = (await search(api, state="open", **mine))["items"]
    assert open_item["case_no"] == pending
    assert "repeated_returns" in open_item["triggers"]
    assert (open_item["category"], open_item["town"], open_item["grid"]) == (
        "public_health",
        "luoxing",
        MY_GRID,
    )
    opened_at = datetime.fromisoformat(open_item["opened_at"])
    due_at = datetime.fromisoformat(open_item["due_at"])
    assert due_at == calendar.add_working_days(opened_at, 10)
    assert (open_item["overdue"], open_item["recorded_at"], open_item["outcome"]) == (
        False,
        None,
        None,
    )

    done = (await search(api, state="done", **mine))["items"]
    assert [i["case_no"] for i in done] == [fine, notice]
    assert (done[1]["outcome"], done[1]["root_cause"], done[1]["responsible_departments"]) == (
        "notice",
        cause,
        ["town_command_office"],
    )

    assert await numbers(api, outcome="notice", **mine) == [notice]
    assert await numbers(api, outcome="interview", **mine) == []
    assert await numbers(api, department="town_command_office", **mine) == [notice]
    assert await numbers(api, department=MARKET, **mine) == [fine]
    assert await numbers(api, text=cause) == [notice]  # the root cause
    assert await numbers(api, text=note) == [fine]  # the notes
    assert await numbers(api, text=pending) == [pending]  # the case number
    assert len(await numbers(api, trigger="repeated_returns", **mine)) == 3
    assert await numbers(api, trigger="recurrence", **mine) == []
    assert len(await numbers(api, town="luoxing", category="public_health", **mine)) == 3
    assert await numbers(api, town="weitang", **mine) == []
    assert await numbers(api, category="occupy_road_business", **mine) == []
    assert await numbers(api, overdue="true", **mine) == []
    assert len(await numbers(api, overdue="false", **mine)) == 3

    # Ranges include their start and exclude their end; the times are the reviews' own.
    items = {i["case_no"]: i for i in page["items"]}
    recorded = items[notice]["recorded_at"]
    assert await numbers(api, recorded_from=recorded, **mine) == [fine, notice]
    assert await numbers(api, recorded_to=recorded, **mine) == []
    opened = items[pending]["opened_at"]
    assert await numbers(api, opened_from=opened, **mine) == [fine, pending]
    assert await numbers(api, opened_to=opened, **mine) == [notice]

    first = await search(api, state="done", limit=1, **mine)
    assert ([i["case_no"] for i in first["items"]], first["next_offset"]) == ([fine], 1)
    second = await search(api, state="done", limit=1, offset=1, **mine)
    assert ([i["case_no"] for i in second["items"]], second["next_offset"]) == ([notice], None)

    await api.env.client.get_workflow_handle(f"case-{pending}").terminate("test finished")


async def test_only_auditors_and_coordinators_search_reviews(api: ApiDriver) -> None:
    for user in (MARKET, GRID_WORKER):
        refused = await api.call("GET", REVIEWS, user)
        assert (refused.status_code, refused.json()["error"]["type"]) == (403, "forbidden")
    anonymous = await api.call("GET", REVIEWS)
    assert anonymous.status_code == 401
    for user in (AUDITOR, COORDINATOR):
        assert (await api.call("GET", REVIEWS, user, params={"limit": 1})).status_code == 200


async def test_a_bad_filter_is_refused_with_the_filter_named(api: ApiDriver) -> None:
    bad = {
        "state": ("closed", "enum"),
        "trigger": ("complaint", "enum"),
        "outcome": ("dismissal", "enum"),
        "overdue": ("maybe", "bool_parsing"),
        "department": ("no_such_department", "unknown_code"),
        "town": ("atlantis", "unknown_code"),
        "category": ("no_such_category", "unknown_code"),
        "recorded_from": ("2026-03-01T00:00:00", "timezone_aware"),
        "opened_from": ("yesterday", "datetime_from_date_parsing"),
        "sort": ("random", "enum"),
        "limit": ("0", "greater_than_equal"),
    }
    for name, (value, kind) in bad.items():
        response = await api.call("GET", REVIEWS, AUDITOR, params={name: value}, language="en")
        assert response.status_code == 422, (name, response.text)
        error = response.json()["error"]
        assert error["type"] == "validation_error"
        assert error["message"] == "The request is not valid; check the fields listed."
        assert [(d["loc"], d["type"]) for d in error["details"]] == [(["query", name], kind)]

    empty = await api.call(
        "GET",
        REVIEWS,
        AUDITOR,
        params={
            "opened_from": "2026-03-02T00:00:00+08:00",
            "opened_to": "2026-03-01T00:00:00+08:00",
        },
    )
    assert empty.status_code == 422
    assert [(d["loc"], d["type"]) for d in empty.json()["error"]["details"]] == [
        (["query", "opened_to"], "empty_range")
    ]
