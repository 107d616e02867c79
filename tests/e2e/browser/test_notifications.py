"""The bell and the notifications page, in headless Chromium against the running system."""
import time

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email


def wait_until(predicate, timeout=30.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def test_a_comment_on_a_followed_idea_lights_the_bell_and_opening_it_marks_it_read(system, page):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    author = system.register(unique_email("author"), "Rosa Nguyen")
    commenter = system.register(unique_email("commenter"), "Tariq Haddad")
    follower_email = unique_email("follower")
    follower = system.register(follower_email, "Mei Chen")

    idea = system.api(author).post("/api/v1/ideas", json={
        "title": "Plain-language summaries for every consultation",
        "description": "Each consultation opens with a one-page summary anyone can read."})
    assert idea.status_code == 201, idea.text
    idea_id = idea.json()["id"]
    assert system.api(follower).post(f"/api/v1/ideas/{idea_id}/follow").status_code == 200
    time.sleep(1)  # the follow reaches notify before the comment does
    comment = system.api(commenter).post(f"/api/v1/ideas/{idea_id}/comments",
                                         json={"body": "We tried this in our agency and people read them."})
    assert comment.status_code == 201, comment.text
    wait_until(lambda: system.api(follower).get("/api/v1/notifications").json()["unread"] == 1,
               message="the follower's notification")

    page.goto(f"{system.web_url}/login")
    page.get_by_label("Email").fill(follower_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{system.web_url}/")

    bell = page.get_by_role("link", name="Notifications: 1 unread")
    assert bell.is_visible()
    assert bell.locator(".count").inner_text() == "1"
    screenshot(page, "notifications-bell")

    bell.click()
    page.wait_for_url(f"{system.web_url}/notifications")
    item = page.get_by_role("link", name="Tariq Haddad commented on")
    assert item.count() == 1
    assert "Plain-language summaries" in item.inner_text()
    assert page.get_by_text("1 unread notification").is_visible()
    screenshot(page, "notifications-page")

    item.click()
    page.wait_for_url(f"**/ideas/{idea_id}**")
    assert system.api(follower).get("/api/v1/notifications").json()["unread"] == 0

    page.goto(f"{system.web_url}/notifications")
    assert page.get_by_text("You are up to date.").is_visible()
    assert page.locator(".notification.unread").count() == 0
    assert page.get_by_role("link", name="Notifications", exact=True).is_visible()  # the bell without a count
    screenshot(page, "notifications-read")
