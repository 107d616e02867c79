"""The bell and the notifications page, in headless Chromium against the running system.

A notification leads to the very comment it is about, highlighted; opening it
is a POST (following a link marks nothing read); a mention on a followed idea
is one notice; a removed comment's words leave every notification; commenters
follow what they take part in unless they said not to.
"""
import time
import uuid

from playwright.sync_api import expect

from tests.e2e.browser.conftest import screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, log_in, new_page, phone_overflow


def wait_until(predicate, timeout=30.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


class Agency:
    """An agency of this test's own, its administrator, and members registered in it."""

    def __init__(self, system):
        self.system = system
        self.slug = f"ntf{uuid.uuid4().hex[:6]}"
        self.admin_email = unique_email("admin")
        system.create_agency(self.slug, "Department of Notices", admin_email=self.admin_email)
        self.admin = system.api(system.token(self.admin_email))
        self.emails: dict[str, str] = {}

    def member(self, name: str):
        self.emails[name] = unique_email(name.split()[0].lower())
        return self.system.api(self.system.register(self.emails[name], name, agency=self.slug))

    def unread(self, member) -> int:
        return member.get("/api/v1/notifications").json()["unread"]


def assert_accessible(page, name: str) -> None:
    problems = axe_problems(page)
    overflow = phone_overflow(page)
    assert not problems and not overflow, (name, problems, overflow)


def test_opening_a_notification_is_a_post_that_marks_it_read_and_lands_on_the_comment_highlighted(system, browser):
    agency = Agency(system)
    author, commenter, follower = (agency.member(n) for n in ("Rosa Nguyen", "Tariq Haddad", "Mei Chen"))
    idea_id = author.post("/api/v1/ideas", json={
        "title": "Plain-language summaries for every consultation",
        "description": "Each consultation opens with a one-page summary anyone can read."}).json()["id"]
    assert follower.post(f"/api/v1/ideas/{idea_id}/follow").status_code == 200
    time.sleep(1)  # the follow reaches notify before the comment does
    for number in range(6):  # a long thread, so that landing on the last comment needs scrolling
        commenter.post(f"/api/v1/ideas/{idea_id}/comments", json={"body": f"Earlier thought number {number}.\n" * 6})
    comment_id = commenter.post(f"/api/v1/ideas/{idea_id}/comments",
                                json={"body": "We tried this in our agency and people read them."}).json()["id"]
    wait_until(lambda: agency.unread(follower) == 7, message="the follower's notifications")
    [newest] = [n for n in follower.get("/api/v1/notifications").json()["items"] if "people read them" in n["body"]]

    page = new_page(browser)
    log_in(page, system.web_url, agency.emails["Mei Chen"])
    bell = page.get_by_role("link", name="Notifications: 7 unread")
    expect(bell).to_be_visible()
    assert bell.locator(".count").inner_text() == "7"

    # Following a link changes nothing: a crawler or a prefetch marks nothing read.
    for address in (f"/notifications/{newest['id']}", f"/notifications/{newest['id']}/read"):
        answer = page.goto(system.web_url + address)
        assert answer.status in (404, 405), (address, answer.status)
    assert agency.unread(follower) == 7

    page.goto(f"{system.web_url}/notifications")
    item = page.locator("li.notification.unread").filter(has_text="people read them")
    opener = item.get_by_role("button", name="Tariq Haddad commented on")
    expect(opener).to_be_visible()
    assert "Plain-language summaries" in opener.inner_text()
    assert page.get_by_text("7 unread notifications").is_visible()
    assert_accessible(page, "notifications")
    screenshot(page, "notifications-page")

    with page.expect_navigation():
        opener.click()
    assert page.url == f"{system.web_url}/ideas/{idea_id}#comment-{comment_id}"
    comment = page.locator(f"#comment-{comment_id}")
    assert comment.evaluate("element => element.matches(':target')")
    expect(comment).to_be_in_viewport()
    highlighted = comment.evaluate("element => getComputedStyle(element).backgroundColor")
    others = page.locator("li.comment").first.evaluate("element => getComputedStyle(element).backgroundColor")
    assert highlighted != others
    assert agency.unread(follower) == 6
    assert_accessible(page, "idea page at the comment")
    screenshot(page, "notifications-landed-on-comment")

    page.goto(f"{system.web_url}/notifications")
    with page.expect_navigation():
        page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_text("You are up to date.")).to_be_visible()
    assert page.locator(".notification.unread").count() == 0
    assert page.get_by_role("link", name="Notifications", exact=True).is_visible()  # the bell without a count
    screenshot(page, "notifications-read")
    page.context.close()


def test_a_mention_on_a_followed_idea_is_one_notice_and_a_removed_comment_leaves_no_words_behind(system, browser):
    agency = Agency(system)
    author, commenter, follower = (agency.member(n) for n in ("Rosa Nguyen", "Tariq Haddad", "Mei Chen"))
    idea_id = author.post("/api/v1/ideas", json={
        "title": "A shared calendar of consultations",
        "description": "One calendar, so agencies stop consulting the same people in the same week."}).json()["id"]
    assert follower.post(f"/api/v1/ideas/{idea_id}/follow").status_code == 200
    time.sleep(1)  # the follow and Mei's name reach notify and ideas before the comment does
    comment = commenter.post(f"/api/v1/ideas/{idea_id}/comments",
                             json={"body": "@[Mei Chen] your team keeps the list already, could you host it?"})
    assert comment.status_code == 201, comment.text
    wait_until(lambda: agency.unread(follower) and agency.unread(author), message="the notices")
    time.sleep(1)  # a second notice, were there one, would arrive in this time

    page = new_page(browser)
    log_in(page, system.web_url, agency.emails["Mei Chen"])
    page.goto(f"{system.web_url}/notifications")
    items = page.locator("li.notification")
    expect(items).to_have_count(1)
    expect(items.get_by_role("button")).to_contain_text("Tariq Haddad mentioned you in “A shared calendar of consultations”")
    expect(items).to_contain_text("could you host it?")

    assert commenter.delete(f"/api/v1/comments/{comment.json()['id']}").status_code == 200
    wait_until(lambda: not follower.get("/api/v1/notifications").json()["items"][0]["body"],
               message="the removal to reach notify")
    for reader in ("Mei Chen", "Rosa Nguyen"):
        if reader != "Mei Chen":
            log_in(page, system.web_url, agency.emails[reader])
        page.goto(f"{system.web_url}/notifications")
        expect(page.locator("li.notification")).to_have_count(1)
        assert "host it" not in page.locator("main").inner_text(), reader
        expect(page.locator("li.notification")).to_contain_text("The comment was removed.")
    assert_accessible(page, "notifications after a removal")
    screenshot(page, "notifications-comment-removed")
    page.context.close()


def test_commenters_follow_the_idea_and_hear_it_was_adopted_unless_they_turned_that_off(system, browser):
    agency = Agency(system)
    author, keen, private = (agency.member(n) for n in ("Rosa Nguyen", "Tariq Haddad", "Mei Chen"))
    idea_id = author.post("/api/v1/ideas", json={
        "title": "Pay people for their time in co-design",
        "description": "A standard rate for members of the public who design services with us."}).json()["id"]

    page = new_page(browser)
    log_in(page, system.web_url, agency.emails["Mei Chen"])
    page.goto(f"{system.web_url}/notifications/preferences")
    following = page.get_by_label("Follow an idea when I comment on it or rate it")
    expect(following).to_be_checked()
    assert_accessible(page, "notification preferences")
    following.uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    expect(page.get_by_label("Follow an idea when I comment on it or rate it")).not_to_be_checked()

    for member in (keen, private):
        assert member.post(f"/api/v1/ideas/{idea_id}/comments", json={"body": "A fair rate matters."}).ok
    assert keen.get(f"/api/v1/ideas/{idea_id}").json()["following"] is True
    assert private.get(f"/api/v1/ideas/{idea_id}").json()["following"] is False
    time.sleep(1)  # the follow reaches notify before the decision does
    for state, response in (("under_review", None), ("adopted", "Adopted: the rate starts next quarter.")):
        moved = agency.admin.post(f"/api/v1/ideas/{idea_id}/state",
                                  json={"state": state, **({"official_response": response} if response else {})})
        assert moved.ok, moved.text
    wait_until(lambda: any("is now adopted" in n["title"] for n in keen.get("/api/v1/notifications").json()["items"]),
               message="the commenter to hear of the adoption")
    time.sleep(1)
    assert not any("adopted" in n["title"] for n in private.get("/api/v1/notifications").json()["items"])
    page.context.close()
