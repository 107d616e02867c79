"""A developer finds the API and event documentation from the footer, in headless Chromium."""
from tests.e2e.browser.conftest import screenshot


def test_the_api_and_event_documentation_pages_are_reachable_and_readable(system, page):
    page.goto(f"{system.web_url}/")
    page.get_by_role("link", name="API documentation").click()
    page.wait_for_url("**/api/docs")
    assert page.get_by_role("heading", name="API documentation", level=1).is_visible()
    rate = page.locator("#api_rate")
    assert "PUT" in rate.inner_text() and "/api/v1/ideas/{idea_id}/rating" in rate.inner_text()
    assert rate.get_by_role("cell", name="stars").is_visible()
    screenshot(page, "api-docs")

    page.get_by_role("link", name="Events you can subscribe to").click()
    page.wait_for_url("**/docs/events")
    rated = page.locator('[id="idea.rated.v1"]')
    assert "ideas.events" in rated.inner_text() and "au.gov.engage.idea.rated.v1" in rated.inner_text()
    rated.get_by_text("Example").click()
    assert rated.locator("pre").is_visible()
    screenshot(page, "event-docs")

    answer = page.request.get(f"{system.web_url}/api/v1/openapi.json")
    assert answer.ok and answer.json()["paths"]["/api/v1/ideas/{idea_id}/rating"]["put"]["operationId"] == "api_rate"
