"""What a person sees of ideas in headless Chromium: mentions as links to profiles, state tags in words and colour,
numbered pages that keep their filters, the archived idea with its threads, and admins telling members apart."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import unique_email
from tests.e2e.browser.test_journey import axe_problems, log_in, new_page, phone_overflow

IDEA = {"description": "Teams would share one page of what each consultation heard.",
        "what_it_might_look_like": "", "why_it_matters": "", "prompts": ["Would your team use it?"], "tags": []}


def agency_with_admin(system) -> tuple[str, str, str]:
    """A fresh agency (its slug), its administrator's email and token."""
    slug = f"dsp{uuid.uuid4().hex[:6]}"
    email = unique_email("display.admin")
    system.create_agency(slug, "Display Test Agency", admin_email=email, admin_name="Grace Okafor")
    return slug, email, system.token(email)


@pytest.fixture
def page(browser):
    """A page that lets the test inject axe-core (the site's own policy allows no inline script)."""
    opened = new_page(browser)
    yield opened
    opened.context.close()


def accessible(page, name: str) -> None:
    assert not axe_problems(page), f"{name}: {axe_problems(page)}"
    assert phone_overflow(page) == 0, f"{name} overflows a 360 px phone"


def test_a_mention_links_to_the_members_profile_in_the_comment_and_in_their_notification(system, page):
    slug, _, _ = agency_with_admin(system)
    marker = uuid.uuid4().hex[:5]
    rosa_name, rosa_email = f"Rosa Mention{marker}", unique_email("rosa")
    rosa = system.register(rosa_email, rosa_name, agency=slug)
    tariq = system.register(unique_email("tariq"), f"Tariq Writer{marker}", agency=slug)
    idea = system.api(rosa).post("/api/v1/ideas", json={**IDEA, "title": f"Shared listening notes {marker}"}).json()
    posted = system.api(tariq).post(f"/api/v1/ideas/{idea['id']}/comments", json={
        "body": f"@[{rosa_name}] could your team <b>start</b> this?"})
    assert posted.status_code == 201, posted.text
    rosa_id = system.api(rosa).get("/api/v1/me").json()["id"]

    page.goto(f"{system.web_url}/ideas/{idea['id']}")
    comment = page.locator("li.comment").first
    link = comment.get_by_role("link", name=f"@{rosa_name}")
    expect(link).to_have_attribute("href", f"/members/{rosa_id}")
    expect(comment.locator(".comment-body")).to_have_text(f"@{rosa_name} could your team <b>start</b> this?")
    expect(page.get_by_role("heading", name="Comments (1)")).to_be_visible()
    tag = page.locator(".idea-state .badge")
    expect(tag).to_have_text("Open")
    assert tag.evaluate("e => getComputedStyle(e).backgroundColor") != page.locator("body").evaluate(
        "e => getComputedStyle(e).backgroundColor"), "the state tag is coloured"
    accessible(page, "idea with a mention")
    link.click()
    page.wait_for_url(f"**/members/{rosa_id}")
    expect(page.get_by_role("heading", level=1, name=rosa_name)).to_be_visible()
    accessible(page, "member profile")

    log_in(page, system.web_url, rosa_email)
    page.goto(f"{system.web_url}/notifications")
    notice = page.locator("li.notification").filter(has_text="mentioned you")
    expect(notice).to_have_count(1)
    expect(notice.get_by_role("link", name=f"@{rosa_name}")).to_have_attribute("href", f"/members/{rosa_id}")
    assert "@[" not in notice.inner_text()
    accessible(page, "notifications with a mention")


def test_numbered_pages_keep_the_filters_and_the_chosen_page_size(system, page):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    author = system.register(unique_email("pager"), "Pat Pager")
    tag = f"pages{uuid.uuid4().hex[:6]}"
    for number in range(21):
        made = system.api(author).post("/api/v1/ideas", json={**IDEA, "title": f"Paged idea {number}", "tags": [tag]})
        assert made.status_code == 201, made.text

    page.goto(f"{system.web_url}/ideas?tag={tag}")
    page.get_by_label("Ideas per page").select_option("10")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    pages = page.get_by_role("navigation", name="Pages of ideas")
    expect(pages.locator('[aria-current="page"]')).to_have_text(re.compile(r"1$"))
    expect(page.locator("ol.idea-list > li")).to_have_count(10)
    expect(page.locator("ol.idea-list .badge.state-open").first).to_have_text("Open")
    accessible(page, "ideas list, page 1")

    with page.expect_navigation():
        pages.get_by_role("link", name=re.compile("^Next")).click()
    assert re.search(rf"tag={tag}.*limit=10.*page=2", page.url), page.url
    expect(page.get_by_label("Ideas per page")).to_have_value("10")
    expect(page.get_by_label("Tag")).to_have_value(tag)
    with page.expect_navigation():
        pages.get_by_role("link", name="Page 3", exact=True).click()
    expect(page.locator("ol.idea-list > li")).to_have_count(1)
    expect(page.get_by_role("link", name="Paged idea 0", exact=True)).to_be_visible()
    with page.expect_navigation():
        pages.get_by_role("link", name=re.compile("^Previous")).click()
    assert re.search(rf"tag={tag}.*limit=10.*page=2", page.url), page.url
    expect(page.get_by_role("link", name="Paged idea 10", exact=True)).to_be_visible()


def test_the_archived_idea_keeps_its_threads_rating_bars_prompts_and_who_responded(system, page):
    slug, admin_email, admin = agency_with_admin(system)
    marker = uuid.uuid4().hex[:5]
    author = system.register(unique_email("author"), f"Ari Author{marker}", agency=slug)
    raters = [system.register(unique_email(f"rater{n}"), f"Rae Rater{n}{marker}", agency=slug) for n in range(2)]
    idea = system.api(author).post("/api/v1/ideas", json={**IDEA, "title": f"Archived threads {marker}"}).json()
    top = system.api(raters[0]).post(f"/api/v1/ideas/{idea['id']}/comments",
                                     json={"body": f"A first thought for @[Ari Author{marker}]."}).json()
    system.api(raters[1]).post(f"/api/v1/ideas/{idea['id']}/comments",
                               json={"body": "A reply to it.", "parent_id": top["id"]})
    for token, stars in zip(raters, (5, 3)):
        assert system.api(token).put(f"/api/v1/ideas/{idea['id']}/rating", json={"stars": stars}).status_code == 200
    for move in ({"state": "under_review"}, {"state": "adopted", "official_response": "We start in March."}):
        assert system.api(admin).post(f"/api/v1/ideas/{idea['id']}/state", json=move).status_code == 200

    page.goto(f"{system.web_url}/archive/ideas/{idea['id']}")
    for _ in range(50):
        if page.get_by_role("heading", level=1, name=f"Archived threads {marker}").count():
            break
        page.wait_for_timeout(300)
        page.reload()
    expect(page.get_by_role("heading", name="Questions for discussion")).to_be_visible()
    reply = page.locator("li.comment.depth-2")
    expect(reply).to_contain_text("A reply to it.")
    first = page.locator("li.comment.depth-1")
    expect(first).to_contain_text(f"A first thought for @Ari Author{marker}.")
    author_id = system.api(author).get("/api/v1/me").json()["id"]
    expect(first.get_by_role("link", name=f"@Ari Author{marker}")).to_have_attribute("href", f"/members/{author_id}")
    bars = page.locator("table.histogram")
    expect(bars.locator("meter")).to_have_count(5)
    expect(bars.locator("tr").filter(has_text="5 ★").locator("td.votes")).to_have_text("1")
    response = page.get_by_role("region", name="Official response")
    expect(response).to_contain_text("We start in March.")
    expect(response.locator(".response-byline")).to_contain_text(re.compile(r"From Grace Okafor,\s*Agency administrator"))
    accessible(page, "archived idea")

    log_in(page, system.web_url, admin_email)
    page.goto(f"{system.web_url}/moderation")
    expect(page.get_by_role("link", name="Under review → Adopted").first).to_be_visible()


def test_an_admin_finds_two_members_of_one_name_and_tells_them_apart_by_address(system, page):
    slug, admin_email, _ = agency_with_admin(system)
    emails = [unique_email("sam.one"), unique_email("sam.two")]
    for email in emails:
        system.register(email, "Sam Samename", agency=slug)
    log_in(page, system.web_url, admin_email)
    page.goto(f"{system.web_url}/admin/members?agency={slug}")
    page.get_by_label("Find by name or email address").fill("samename")
    with page.expect_navigation():
        page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("2 members match “samename”")
    for email in emails:
        expect(page.get_by_text(email)).to_be_visible()
    expect(page.get_by_text(admin_email)).to_have_count(0)
    accessible(page, "admin members search")
