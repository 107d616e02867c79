"""An agency administrator's insights page draws its charts, each with its numbers in a table."""
import uuid

from tests.e2e.browser.conftest import screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, log_in, new_page, phone_overflow


def test_the_insights_page_draws_a_chart_and_a_table_for_each_measure(system, browser):
    slug = f"ins{uuid.uuid4().hex[:5]}"
    admin_email = unique_email("insights.admin")
    system.create_agency(slug, "Office of Insight Tests", admin_email=admin_email, admin_name="Ines Admin")
    author = system.register(unique_email("author"), "Ari Author", agency=slug)
    assert system.api(author).post("/api/v1/ideas", json={
        "title": "Quarterly listening sessions", "description": "Open sessions every quarter."}).status_code == 201

    page = new_page(browser)
    log_in(page, system.web_url, admin_email)
    page.goto(f"{system.web_url}/admin/insights?agency={slug}")
    charts = page.get_by_role("img", name="Ideas shared, by month")
    assert charts.count() == 1 and charts.locator("rect").count() == 12
    figure = page.locator("figure", has=charts)
    figure.get_by_text("The numbers").click()
    table = figure.get_by_role("table", name="Ideas shared, by month")
    assert table.get_by_role("row").count() == 13 and table.get_by_role("cell").last.inner_text() == "1"
    assert page.get_by_role("img").count() >= 4
    assert axe_problems(page) == []
    assert phone_overflow(page) == 0
    screenshot(page, "admin-insights")
    page.context.close()
