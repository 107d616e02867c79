"""The site's one search in headless Chromium: from the header box to a filtered, highlighted, accessible result list.

An open idea is found by a word of its title with its snippet highlighted and
its text shown exactly as written (markup stays text); a facet narrows the
results and stays chosen when the words change; counts read "1 result" and
"2 results"; a slip of the keyboard is answered with "did you mean". Every
page is checked with axe-core and at a 360 px wide phone.
"""
import uuid

from playwright.sync_api import expect

from tests.e2e.browser.conftest import screenshot, unique_email
from tests.e2e.browser.test_journey import Journey, new_page


def test_a_search_from_the_header_finds_an_open_idea_keeps_its_filters_and_reads_well(system, browser):
    marker = f"kiosk{uuid.uuid4().hex[:6]}"
    agency = f"srch{uuid.uuid4().hex[:6]}"
    admin_email = unique_email("search.admin")
    system.create_agency(agency, "Search Test Agency", admin_email=admin_email, admin_name="Grace Okafor")
    admin = system.api(system.token(admin_email))
    author = system.api(system.register(unique_email("search.author"), "Priya Raman", agency=agency))
    title = f"Service-wide network for {marker} pilots"
    idea = author.post("/api/v1/ideas", json={
        "title": title, "description": f"Each agency's {marker} team learns from each other's "
                                       "<script>window.pwned = true</script> pilots."}).json()
    author.post("/api/v1/ideas", json={"title": f"Counter {marker} feedback", "description": "Ask at the counter."})
    author.post("/api/v1/ideas", json={"title": f"Secret {marker} draft", "description": "Not ready.", "draft": True})
    assert admin.post("/api/v1/archive/resources", json={
        "kind": "tool", "title": f"{marker.capitalize()} set-up checklist", "summary": f"Setting up a {marker}.",
        "licence": "CC-BY-4.0", "attribution": "Search Test Agency"}).status_code == 201

    journey = Journey(system.web_url)
    page = new_page(browser)
    page.goto(system.web_url)
    page.locator("header").get_by_label("Search ideas and resources").fill(marker)
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Search").click()
    assert "/search?q=" in page.url

    status = page.get_by_role("status")
    expect(status).to_have_text(f"3 results for “{marker}”")
    hit = page.locator(".search-hit").filter(has=page.get_by_role("link", name=title))
    expect(hit).to_be_visible()
    snippet = hit.locator(".snippet")
    expect(snippet.locator("mark")).to_have_text([marker])
    expect(snippet).to_have_text(f"Each agency's {marker} team learns from each other's "
                                 "<script>window.pwned = true</script> pilots.")
    assert page.evaluate("window.pwned") is None
    expect(page.get_by_text(f"Secret {marker} draft")).to_have_count(0)
    journey.check(page, "search-results")
    screenshot(page, "search-results")

    page.get_by_role("navigation", name="Narrow the results").get_by_role("link", name="Ideas (2)").click()
    page.wait_for_url("**kind=idea**")
    expect(status).to_have_text(f"2 results for “{marker}”")
    expect(page.get_by_role("link", name="Kind: Ideas (remove this filter)")).to_be_visible()
    journey.check(page, "search-filtered")

    form = page.get_by_role("search", name="Search ideas and resources")
    form.get_by_label("Words to find").fill(f"{marker} network")
    with page.expect_navigation():
        form.get_by_role("button", name="Search").click()
    assert "kind=idea" in page.url
    expect(status).to_have_text(f"1 result for “{marker} network”")
    expect(page.get_by_role("link", name=title)).to_be_visible()
    expect(page.locator(".search-hit").first).to_contain_text("0 comments")
    journey.check(page, "search-words-changed")

    slip = marker[:6] + marker[7:]
    form.get_by_label("Words to find").fill(slip)
    with page.expect_navigation():
        form.get_by_role("button", name="Search").click()
    expect(status).to_have_text(f"0 results for “{slip}”")
    page.get_by_role("link", name=marker, exact=True).click()
    page.wait_for_url(f"**q={marker}**")
    expect(page.get_by_role("link", name=title)).to_be_visible()
    journey.check(page, "search-did-you-mean-followed")

    page.get_by_role("link", name=title).click()
    page.wait_for_url(f"**/ideas/{idea['id']}")
    page.context.close()
    assert not journey.problems, "\n".join(f"{name}: {problem}" for name, found in journey.problems.items()
                                           for problem in found)
