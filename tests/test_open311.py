"""Open311 GeoReport v2 at /open311/v2, driven by clients not written for gridloop: the
`georeport` package from PyPI reads services and requests (JSON and XML), and a replica of
FixMyStreet's Open311.pm posts a report exactly as FixMyStreet sends one and reads it back."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from defusedxml import ElementTree
from georeport import GeoReport

from domain.model import Stage, Status
from gridloop import open311_keys
from gridloop.gridmap import GridMap, in_polygon
from gridloop.open311 import CLOSED_STAGES, STATUS_NOTES, request_status, status_notes
from gridloop.open311_wire import (
    Error,
    Format,
    Open311Error,
    Service,
    form_fields,
    parse_datetime,
    render_list,
)
from gridloop.progress import REPLIED_STAGES
from store.db import database_url, prepare_read_model
from store.reference import DEMO_COUNTY, load_organisation
from tests.api_driver import COORDINATOR, ENFORCEMENT, GRID_WORKER, MY_GRID, ApiDriver

ROOT = "/open311/v2"
ZONE = ZoneInfo("Asia/Shanghai")
GRID_MAP = GridMap.load()
# The centre of the demo grid worker's first grid (新洲社区第1网格).
CENTRE = GRID_MAP.centre(MY_GRID) or (0.0, 0.0)
LONG, LAT = round(CENTRE[0], 6), round(CENTRE[1], 6)


# ---- the mapping, the grid map and the wire format, on their own -------------------------------


def test_a_case_is_open_until_it_is_closed_and_every_status_has_notes() -> None:
    assert {s for s in Stage if request_status(s).value == "closed"} == CLOSED_STAGES
    assert {Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED} == CLOSED_STAGES
    assert set(STATUS_NOTES) == set(Status)
    assert all(zh and en and zh != en for zh, en in STATUS_NOTES.values())
    # The reply shows from feedback on, as on the public progress page, and never before.
    assert status_notes(Stage.HANDLE, Status.HANDLING, "已清理", "zh-CN") == "承办部门处置中。"
    assert status_notes(Stage.FEEDBACK, Status.AWAITING_FEEDBACK, "已清理", "zh-CN") == (
        "已答复，等待评价。答复：已清理"
    )
    assert (
        status_notes(Stage.ARCHIVED, Status.ARCHIVED, "Cleared", "en") == "Closed. Reply: Cleared"
    )
    assert Stage.FEEDBACK in REPLIED_STAGES
    assert Stage.HANDLE not in REPLIED_STAGES


def test_point_in_polygon_with_a_hole_and_a_concave_side() -> None:
    # A "U": the notch between its arms is outside, and so is the hole in its base.
    u_shape = [
        (0.0, 0.0),
        (3.0, 0.0),
        (3.0, 3.0),
        (2.0, 3.0),
        (2.0, 1.0),
        (1.0, 1.0),
        (1.0, 3.0),
        (0.0, 3.0),
    ]
    hole = [(1.2, 0.2), (1.8, 0.2), (1.8, 0.8), (1.2, 0.8)]
    polygon = [u_shape, hole]
    assert in_polygon((0.5, 2.5), polygon)  # left arm
    assert in_polygon((2.5, 2.5), polygon)  # right arm
    assert in_polygon((0.5, 0.5), polygon)  # base
    assert not in_polygon((1.5, 2.0), polygon)  # the notch
    assert not in_polygon((1.5, 0.5), polygon)  # the hole
    assert not in_polygon((3.5, 1.0), polygon)
    assert not in_polygon((-0.1, 1.0), polygon)


def test_every_seeded_grid_is_found_at_its_centre_and_nothing_outside_the_county() -> None:
    seeded = {
        f"{community.code}_g{number:02d}"
        for town in load_organisation(DEMO_COUNTY).towns
        for community in town.communities
        for number in range(1, community.grids + 1)
    }
    assert GRID_MAP.codes == seeded
    for code in seeded:
        centre = GRID_MAP.centre(code)
        assert centre is not None
        assert GRID_MAP.locate(*centre) == code
    assert GRID_MAP.locate(121.5, 31.2) is None  # Shanghai, not Jiashan
    assert GRID_MAP.centre("no_such_grid") is None


def test_w3c_datetimes_carry_their_offset() -> None:
    assert parse_datetime("2026-01-01T00:00:00Z", "start_date") == datetime(2026, 1, 1, tzinfo=UTC)
    east = parse_datetime("2026-01-01T08:00:00+08:00", "start_date")
    assert east == datetime(2026, 1, 1, tzinfo=UTC)
    # A `+` sent unencoded in a query string arrives as a space.
    assert parse_datetime("2026-01-01T08:00:00 08:00", "start_date") == east
    for text, problem in (
        ("2026-01-01T00:00:00", "datetime_without_offset"),
        ("2026-01-01", "datetime_without_offset"),
        ("yesterday", "bad_datetime"),
    ):
        with pytest.raises(Open311Error) as refused:
            parse_datetime(text, "end_date")
        assert (refused.value.status, refused.value.message) == (400, problem)


def test_a_form_as_fixmystreet_sends_it() -> None:
    body = (
        b"service_code=fire_hazard&lat=30.1&long=120.9&first_name=%E5%BC%A0&last_name="
        b"&attribute%5Btitle%5D=T&attribute%5Bgrid%5D=g1&attribute%5Bkinds%5D%5B%5D=a"
        b"&attribute%5Bkinds%5D%5B%5D=b&media_url=http%3A%2F%2Fa&media_url=http%3A%2F%2Fb"
        b"&deviceid=fms&description=line+one%0Aline+two"
    )
    fields = form_fields(body)
    assert fields == {
        "service_code": "fire_hazard",
        "lat": "30.1",
        "long": "120.9",
        "first_name": "张",
        "media_url": ["http://a", "http://b"],
        "deviceid": "fms",
        "description": "line one\nline two",
        "attribute": {"title": ["T"], "grid": ["g1"], "kinds": ["a", "b"]},
    }
    with pytest.raises(Open311Error) as repeated:
        form_fields(b"service_code=a&service_code=b")
    assert (repeated.value.status, repeated.value.message) == (400, "field_repeated")
    with pytest.raises(Open311Error) as undecodable:
        form_fields(b"description=%FF")
    assert undecodable.value.message == "form_not_utf8"


def test_list_documents_in_xml_and_json() -> None:
    assert render_list(Service, [], Format.XML) == (
        b'<?xml version="1.0" encoding="utf-8"?><services />'
    )
    assert render_list(Service, [], Format.JSON) == b"[]"
    errors = render_list(Error, [Error(code=403, description="无效 <key>\x0b")], Format.XML)
    assert errors.endswith(
        "<errors><error><code>403</code><description>无效 &lt;key&gt;</description></error>"
        "</errors>".encode()
    )


# ---- keys --------------------------------------------------------------------------------------


def test_keys_are_issued_shown_once_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "GRIDLOOP_DATABASE_URL")
    }
    environment |= {"GRIDLOOP_DATA_DIR": str(tmp_path), "GRIDLOOP_LOG_FORMAT": "json"}
    gridloop = [str(Path(sys.executable).parent / "gridloop"), "open311-key"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*gridloop, *args], env=environment, capture_output=True, text=True, check=False
        )

    issued = run("issue", "fixmystreet")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert key.startswith(open311_keys.PREFIX)
    assert run("issue", "fixmystreet").returncode == 2  # one valid key per name
    sessions = prepare_read_model(database_url(None, tmp_path))
    with sessions() as session:
        assert open311_keys.key_holder(session, key) == "fixmystreet"
        assert key not in repr(open311_keys.list_keys(session))  # only the hash is kept
    listed = run("list")
    assert listed.stdout.startswith("fixmystreet\t")
    assert "\tvalid" in listed.stdout
    assert run("revoke", "fixmystreet").returncode == 0
    with sessions.begin() as session:
        assert open311_keys.key_holder(session, key) is None
        assert not open311_keys.revoke_key(session, "fixmystreet")  # nothing valid left
        assert open311_keys.list_keys(session)[0].revoked_at is not None
        with pytest.raises(open311_keys.InvalidKeyName):
            open311_keys.issue_key(session, "has space")


# ---- clients -----------------------------------------------------------------------------------


class FixMyStreet:
    """What FixMyStreet's perllib/Open311.pm does on the wire: every call to `<endpoint>path`
    in XML; POSTs form-encoded by HTTP::Request::Common (no charset, `+` for spaces, brackets
    percent-encoded), `jurisdiction_id` when configured, `api_key` on POSTs only; a 2xx body
    read as XML::Simple does, the root dropped and `request` and `error` always lists."""

    def __init__(self, endpoint: str, api_key: str, jurisdiction: str = "jiashan") -> None:
        assert endpoint.endswith("/"), "Open311.pm builds URLs by concatenation"
        self.endpoint, self.api_key, self.jurisdiction = endpoint, api_key, jurisdiction
        self.http = httpx.AsyncClient(timeout=30)
        self.last: httpx.Response | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def send_service_request(self, params: dict[str, Any]) -> str | None:
        """The service_request_id of the first <request>, as `send_service_request` returns it;
        None where FixMyStreet would count a failure and send the report again later."""
        found = await self._request("POST", "requests.xml", params)
        if found is None:
            return None
        requests = found.get("request", [])
        request_id = requests[0].get("service_request_id") if requests else None
        return request_id if isinstance(request_id, str) and request_id else None

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        return await self._request("GET", path, params or {})

    async def _request(
        self, method: str, path: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        params = {**params, "jurisdiction_id": self.jurisdiction}
        url = self.endpoint + path
        if method == "POST":
            params["api_key"] = self.api_key
            body = urlencode(params, doseq=True, quote_via=quote_plus)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            self.last = await self.http.post(url, content=body.encode(), headers=headers)
        else:
            self.last = await self.http.get(url, params=params)
        if not self.last.is_success:
            return None
        return simple_xml(self.last.content)


GROUP_TAGS = {"service", "attribute", "value", "request", "error", "request_update"}


def simple_xml(content: bytes) -> dict[str, Any]:
    """XML::Simple with FixMyStreet's options: the root dropped, the listed child tags always
    lists, other elements a string, or a dict if they have children (an empty element is '')."""

    def read(element: Any) -> Any:
        children = list(element)
        if not children:
            return element.text or ""
        fields: dict[str, Any] = {}
        for child in children:
            if child.tag in GROUP_TAGS:
                fields.setdefault(child.tag, []).append(read(child))
            else:
                fields[child.tag] = read(child)
        return fields

    root = ElementTree.fromstring(content)
    read_root = read(root)
    return read_root if isinstance(read_root, dict) else {}


def fixmystreet_report(report_id: int, **overrides: Any) -> dict[str, Any]:
    """`_populate_service_request_params` for a report made on a FixMyStreet site, with its
    default (UK) extended description and the extra fields a cobrand adds."""
    url = f"https://fixmystreet.example/report/{report_id}"
    params: dict[str, Any] = {
        "description": (
            f"title: 垃圾满溢\n\ndetail: 小区门口垃圾桶三天未清运，异味明显。\n\nurl: {url}\n\n"
            "Submitted via FixMyStreet\n"
        ),
        "service_code": "environmental_sanitation",
        "first_name": "李",
        "last_name": "小红",
        "phone": "13711112222",
        "email": "xiaohong@example.com",
        "lat": f"{LAT:.6f}",
        "long": f"{LONG:.6f}",
        "media_url": f"https://fixmystreet.example/photo/{report_id}.0.full.jpeg",
        "attribute[title]": "垃圾满溢",
        "attribute[report_url]": url,
        "attribute[fixmystreet_id]": str(report_id),
    }
    params.update(overrides)
    return params


@pytest.fixture
def open311_key(api: ApiDriver) -> Iterator[str]:
    name = f"fms-{uuid.uuid4().hex[:8]}"
    with api.sessions.begin() as session:
        issued = open311_keys.issue_key(session, name)
    yield issued.key
    with api.sessions.begin() as session:
        open311_keys.revoke_key(session, name)


@pytest.fixture
async def fixmystreet(site: str, open311_key: str) -> Any:
    client = FixMyStreet(f"{site}{ROOT}/", open311_key)
    yield client
    await client.close()


def new_report_id() -> int:
    return uuid.uuid4().int % 10**8


# ---- reading with the georeport client ---------------------------------------------------------


async def test_the_georeport_client_lists_services_and_follows_a_request(
    api: ApiDriver, site: str
) -> None:
    case_no = (await api.report(GRID_WORKER))["case_no"]  # 占道经营, in 新洲社区第1网格
    await api.wait_projected(case_no)
    as_json = GeoReport(f"{site}{ROOT}/", jurisdiction="jiashan")
    as_xml = GeoReport(f"{site}{ROOT}", output_format="xml")

    for client in (as_json, as_xml):
        services = await asyncio.to_thread(client.get_service_list)
        by_code = {service["service_code"]: service for service in services}
        road = by_code["occupy_road_business"]
        assert (road["service_name"], road["group"]) == ("占道经营", "县综合行政执法局")
        assert str(road["metadata"]).lower() == "true"  # JSON true, XML "true"
        definition = await asyncio.to_thread(client.get_service_definition, "fire_hazard")
        assert definition["service_code"] == "fire_hazard"

        found = await asyncio.to_thread(client.get_service_request, case_no)
        assert (found["service_request_id"], found["status"]) == (case_no, "open")
        assert found["status_notes"] == "已受理，等待分派。"
        assert found["service_code"] == "occupy_road_business"
        assert found["address"] == "新洲社区第1网格，罗星街道"
        assert float(found["lat"]) == pytest.approx(LAT, abs=1e-5)
        requested = datetime.fromisoformat(found["requested_datetime"])
        assert requested.utcoffset() == timedelta(hours=8)

    listed = await asyncio.to_thread(
        as_json.get_service_requests, service_code="occupy_road_business", status="open"
    )
    assert case_no in [request["service_request_id"] for request in listed]
    closed = await asyncio.to_thread(
        as_json.get_service_requests, service_code="occupy_road_business", status="closed"
    )
    assert case_no not in [request["service_request_id"] for request in closed]

    # Dispatched: the status moves on, and the department answering for it shows.
    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": ENFORCEMENT})
    await api.wait_projected(case_no)
    for client in (as_json, as_xml):
        found = await asyncio.to_thread(client.get_service_request, case_no)
        assert (found["status"], found["status_notes"]) == ("open", "承办部门处置中。")
        assert found["agency_responsible"] == "县综合行政执法局"
    english = await api.http.get(
        f"{ROOT}/requests/{case_no}.json", headers={"Accept-Language": "en"}
    )
    assert english.json()[0]["status_notes"] == "The responsible department is handling it."


# ---- posting as FixMyStreet does ---------------------------------------------------------------


async def test_a_fixmystreet_report_becomes_a_case_and_reads_closed_once_closed(
    api: ApiDriver, fixmystreet: FixMyStreet
) -> None:
    services = await fixmystreet.get("services.xml")
    assert services is not None
    assert "environmental_sanitation" in [s["service_code"] for s in services["service"]]
    definition = await fixmystreet.get("services/environmental_sanitation.xml")
    assert definition is not None
    orders = [int(a["order"]) for a in definition["attributes"]["attribute"]]
    assert orders == [1, 2]  # PopulateServiceList sorts the attributes by a numeric order

    params = fixmystreet_report(new_report_id())
    case_no = await fixmystreet.send_service_request(params)
    assert case_no is not None, fixmystreet.last and fixmystreet.last.text
    assert fixmystreet.last is not None
    assert fixmystreet.last.status_code == 201
    api.noted(case_no)
    # FixMyStreet sends a report again when it did not get the answer: still one case.
    assert await fixmystreet.send_service_request(params) == case_no
    assert fixmystreet.last.status_code == 200
    notice = simple_xml(fixmystreet.last.content)["request"][0]["service_notice"]
    assert case_no in notice

    case = await api.case(COORDINATOR, case_no)
    assert (case["category"], case["grid"], case["source"]) == (
        "environmental_sanitation",
        MY_GRID,  # found from lat/long on the county's grid map
        "resident",
    )
    assert case["reporter"] == {"name": "李 小红", "phone": "13711112222"}
    assert case["reported_by"] == f"open311:{_key_name(api, fixmystreet.api_key)}"
    assert case["description"] == params["description"].strip()
    assert case["evidence_urls"] == [params["media_url"]]
    assert (case["latitude"], case["longitude"]) == (float(params["lat"]), float(params["long"]))
    assert case["address"].startswith("新洲社区第1网格（")  # FixMyStreet sends no address

    await api.act(COORDINATOR, case_no, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, case_no, "sign")
    await api.act(ENFORCEMENT, case_no, "complete", {"result": "垃圾已清运，垃圾桶已消毒"})
    await api.act(GRID_WORKER, case_no, "verification", {"passed": True})
    replied = await fixmystreet.get(f"requests/{case_no}.xml")
    assert replied is not None
    assert replied["request"][0]["status"] == "open"  # replied, not yet rated
    await api.act(COORDINATOR, case_no, "feedback", {"rating": "satisfied"})
    closed_at = datetime.fromisoformat((await api.case(COORDINATOR, case_no))["closed_at"])
    await api.wait_projected(case_no)

    found = await fixmystreet.get(f"requests/{case_no}.xml")
    assert found is not None
    request = found["request"][0]
    assert (request["service_request_id"], request["status"]) == (case_no, "closed")
    assert request["status_notes"] == "已办结，将回访复查。答复：垃圾已清运，垃圾桶已消毒"
    updated = datetime.fromisoformat(request["updated_datetime"])
    assert updated == closed_at.replace(microsecond=0)
    assert updated.utcoffset() == timedelta(hours=8)
    listed = await fixmystreet.get("requests.xml", {"service_request_id": f"{case_no},GL-NONE"})
    assert listed is not None
    assert [r["service_request_id"] for r in listed["request"]] == [case_no]


async def test_a_grid_named_by_attribute_and_the_standards_json(
    api: ApiDriver, open311_key: str
) -> None:
    form = {
        "api_key": open311_key,
        "service_code": "fire_hazard",
        "address_string": "惠民街道某小区 5 幢楼道",
        "description": "楼道堆放杂物堵塞消防通道",
        "attribute[grid]": "weitang_jiachen_g01",
        "attribute[urgency]": "major",
    }
    posted = await api.http.post(f"{ROOT}/requests.json", data=form)
    assert posted.status_code == 201, posted.text
    assert posted.headers["content-type"] == "application/json; charset=utf-8"
    [answer] = posted.json()
    case_no = answer["service_request_id"]
    api.noted(case_no)
    assert answer["account_id"] is None
    case = await api.case(COORDINATOR, case_no)
    assert (case["grid"], case["urgency"], case["address"]) == (
        "weitang_jiachen_g01",
        "major",
        "惠民街道某小区 5 幢楼道",
    )
    assert case["reporter"] == {"name": None, "phone": None}
    found = await api.http.get(f"{ROOT}/requests/{case_no}.json")
    assert found.status_code == 200  # the POST waited for the read model


# ---- errors ------------------------------------------------------------------------------------


def errors_of(response: httpx.Response) -> list[tuple[int, str]]:
    if response.headers["content-type"].startswith("application/json"):
        return [(e["code"], e["description"]) for e in response.json()]
    return [(int(e["code"]), e["description"]) for e in simple_xml(response.content)["error"]]


async def refused(
    api: ApiDriver, url: str, expected: int, form: dict[str, Any] | None = None, **params: str
) -> str:
    """The one error's description, after checking its status, code and format."""
    if form is None:
        answer = await api.http.get(url, params=params)
    else:
        answer = await api.http.post(url, data=form)
    assert answer.status_code == expected, answer.text
    media_type = "application/json" if url.endswith(".json") else "text/xml"
    assert answer.headers["content-type"] == f"{media_type}; charset=utf-8"
    [(code, description)] = errors_of(answer)
    assert code == expected
    assert description
    return description


async def test_refusals_are_the_standards_errors_in_either_format(
    api: ApiDriver, open311_key: str
) -> None:
    fms = fixmystreet_report(new_report_id())
    keyed = {**fms, "api_key": open311_key}
    no_place = {k: v for k, v in keyed.items() if k not in ("lat", "long")}
    for wire in ("xml", "json"):
        post, requests = f"{ROOT}/requests.{wire}", f"{ROOT}/requests.{wire}"
        assert "api_key" in await refused(api, post, 403, fms)
        assert "api_key" in await refused(api, post, 403, {**fms, "api_key": "o311_wrong"})
        unknown = {**keyed, "service_code": "street_lights"}
        assert "street_lights" in await refused(api, post, 404, unknown)
        assert "attribute[grid]" in await refused(api, post, 400, no_place)
        shanghai = {**keyed, "lat": "31.2", "long": "121.5"}
        assert "lat=31.2" in await refused(api, post, 400, shanghai)
        await refused(api, post, 400, {**keyed, "lat": "91", "long": "120.9"})
        await refused(api, post, 400, {**keyed, "attribute[grid]": "no_such_grid"})
        await refused(api, post, 400, {**keyed, "attribute[urgency]": "whenever"})
        await refused(api, post, 400, {**keyed, "phone": "call me"})
        missing = {"api_key": open311_key, "lat": "30"}
        assert "service_code" in await refused(api, post, 400, missing)

        await refused(api, f"{ROOT}/requests/GL-NOSUCHCASE.{wire}", 404)
        await refused(api, f"{ROOT}/services/street_lights.{wire}", 404)
        await refused(api, f"{ROOT}/tokens/123.{wire}", 404)
        await refused(api, requests, 400, service_code="street_lights")
        await refused(api, requests, 400, start_date="last week")
        await refused(api, requests, 400, start_date="2026-01-01T00:00:00")  # no offset
        backwards = {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}
        await refused(api, requests, 400, **backwards)
        a_year = {"start_date": "2025-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}
        await refused(api, requests, 400, **a_year)
        await refused(api, requests, 400, status="pending")
        await refused(api, requests, 400, service_request_id=",".join(["GL-X"] * 1001))

    english = await api.http.get(
        f"{ROOT}/requests/GL-NOSUCHCASE.json", headers={"Accept-Language": "en"}
    )
    assert errors_of(english) == [(404, "There is no service request GL-NOSUCHCASE.")]
    multipart = await api.http.post(
        f"{ROOT}/requests.xml", data={"api_key": open311_key}, files={"media": b"jpeg"}
    )
    assert multipart.status_code == 400
    assert (await api.http.get(f"{ROOT}/services.html")).status_code == 404
    too_large = await api.http.post(
        f"{ROOT}/requests.xml",
        content=b"description=" + b"x" * 1_048_576,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert errors_of(too_large) == [(413, "请求内容过大。")]
    assert (await api.http.delete(f"{ROOT}/services.xml")).status_code == 405


# ---- personal data -----------------------------------------------------------------------------


async def test_no_personal_data_and_no_report_text_in_what_anyone_may_read(
    api: ApiDriver, fixmystreet: FixMyStreet
) -> None:
    name, phone, email = "隐私测试人乙", "13900001111", "private@example.com"
    # A point off the grid's centre: the reported point itself is never shown.
    lat, long = f"{LAT + 0.0012:.6f}", f"{LONG - 0.0013:.6f}"
    params = fixmystreet_report(
        new_report_id(),
        lat=lat,
        long=long,
        first_name=name,
        last_name="",
        phone=phone,
        email=email,
        address_string="罗星街道私人住址 7 号",
    )
    case_no = await fixmystreet.send_service_request(params)
    assert case_no is not None
    api.noted(case_no)
    case = await api.case(COORDINATOR, case_no)
    assert case["reporter"] == {"name": name, "phone": phone}  # it is really in the case

    readable = [
        await api.http.get(f"{ROOT}/requests/{case_no}.xml"),
        await api.http.get(f"{ROOT}/requests/{case_no}.json"),
        await api.http.get(f"{ROOT}/requests.json", params={"service_request_id": case_no}),
        await api.http.get(
            f"{ROOT}/requests.xml", params={"service_code": "environmental_sanitation"}
        ),
    ]
    assert all(answer.status_code == 200 for answer in readable)
    assert all(case_no in answer.text for answer in readable)
    secrets = (name, phone, email, "私人住址", "小区门口垃圾桶", lat[:7], long[:8])
    secrets += (case["lookup_code"],)
    for answer in readable:
        for secret in secrets:
            assert secret not in answer.text, f"{secret} in {answer.url}"


def _key_name(api: ApiDriver, key: str) -> str:
    with api.sessions() as session:
        name = open311_keys.key_holder(session, key)
    assert name is not None
    return name
