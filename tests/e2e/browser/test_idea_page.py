"""The idea page in headless Chromium: rate with the keyboard, comment and reply; what visitors see."""
import re

from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email

IDEA = {
    "title": "Open office hours for engagement teams",
    "description": "Engagement teams would hold a monthly hour when anyone in the service can drop in with a "
                   "question about running a consultation.",
    "what_it_might_look_like": "A video call on the first Tuesday of each month, with notes shared afterwards.",
    "why_it_matters": "Small teams without engagement specialists get advice before they start, not after.",
    "prompts": ["Would you drop in?"],
    "tags": ["capability"],
}


def log_in(system, page, email):
    page.goto(f"{system.web_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{system.web_url}/")


def test_a_member_rates_by_keyboard_comments_and_replies_and_sees_it_update(system, page):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    author = system.register(unique_email("author"), "Priya Author")
    idea = system.api(author).post("/api/v1/ideas", json=IDEA).json()
    earlier = system.register(unique_email("early"), "Early Rater")
    system.api(earlier).put(f"/api/v1/ideas/{idea['id']}/rating", json={"stars": 2})
    email = unique_email("rosa")
    system.register(email, "Rosa Nguyen")

    log_in(system, page, email)
    page.goto(f"{system.web_url}/ideas/{idea['id']}")
    summary = page.get_by_test_id("rating-summary")
    assert re.search(r"Average rating:\s*2\.0\s*out of 5, based on\s*1\s*vote", summary.inner_text())
    stars = page.get_by_role("group", name="Rate this idea (1 star bad, 5 stars great)")
    stars.get_by_role("radio", name="1 star").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert stars.get_by_role("radio", name="4 stars").is_checked()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text("Thank you: your rating is saved.")).to_be_visible()
    assert re.search(r"Average rating:\s*3\.0\s*out of 5, based on\s*2\s*votes",
                     page.get_by_test_id("rating-summary").inner_text())
    assert page.get_by_text("Your rating: 4 of 5 stars").is_visible()
    assert page.get_by_role("radio", name="4 stars").is_checked()

    page.get_by_label("Add a comment: what do you like, and what would you change?").fill("I would drop in monthly.")
    with page.expect_navigation():
        page.get_by_role("button", name="Post comment").click()
    comment = page.locator("li.comment").filter(has_text="I would drop in monthly.")
    expect(comment.locator(".comment-author")).to_have_text("Rosa Nguyen")
    assert comment.locator("time").get_attribute("datetime")
    comment.get_by_text("Reply", exact=True).click()
    comment.get_by_label("Your reply to Rosa Nguyen").fill("And a shared notes page would help.")
    with page.expect_navigation():
        comment.get_by_role("button", name="Post reply").click()
    reply = page.locator("li.comment.depth-2").filter(has_text="And a shared notes page would help.")
    assert reply.is_visible()
    assert page.get_by_role("heading", name=re.compile(r"Comments \(2\)")).is_visible()
    screenshot(page, "idea-page-member")


def test_a_visitor_sees_the_idea_and_the_log_in_prompt_but_no_rating_form(system, page):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    author = system.register(unique_email("author"), "Priya Author")
    idea = system.api(author).post("/api/v1/ideas", json={**IDEA, "title": "Visitors can read this"}).json()

    page.goto(f"{system.web_url}/ideas/{idea['id']}")
    assert page.get_by_role("heading", name="Visitors can read this").is_visible()
    assert page.get_by_role("heading", name="What it might look like").is_visible()
    assert page.get_by_role("heading", name="Why it matters").is_visible()
    assert page.get_by_text("by Priya Author on").is_visible()
    assert page.get_by_text("to comment and rate ideas.").is_visible()
    assert page.get_by_role("link", name="Log in").first.is_visible()
    assert page.get_by_role("radio").count() == 0
    assert page.get_by_role("button", name="Post comment").count() == 0
    screenshot(page, "idea-page-visitor")
