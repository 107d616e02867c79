"""The home page shows that the network is alive: newest and top-rated ideas, to a visitor and a member."""
import time
import uuid

from tests.e2e.browser.conftest import screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, log_in, new_page, phone_overflow


def test_the_home_page_lists_the_newest_and_top_rated_ideas_and_a_members_own(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    marker = uuid.uuid4().hex[:6]
    author_email = unique_email("author")
    author = system.register(author_email, "Priya Author")
    raters = [system.register(unique_email(name), name.title() + " Rater") for name in ("rosa", "tariq")]
    newest = system.api(author).post("/api/v1/ideas", json={
        "title": f"Listening posts at markets {marker}", "description": "Stalls where people already are."}).json()
    rated = system.api(author).post("/api/v1/ideas", json={
        "title": f"Plain-language consultation papers {marker}", "description": "Written for the public."}).json()
    for rater in raters:
        assert system.api(rater).put(f"/api/v1/ideas/{rated['id']}/rating", json={"stars": 5}).status_code == 200

    page = new_page(browser)
    deadline = time.monotonic() + 15
    while True:  # the gateway's page cache hears of the new ideas by event
        page.goto(system.web_url + "/")
        newest_card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Newest ideas"))
        top_card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Top rated"))
        if newest_card.get_by_role("link", name=newest["title"]).count() and \
                top_card.get_by_role("link", name=rated["title"]).count():
            break
        assert time.monotonic() < deadline, "the home page never showed the new ideas"
        time.sleep(0.5)
    assert "5.0 ★ (2)" in top_card.inner_text()
    assert page.get_by_role("heading", name="Your activity").count() == 0
    assert axe_problems(page) == []
    assert phone_overflow(page) == 0
    screenshot(page, "home-visitor")

    log_in(page, system.web_url, author_email)
    page.goto(system.web_url + "/")
    activity = page.locator("section", has=page.get_by_role("heading", name="Your activity"))
    assert activity.get_by_role("link", name=newest["title"]).is_visible()
    assert axe_problems(page) == []
    assert phone_overflow(page) == 0
    screenshot(page, "home-member")
    page.context.close()
