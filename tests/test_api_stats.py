"""KPIs over HTTP, for cases driven through the API, against figures counted by hand."""

from tests.api_driver import AUDITOR, COORDINATOR, ENFORCEMENT, GRID_WORKER, MARKET, ApiDriver

ON_SITE = {"result": "已现场处置", "evidence_urls": ["https://evidence.example/after.jpg"]}


async def settled(api: ApiDriver, case_no: str) -> None:
    """Closed after a rating; a case the category samples for review is reviewed too."""
    if (await api.case(COORDINATOR, case_no))["stage"] == "review":
        await api.act(AUDITOR, case_no, "review", {"root_cause": "抽查", "outcome": "none"})


async def test_the_months_figures_follow_the_cases(county_api: ApiDriver) -> None:
    api = county_api
    # A: settled on the spot and rated 满意.
    a = (await api.report(GRID_WORKER, category="public_health"))["case_no"]
    await api.act(GRID_WORKER, a, "resolve-on-site", ON_SITE)
    await api.act(COORDINATOR, a, "feedback", {"rating": "satisfied"})
    await settled(api, a)
    # B: 市场监管 returns it (退单), 综合执法 signs it and is still working.
    b = (await api.report(GRID_WORKER, category="public_health"))["case_no"]
    await api.act(COORDINATOR, b, "dispatch", {"lead_department": MARKET})
    await api.act(MARKET, b, "return", {"reason": "非本部门职责"})
    await api.act(COORDINATOR, b, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, b, "sign")
    # C: handled by 综合执法 and rated 不满意: back for a second round (the cap is 2), open.
    c = (await api.report(GRID_WORKER, category="public_health"))["case_no"]
    await api.act(COORDINATOR, c, "dispatch", {"lead_department": ENFORCEMENT})
    await api.act(ENFORCEMENT, c, "sign")
    await api.act(ENFORCEMENT, c, "complete", {"result": "已处理"})
    await api.act(GRID_WORKER, c, "verification", {"passed": True})
    await api.act(COORDINATOR, c, "feedback", {"rating": "dissatisfied"})
    for case_no in (a, b, c):
        await api.wait_projected(case_no)

    response = await api.call("GET", "/api/v1/stats", COORDINATOR)
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    # reported A B C = 3; closed A = 1, on time 1; rated A, C = 2, satisfied A = 1;
    # re-handled among closed: 0 (C is in its second round, not closed).
    assert (total["reported"], total["closed"], total["closed_on_time"]) == (3, 1, 1)
    assert (total["rated"], total["satisfied"], total["rehandled"]) == (2, 1, 0)
    assert (total["closure_rate"], total["satisfaction_rate"]) == (1 / 3, 0.5)
    # Assignments: B market (returned), B enforcement, C enforcement round 1 (completed),
    # C enforcement round 2 (awaiting sign) = 4; returned 1 → 退单率 0.25;
    # sign settled: B enforcement and C round 1, both in time → 及时签收率 1.0.
    assert (total["assignments"], total["returned"], total["return_rate"]) == (4, 1, 0.25)
    assert (total["sign_settled"], total["timely_sign_rate"]) == (2, 1.0)

    by_department = await api.call(
        "GET", "/api/v1/stats", AUDITOR, params={"group_by": "department"}
    )
    rows = {row["key"]: row for row in by_department.json()["rows"]}
    assert rows[MARKET]["name"] == "县市场监管局"
    assert (rows[MARKET]["assignments"], rows[MARKET]["returned"]) == (1, 1)
    assert (rows[ENFORCEMENT]["assignments"], rows[ENFORCEMENT]["completed"]) == (3, 1)

    refused = await api.call("GET", "/api/v1/stats", MARKET)
    assert (refused.status_code, refused.json()["error"]["type"]) == (403, "forbidden")
