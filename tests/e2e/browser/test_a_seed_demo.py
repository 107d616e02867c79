"""``engage seed-demo`` tells the whole story, and running it twice adds nothing.

Several agencies and networks; ideas in every state with ratings and threaded
discussion; an adopted idea archived with a lesson linked to it; resources of
every kind with licences; members with notifications waiting; a comment in the
moderation queue. The file name makes it run first in the shared system: the
demo creates its agencies (``dta`` among them) with their own administrators,
and later tests only add members to them.
"""
from __future__ import annotations

import time

from services.common.contract.archive import RESOURCE_KINDS
from services.common.contract.ideas import STATES
from tests.e2e.browser.conftest import ApiSession, screenshot
from tests.e2e.browser.test_journey import axe_problems, log_in, new_page
from tools.demo import DEMO_PASSWORD

ROSA = "rosa.nguyen@apsc.example.gov.au"
TARIQ = "tariq.haddad@dta.example.gov.au"


def login(system, email: str) -> ApiSession:
    answer = system.api().post("/api/v1/tokens", json={"email": email, "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return system.api(answer.json()["token"])


def test_seed_demo_tells_the_story_and_running_it_again_changes_nothing(system):
    system.engage("seed-demo", "--web-url", system.web_url)
    visitor = system.api()
    agencies = {a["slug"] for a in visitor.get("/api/v1/agencies").json()["items"]}
    assert {"apsc", "dta", "health"} <= agencies
    assert len(visitor.get("/api/v1/networks").json()["items"]) >= 3

    ideas = {}
    for state in STATES:
        query = {"state": state, "limit": 100}
        session = login(system, "mei.chen@health.example.gov.au") if state == "draft" else visitor
        ideas[state] = session.get("/api/v1/ideas", params=query).json()["items"]
        assert ideas[state], f"no demo idea is {state}"
    rated = [i for i in ideas["open"] + ideas["adopted"] if i["rating"]["count"] >= 3]
    assert rated
    adopted = next(i for i in ideas["adopted"] if i["title"] == "Plain-language summaries for every public consultation")
    comments = visitor.get(f"/api/v1/ideas/{adopted['id']}/comments").json()["items"]
    assert any(c.get("parent_id") for c in comments), "the discussion has replies"

    archived = visitor.get(f"/api/v1/archive/ideas/{adopted['id']}").json()
    assert archived["official_response"]
    assert any(lesson["title"] == "Lessons from our first plain-language summaries" for lesson in archived["lessons"])
    resources = visitor.get("/api/v1/archive/resources", params={"limit": 200}).json()["items"]
    assert set(RESOURCE_KINDS) <= {r["kind"] for r in resources}
    assert all(r["licence"] for r in resources)

    deadline = time.monotonic() + 15
    while not login(system, TARIQ).get("/api/v1/notifications").json()["unread"]:
        assert time.monotonic() < deadline, "the demo author has no notification waiting"
        time.sleep(0.5)
    assert login(system, ROSA).get("/api/v1/moderation/queue").json()["items"], "a reported comment is waiting"

    counts = {state: len(items) for state, items in ideas.items()}
    titles = len(resources)
    system.engage("seed-demo", "--web-url", system.web_url)
    assert {state: len(visitor.get("/api/v1/ideas", params={"state": state, "limit": 100}).json()["items"])
            for state in STATES if state != "draft"} == {s: n for s, n in counts.items() if s != "draft"}
    assert len(login(system, "mei.chen@health.example.gov.au").get(
        "/api/v1/ideas", params={"state": "draft", "limit": 100}).json()["items"]) == counts["draft"]
    assert len(visitor.get("/api/v1/archive/resources", params={"limit": 200}).json()["items"]) == titles


def test_the_demo_as_the_readme_shows_it_home_a_network_page_and_search(system, browser):
    """The README's pictures are these pages of the demonstration, as a member who belongs to a network sees them."""
    page = new_page(browser)
    log_in(page, system.web_url, "jill.moreton@apsc.example.gov.au", password=DEMO_PASSWORD)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.goto(system.web_url + "/")
    for heading in ("Newest ideas", "Top rated", "Your activity"):
        assert page.get_by_role("heading", name=heading).count(), heading
    screenshot(page, "readme-home")

    page.goto(system.web_url + "/networks/engagement-practitioners")
    assert page.get_by_role("heading", name="Engagement practitioners", level=1).is_visible()
    assert page.get_by_role("link", name="A service-wide network for engagement practitioners").count()
    assert page.get_by_role("link", name="Jill Moreton").count()
    discussion = page.locator(".network-discussion")
    assert discussion.locator("a.mention", has_text="Rosa Nguyen").count(), "a mention links to the member"
    assert "@[" not in discussion.inner_text()
    assert axe_problems(page) == []
    screenshot(page, "readme-network")

    page.get_by_role("search").get_by_role("searchbox").fill("plain language")
    page.get_by_role("search").get_by_role("button").click()
    page.wait_for_url("**/search?**")
    assert page.locator(".snippet mark").count(), "the words found are highlighted"
    assert axe_problems(page) == []
    screenshot(page, "readme-search")
    page.context.close()
