"""The idea page in headless Chromium: rate with the keyboard, comment and reply; what visitors see."""
import re

from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, expect_error_summary, new_page, phone_overflow
from tests.e2e.browser.test_journey import log_in as journey_log_in

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


def test_a_too_long_comment_is_refused_with_its_words_kept_and_a_summary_leading_to_them(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    author = system.register(unique_email("author"), "Priya Author")
    idea = system.api(author).post("/api/v1/ideas", json={**IDEA, "title": "Long comments are kept"}).json()
    email = unique_email("rosa")
    system.register(email, "Rosa Nguyen")
    page = new_page(browser)
    journey_log_in(page, system.web_url, email)
    page.goto(f"{system.web_url}/ideas/{idea['id']}")

    words = ("A thought worth keeping. " * 801)[:20_001]
    page.get_by_label("Add a comment: what do you like, and what would you change?").fill(words)
    with page.expect_navigation() as answer:
        page.get_by_role("button", name="Post comment").click()
    assert answer.value.status == 422
    expect_error_summary(page, "new-comment", "Your comment must be 20,000 characters or fewer.")
    assert page.locator("#new-comment").input_value() == words
    assert page.locator("li.comment").count() == 0
    problems = axe_problems(page)
    assert not problems and not phone_overflow(page), problems
    screenshot(page, "idea-page-comment-too-long")

    page.get_by_role("link", name="Your comment must be 20,000 characters or fewer.").click()
    assert page.url.endswith("#new-comment")
    page.locator("#new-comment").fill(words[:200])
    with page.expect_navigation():
        page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_text("Your comment is posted.")).to_be_visible()
    assert page.get_by_role("alert").count() == 0
    page.context.close()


def test_the_idea_title_says_its_limit_and_a_longer_one_is_refused_in_plain_words(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    email = unique_email("priya")
    system.register(email, "Priya Raman")
    page = new_page(browser)
    journey_log_in(page, system.web_url, email)
    page.goto(f"{system.web_url}/ideas/new")
    title = page.get_by_label("Title")
    expect(title).to_have_attribute("maxlength", "200")
    expect(page.locator("#f-title-hint")).to_have_text("At most 200 characters.")
    assert "f-title-hint" in title.get_attribute("aria-describedby")

    too_long = "Summaries " * 20 + "and more"
    title.evaluate("input => input.removeAttribute('maxlength')")  # as a browser without maxlength would send it
    title.fill(too_long)
    page.get_by_label("Describe the idea").fill("A one-page summary at the front of every consultation paper.")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish").click()
    expect_error_summary(page, "f-title", "The title must be 200 characters or fewer.")
    assert page.get_by_label("Title").input_value() == too_long
    assert page.get_by_label("Describe the idea").input_value().startswith("A one-page summary")
    assert "title" not in page.get_by_role("alert").inner_text().replace("The title", "")
    problems = axe_problems(page)
    assert not problems and not phone_overflow(page), problems
    page.context.close()
