"""Search the archive, open a resource, see its licence and history, edit it as an administrator, see the diff."""
import uuid

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email


def test_search_open_a_resource_edit_it_as_an_admin_and_see_the_new_revision_and_diff(system, page):
    marker = f"kiosk{uuid.uuid4().hex[:6]}"
    slug = f"arc{uuid.uuid4().hex[:6]}"
    admin_email = unique_email("archive.admin")
    system.create_agency(slug, "Archive Test Agency", admin_email=admin_email, admin_name="Grace Okafor")
    admin = system.token(admin_email)
    created = system.api(admin).post("/api/v1/archive/resources", json={
        "kind": "tool", "title": f"Feedback {marker} toolkit",
        "summary": "Collect feedback at service counters with a simple kiosk.",
        "body": "## How to use it\n\nPlace the kiosk near the exit.", "licence": "CC-BY-SA-4.0",
        "attribution": "Archive Test Agency", "tags": ["feedback"]})
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]

    page.goto(f"{system.web_url}/login")
    page.get_by_label("Email").fill(admin_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{system.web_url}/")

    page.goto(f"{system.web_url}/archive")
    page.get_by_label("Search the archive's resources").fill(f"{marker} kiosk")
    page.locator("form.archive-search").get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?q=*&kind=resource")
    result = page.get_by_role("link", name=f"Feedback {marker} toolkit")
    assert result.is_visible()
    assert page.locator(".snippet mark").count() >= 1
    screenshot(page, "archive-search")

    result.click()
    page.wait_for_url(f"**/archive/resources/{resource_id}")
    assert page.get_by_role("heading", name=f"Feedback {marker} toolkit").is_visible()
    licence = page.get_by_role("region", name="Licence")
    assert licence.get_by_text("CC-BY-SA-4.0").is_visible()
    assert licence.get_by_role("link", name="Creative Commons Attribution-ShareAlike 4.0 International").is_visible()
    assert page.get_by_role("heading", name="History").is_visible()
    assert page.locator("tr.revision").count() == 1

    page.get_by_role("link", name="Edit this resource").click()
    page.wait_for_url(f"**/archive/resources/{resource_id}/edit")
    page.get_by_label("Summary").fill("Collect feedback at service counters with a kiosk and a short survey.")
    page.get_by_label("What changed and why").fill("Added the short survey.")
    page.get_by_role("button", name="Save the new revision").click()
    page.wait_for_url(f"**/archive/resources/{resource_id}")
    assert page.get_by_text("Your change is the new revision.").is_visible()
    rows = page.locator("tr.revision")
    assert rows.count() == 2
    assert rows.first.get_by_text("Added the short survey.").is_visible()
    assert rows.first.get_by_text("Grace Okafor").is_visible()

    page.get_by_role("button", name="Compare revisions").click()
    diff = page.get_by_role("region", name="Changes from revision 1 to revision 2")
    assert diff.is_visible()
    assert diff.locator("ins").filter(has_text="a kiosk and a short survey").count() == 1
    assert diff.locator("del").filter(has_text="with a simple kiosk").count() == 1
    screenshot(page, "archive-resource-diff")
