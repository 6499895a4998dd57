"""The auditor's review queue in the console, over HTTP as a browser without JavaScript uses it:
each open review's deadline with the working time left (or how long it is overdue), the earliest
deadline first, and the search over the recorded reviews."""

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from domain.calendar import WorkingCalendar
from store.models import ReviewRecord
from tests.api_driver import AUDITOR, ApiDriver
from tests.console_driver import Console
from tests.test_reviews_api import returned_twice

OpenConsole = Callable[..., Awaitable[Console]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def row(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}"[^>]*>.*?</tr>', page, re.DOTALL)
    assert found, f"no row {row_id}"
    return found.group(0)


def sections(page: str) -> tuple[str, str]:
    """The open queue and the recorded reviews."""
    waiting, recorded = page.split('<section class="card" id="recorded"')
    return waiting, recorded


async def test_the_queue_shows_each_deadline_and_the_search_finds_recorded_reviews(
    api: ApiDriver, console: OpenConsole, calendar: WorkingCalendar
) -> None:
    marker = uuid.uuid4().hex[:10]
    on_time = await returned_twice(api, f"垃圾房蚊蝇滋生 {marker} 甲")
    late = await returned_twice(api, f"垃圾房蚊蝇滋生 {marker} 乙")
    for case_no in (on_time, late):
        await api.wait_projected(case_no)
    with api.sessions() as session:
        opened = session.get(ReviewRecord, on_time)
    assert opened is not None
    assert opened.due_at is not None
    due = opened.due_at
    # Ten working days cannot pass on the dev server's real clock: the read model is told that
    # the other review's deadline passed two days ago.
    with api.sessions.begin() as session:
        session.execute(
            update(ReviewRecord)
            .where(ReviewRecord.case_no == late)
            .values(due_at=datetime.now(UTC) - timedelta(days=2))
        )

    auditor = await console(AUDITOR)
    page = (await auditor.page("/audit")).text
    waiting, _ = sections(page)
    running = row(waiting, f"review-{on_time}")
    assert due.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") in running
    shown = re.search(r'class="countdown ">\s*(\d+) 个工作小时', running)
    assert shown, running
    left = calendar.working_time_between(datetime.now(UTC), due)
    assert abs(int(shown.group(1)) - left // timedelta(hours=1)) <= 1
    assert left >= timedelta(hours=75)  # ten whole working days of 7.5 hours, and today's rest
    assert 'class="overdue"' not in running

    overdue = row(waiting, f"review-{late}")
    assert 'class="overdue"' in overdue
    assert re.search(r'class="countdown overdue">\s*已超期 ', overdue)
    # The earliest deadline first: the overdue review leads.
    assert waiting.index(f"review-{late}") < waiting.index(f"review-{on_time}")

    # Record the findings from the case page; the review leaves the queue for the search.
    recorded = await auditor.post(
        f"/cases/{on_time}/do/review",
        {
            "root_cause": f"派单不准确-{marker}",
            "responsible_departments": "town_command_office",
            "outcome": "interview",
            "next": "/audit",
        },
    )
    assert (recorded.status_code, recorded.url.path) == (200, "/audit")
    await api.wait_projected(on_time)
    this_month = datetime.now(SHANGHAI).strftime("%Y-%m")
    found = {
        f"/audit?text={marker}": True,
        f"/audit?text={marker}&outcome=interview&department=town_command_office"
        f"&review_trigger=repeated_returns&month={this_month}": True,
        f"/audit?text={marker}&outcome=notice": False,
        f"/audit?text={marker}&department=market_supervision": False,
        f"/audit?text={marker}&review_trigger=recurrence": False,
        f"/audit?text={marker}&month=2020-01": False,
        # An empty form field means "any".
        f"/audit?text={marker}&outcome=&department=&review_trigger=&month=": True,
    }
    for path, listed in found.items():
        waiting, results = sections((await auditor.page(path)).text)
        assert (f'id="recorded-{on_time}"' in results) is listed, path
        assert on_time not in waiting
        assert late not in results  # still open
    searched = (await auditor.page(f"/audit?text={marker}&outcome=interview")).text
    _, results = sections(searched)
    assert f'value="{marker}"' in results  # the form keeps the search
    assert '<option value="interview" selected>' in results

    await auditor.page("/audit?month=2026-13", expect=422)
    await auditor.page("/audit?outcome=dismissal", expect=422)

    cleared = await auditor.post(
        f"/cases/{late}/do/review",
        {"root_cause": "时限内未倒查", "outcome": "none", "next": "/audit"},
    )
    assert cleared.status_code == 200
