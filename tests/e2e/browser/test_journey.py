"""A person's whole journey in headless Chromium, every page checked with axe-core and at a 360 px wide phone.

Register in an agency, join a network, submit an idea after seeing similar
ones; a second member rates and comments with the keyboard alone; the first
member sees the bell and the notification; an administrator makes a colleague
moderator, who adopts the idea with an official response; the idea appears in
the archive and in search; the administrator adds a resource linked to it.
Screenshots of each step go to ``artifacts/screenshots/journey-*.png``.
"""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
PHONE_WIDTH = 360
DESKTOP = {"width": 1280, "height": 900}
BLOCKING_IMPACTS = ("serious", "critical")


def axe_problems(page) -> list[str]:
    """Serious or critical WCAG 2.x A/AA violations axe-core finds on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in result
            if v["impact"] in BLOCKING_IMPACTS]


def phone_overflow(page) -> int:
    """How many CSS pixels the page is wider than a 360 px phone (0 when nothing needs horizontal scrolling)."""
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 780})
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.set_viewport_size(DESKTOP)
    return max(0, width - PHONE_WIDTH)


def expect_error_summary(page, link_to: str, message: str) -> None:
    """The GOV.UK error pattern: a focused summary linking to the field, and the field's own message beside it."""
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary).to_be_visible()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')"), "focus is on the summary"
    link = summary.get_by_role("link", name=message)
    expect(link).to_have_attribute("href", f"#{link_to}")
    expect(page.locator(f"#{link_to}")).to_be_attached()
    # The field, or the group of boxes it opens, is described by its own message.
    expect(page.locator(f'[aria-describedby~="{link_to}-error"]')).to_have_count(1)
    expect(page.locator(f"#{link_to}-error")).to_contain_text(message)
    assert page.title().startswith("Error:")


class Journey:
    """Checks every page the journey visits and keeps a screenshot of each step."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.problems: dict[str, list[str]] = {}
        self.step = 0

    def check(self, page, name: str) -> None:
        found = axe_problems(page)
        overflow = phone_overflow(page)
        if overflow:
            found.append(f"{overflow} px wider than a {PHONE_WIDTH} px phone")
        if found:
            self.problems[f"{name} ({page.url.replace(self.base_url, '')})"] = found

    def shot(self, page, name: str) -> None:
        self.step += 1
        self.check(page, name)
        screenshot(page, f"journey-{self.step:02d}-{name}")


def new_page(browser):
    # bypass_csp lets the test inject axe-core; the pages' own policy allows no inline script.
    context = browser.new_context(locale="en-AU", timezone_id="Australia/Sydney", viewport=DESKTOP, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(15000)
    return opened


def log_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def reload_until(page, check, timeout: float = 15.0) -> None:
    """Reload until ``check()`` holds: events reach notify and the archive a moment after the write."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url} did not show the expected change within {timeout} s")
        time.sleep(0.3)
        page.reload()


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching ``selector`` has focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_public_servants_whole_journey_is_accessible_and_fits_a_phone(system, browser):
    started = time.monotonic()
    base = system.web_url
    marker = uuid.uuid4().hex[:6]
    agency = f"jrn{marker}"
    admin_email, rater_email, moderator_email = (unique_email(n) for n in ("admin", "rater", "moderator"))
    system.create_agency(agency, "Department of Community Engagement", admin_email=admin_email,
                         admin_name="Amara Osei")
    admin = system.token(admin_email)
    network = system.api(admin).post("/api/v1/networks", json={
        "name": f"Co-design practitioners {marker}",
        "description": "People who design services with the people who use them."}).json()
    earlier = system.register(unique_email("earlier"), "Tom Whitlam", agency=agency)
    assert system.api(earlier).post("/api/v1/ideas", json={
        "title": f"Plain language checklist {marker} for consultation papers",
        "description": "A short checklist that every consultation paper passes before it is published.",
        "tags": ["plain-language"]}).status_code == 201
    system.register(rater_email, "Rosa Nguyen", agency=agency)
    system.register(moderator_email, "Wei Chen", agency=agency)
    journey = Journey(base)
    me = new_page(browser)

    # 1. Register in an agency.
    me.goto(base)
    journey.shot(me, "home")
    me.get_by_role("navigation", name="Your account").get_by_role("link", name="Register").click()
    author_email = unique_email("priya")
    me.get_by_label("Your name as others will see it").fill("Priya Raman")
    me.get_by_label("Work email").fill(author_email)
    me.get_by_label("Password").fill(PASSWORD)
    me.get_by_label("Agency").select_option(agency)
    journey.shot(me, "register")
    with me.expect_navigation():
        me.get_by_role("button", name="Create my account").click()
    expect(me.get_by_text("open the link we emailed you")).to_be_visible()
    # 1a. Confirm the address from the mail, then log in.
    me.goto(system.verification_link(author_email))
    expect(me.get_by_text("Your address is confirmed")).to_be_visible()
    me.get_by_label("Email").fill(author_email)
    me.get_by_label("Password").fill(PASSWORD)
    with me.expect_navigation():
        me.get_by_role("button", name="Log in").click()
    me.goto(f"{base}/me")
    journey.check(me, "profile")

    # 2. Join a network of practice.
    me.goto(f"{base}/networks")
    journey.check(me, "networks")
    me.get_by_role("link", name=network["name"]).click()
    with me.expect_navigation():
        me.get_by_role("button", name="Join this network").click()
    expect(me.get_by_text("You have joined the network.")).to_be_visible()
    assert me.get_by_role("listitem").filter(has_text="Priya Raman").count() == 1
    journey.shot(me, "network-joined")

    # 3. Submit an idea, seeing similar ideas first.
    me.get_by_role("navigation", name="Main").get_by_role("link", name="Ideas").click()
    journey.check(me, "ideas")
    me.goto(f"{base}/ideas/new")
    title = f"Plain language {marker} summaries for every consultation"
    me.get_by_label("Title").fill(title)
    with me.expect_navigation():
        me.get_by_role("button", name="Check for similar ideas").click()
    similar = me.get_by_role("complementary", name="Similar ideas")
    expect(similar.get_by_role("link", name=re.compile(f"Plain language checklist {marker}"))).to_be_visible()
    me.get_by_label("Describe the idea").fill(
        "Every consultation paper would open with a one-page summary written in plain language.")
    me.get_by_label("What it might look like").fill("A page at the front: what we ask, why, and by when.")
    me.get_by_label("Why it matters").fill("More people answer when they understand the question.")
    me.get_by_label("Questions for discussion").fill("Would a summary have helped you answer?")
    me.get_by_label("Tags").fill("plain-language, consultation")
    me.get_by_label("Network of practice").select_option(network["slug"])  # one of the networks she belongs to
    journey.shot(me, "idea-similar")
    with me.expect_navigation():
        me.get_by_role("button", name="Publish").click()
    expect(me.get_by_text("Your idea is published.")).to_be_visible()
    idea_id = me.url.rstrip("/").split("/")[-1].split("#")[0]
    expect(me.get_by_role("heading", level=1, name=title)).to_be_visible()
    journey.shot(me, "idea-published")

    # 4. A second member rates and comments, with the keyboard alone.
    rater = new_page(browser)
    log_in(rater, base, rater_email)
    rater.goto(f"{base}/ideas/{idea_id}")
    journey.check(rater, "idea-as-rater")
    rater.locator("body").focus()
    tab_to(rater, "input[name=stars]")
    for _ in range(4):
        rater.keyboard.press("ArrowRight")
    assert rater.get_by_role("radio", name="5 stars").is_checked()
    with rater.expect_navigation():
        rater.keyboard.press("Enter")
    expect(rater.get_by_text("Thank you: your rating is saved.")).to_be_visible()
    assert re.search(r"Average rating:\s*5\.0\s*out of 5, based on\s*1\s*vote",
                     rater.get_by_test_id("rating-summary").inner_text())
    tab_to(rater, "textarea#new-comment")
    rater.keyboard.type("Yes please: I would start with the budget papers.")
    tab_to(rater, ".comment-form button[type=submit]", limit=5)
    with rater.expect_navigation():
        rater.keyboard.press("Enter")
    expect(rater.get_by_text("Your comment is posted.")).to_be_visible()
    comment = rater.locator("li.comment").filter(has_text="I would start with the budget papers.")
    expect(comment.locator(".comment-author")).to_have_text("Rosa Nguyen")
    assert comment.locator("time").get_attribute("datetime")
    journey.shot(rater, "rated-and-commented")

    # 5. The first member sees the bell and the notification.
    me.goto(f"{base}/ideas")
    bell = me.get_by_role("link", name=re.compile(r"^Notifications"))
    reload_until(me, lambda: bell.locator(".count").count() == 1)
    expect(bell).to_have_accessible_name(re.compile(r"^Notifications\s*:\s*\d+\s+unread$"))
    journey.shot(me, "bell")
    bell.click()
    me.wait_for_url(f"{base}/notifications")
    notification = me.locator("li.notification.unread").filter(has_text=title)
    expect(notification.first).to_be_visible()
    journey.shot(me, "notifications")
    with me.expect_navigation():
        notification.first.get_by_role("button").click()
    assert f"/ideas/{idea_id}" in me.url

    # 6. The administrator makes a colleague moderator in the admin area.
    admin_page = new_page(browser)
    log_in(admin_page, base, admin_email)
    admin_page.get_by_role("link", name="Admin").click()
    admin_page.wait_for_url(f"{base}/admin/members?agency={agency}")
    row = admin_page.get_by_role("group", name="Wei Chen")
    row.get_by_label("Moderator").check()
    with admin_page.expect_navigation():
        row.get_by_role("button", name="Save roles for Wei Chen").click()
    expect(admin_page.get_by_text("The roles of Wei Chen are saved.")).to_be_visible()
    assert admin_page.get_by_role("group", name="Wei Chen").get_by_label("Moderator").is_checked()
    journey.shot(admin_page, "admin-members")
    for section in ("networks", "moderation", "webhooks"):
        admin_page.get_by_role("navigation", name="Administration").get_by_role("link", name=re.compile(
            {"networks": "^Networks", "moderation": "Moderation queue", "webhooks": "Webhooks"}[section])).click()
        admin_page.wait_for_url(f"**/admin/{section}?agency={agency}")
        journey.check(admin_page, f"admin-{section}")

    # 7. The moderator adopts the idea with an official response.
    moderator = new_page(browser)
    log_in(moderator, base, moderator_email)
    moderator.goto(f"{base}/ideas/{idea_id}")
    for state, response in (("under_review", ""), ("adopted", "Adopted: summaries start with the next budget papers.")):
        moderator.get_by_label("New state").select_option(state)
        if response:
            moderator.get_by_label("Official response (optional)").fill(response)
        with moderator.expect_navigation():
            moderator.get_by_role("button", name="Change state").click()
        expect(moderator.get_by_text("The idea's state is changed.")).to_be_visible()
    expect(moderator.get_by_role("region", name="Official response")).to_contain_text("next budget papers")
    journey.shot(moderator, "adopted")

    # 8. The idea appears in the archive and in search.
    me.goto(f"{base}/archive/ideas/{idea_id}")
    reload_until(me, lambda: me.get_by_role("heading", level=1, name=title).count() == 1)
    expect(me.get_by_text("next budget papers")).to_be_visible()
    journey.shot(me, "archived-idea")
    me.get_by_role("search").get_by_label("Search ideas and resources").fill(f"{marker} summaries")
    with me.expect_navigation():
        me.get_by_role("search").get_by_role("button", name="Search").click()
    expect(me.get_by_role("link", name=title)).to_be_visible()
    journey.shot(me, "search")
    me.goto(f"{base}/ideas?q={marker}+summaries")
    expect(me.get_by_role("link", name=title)).to_be_visible()
    journey.check(me, "idea-search")

    # 9. An administrator adds a resource linked to the idea.
    admin_page.goto(f"{base}/archive/resources/new")
    admin_page.get_by_label("Kind").select_option("case_study")
    admin_page.get_by_label("Title").fill(f"Lessons from plain language summaries {marker}")
    admin_page.get_by_label("Summary").fill("What we learned writing one-page summaries for consultation papers.")
    admin_page.get_by_label("Body").fill("## What worked\n\nWriting the summary first, then the paper.")
    admin_page.get_by_label("Licence").select_option("CC-BY-4.0")
    admin_page.get_by_label("Attribution").fill("Department of Community Engagement")
    admin_page.get_by_label("Archived ideas this draws on (optional)").fill(idea_id)
    journey.check(admin_page, "resource-form")
    with admin_page.expect_navigation():
        admin_page.get_by_role("button", name="Publish").click()
    expect(admin_page.get_by_role("heading", level=1, name=re.compile("Lessons from plain language"))).to_be_visible()
    expect(admin_page.get_by_role("link", name=title)).to_be_visible()
    journey.shot(admin_page, "resource-linked")
    me.goto(f"{base}/archive/ideas/{idea_id}")
    reload_until(me, lambda: me.get_by_role("link", name=re.compile("Lessons from plain language")).count() == 1)

    for opened in (me, rater, admin_page, moderator):
        opened.context.close()
    assert not journey.problems, "\n".join(f"{page}: {problem}" for page, found in journey.problems.items()
                                           for problem in found)
    assert time.monotonic() - started < 90, "the journey should take well under a minute and a half"
