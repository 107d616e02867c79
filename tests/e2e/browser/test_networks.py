"""Networks as places, in headless Chromium: an idea's network chosen from a list, a closed network's ideas kept
from outsiders until an administrator approves their request, and an invited guest taking part there only."""
import re
import time
import uuid

import requests
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email
from tests.e2e.browser.test_journey import Journey, log_in, new_page, reload_until


def member(system, name: str) -> tuple[str, str]:
    """A confirmed member of the DTA: (email, token)."""
    email = unique_email(name.split()[0].lower())
    return email, system.register(email, name)


def network(system, token: str, name: str, closed: bool = False) -> str:
    created = system.api(token).post("/api/v1/networks", json={"name": name, "description": "For testing.",
                                                               "closed": closed})
    assert created.status_code == 201, created.text
    return created.json()["slug"]


def submit(system, token: str, **fields) -> dict:
    """Submit an idea through the API, waiting the moment it takes ideas to hear of the author's new network."""
    deadline = time.monotonic() + 15
    while True:
        answer = system.api(token).post("/api/v1/ideas", json={"description": "Tried in a pilot.", **fields})
        if answer.status_code == 201 or time.monotonic() > deadline:
            assert answer.status_code == 201, answer.text
            return answer.json()
        time.sleep(0.2)


def test_an_ideas_network_is_chosen_from_a_list_and_shown_on_the_idea_and_the_network_page(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    email, token = member(system, "Rosa Nguyen")
    name = f"Service designers {uuid.uuid4().hex[:4]}"
    slug = network(system, token, name)
    journey = Journey(system.web_url)
    page = new_page(browser)
    log_in(page, system.web_url, email)

    page.goto(f"{system.web_url}/ideas/new")
    select = page.get_by_label("Network of practice")
    reload_until(page, lambda: page.get_by_label("Network of practice").locator(f'option[value="{slug}"]').count())
    expect(select.locator("option").first).to_have_text("None: agency-wide, open to everyone")
    page.get_by_label("Title").fill("Co-design sessions with people who use the service")
    page.get_by_label("Describe the idea").fill("Bring the people who use a service into its design from the start.")
    page.get_by_label("Network of practice").select_option(label=name)
    journey.check(page, "idea-form-with-networks")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish").click()
    link = page.locator(".idea-network").get_by_role("link", name=name)
    expect(link).to_be_visible()
    journey.check(page, "idea-in-a-network")

    link.click()
    page.wait_for_url(f"**/networks/{slug}")
    ideas = page.get_by_role("region", name="Ideas in this network")
    expect(ideas.get_by_role("link", name="Co-design sessions with people who use the service")).to_be_visible()
    members = page.get_by_role("region", name="Members")
    expect(members.get_by_role("link", name="Rosa Nguyen")).to_be_visible()
    journey.check(page, "network-page")
    screenshot(page, "network-page")

    page.goto(f"{system.web_url}/ideas?network={slug}")
    listed = page.locator(".idea-list li").filter(has_text="Co-design sessions")
    expect(listed.locator(".idea-network").get_by_role("link", name=name)).to_be_visible()
    journey.check(page, "ideas-filtered-by-network")

    page.goto(f"{system.web_url}/networks/{slug}")
    page.get_by_role("region", name="Members").get_by_role("link", name="Rosa Nguyen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa Nguyen")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    journey.check(page, "member-profile")
    assert not journey.problems, journey.problems
    page.context.close()


def test_a_closed_networks_idea_is_invisible_to_a_non_member_until_an_administrator_approves(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    rosa_email, rosa = member(system, "Rosa Nguyen")
    tariq_email, tariq = member(system, "Tariq Haddad")
    word = f"quillon{uuid.uuid4().hex[:5]}"
    name = f"Tax policy circle {word[-5:]}"
    slug = network(system, rosa, name, closed=True)
    idea = submit(system, rosa, title=f"Candid {word} review", network=slug)
    journey = Journey(system.web_url)

    outsider = new_page(browser)
    log_in(outsider, system.web_url, tariq_email)
    answer = outsider.goto(f"{system.web_url}/ideas/{idea['id']}")
    assert answer.status == 404
    assert system.api(tariq).get(f"/api/v1/ideas/{idea['id']}").status_code == 404
    assert requests.get(f"{system.web_url}/api/v1/ideas/{idea['id']}", timeout=20).status_code == 404
    outsider.goto(f"{system.web_url}/search?q={word}")
    expect(outsider.get_by_role("link", name=f"Candid {word} review")).to_have_count(0)
    outsider.goto(f"{system.web_url}/networks/{slug}")
    expect(outsider.get_by_text("Only members of this closed network see its ideas.")).to_be_visible()
    journey.check(outsider, "closed-network-from-outside")
    outsider.get_by_role("button", name="Ask to join this network").click()
    expect(outsider.get_by_text("Your request to join is sent")).to_be_visible()
    expect(outsider.get_by_text("Your request to join is waiting for an administrator")).to_be_visible()
    assert outsider.goto(f"{system.web_url}/ideas/{idea['id']}").status == 404  # asking is not belonging

    admin = new_page(browser)
    log_in(admin, system.web_url, rosa_email)
    admin.goto(f"{system.web_url}/networks/{slug}")
    requests_region = admin.get_by_role("region", name="Requests to join")
    expect(requests_region.get_by_role("link", name="Tariq Haddad")).to_be_visible()
    journey.check(admin, "closed-network-requests")
    screenshot(admin, "network-requests")
    requests_region.get_by_role("button", name="Approve Tariq Haddad").click()
    expect(admin.get_by_text("They are a member now.")).to_be_visible()
    expect(admin.get_by_role("region", name="Requests to join").get_by_text("No requests are waiting.")).to_be_visible()

    reload_until(outsider, lambda: outsider.goto(f"{system.web_url}/ideas/{idea['id']}").status == 200)
    expect(outsider.get_by_role("heading", level=1)).to_have_text(f"Candid {word} review")
    expect(outsider.get_by_text("closed: seen by its members only")).to_be_visible()
    journey.check(outsider, "closed-network-idea-for-a-member")
    assert system.api(tariq).get(f"/api/v1/ideas/{idea['id']}").status_code == 200
    outsider.goto(f"{system.web_url}/search?q={word}")
    expect(outsider.get_by_role("link", name=f"Candid {word} review")).to_be_visible()
    # still nothing for anyone outside, even after a member's views
    assert requests.get(f"{system.web_url}/api/v1/ideas/{idea['id']}", timeout=20).status_code == 404
    found = requests.get(f"{system.web_url}/api/v1/search", params={"q": word}, timeout=20).json()["items"]
    assert not any(item["id"] == idea["id"] for item in found)
    assert not journey.problems, journey.problems
    outsider.context.close()
    admin.context.close()


def test_an_invited_guest_comments_in_their_network_and_is_refused_elsewhere(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    rosa_email, rosa = member(system, "Rosa Nguyen")
    name = f"Research partners {uuid.uuid4().hex[:4]}"
    slug = network(system, rosa, name, closed=True)
    inside = submit(system, rosa, title="Working with universities on evaluation", network=slug)
    agency_wide = submit(system, rosa, title="An agency-wide idea on plain language")
    journey = Journey(system.web_url)

    admin = new_page(browser)
    log_in(admin, system.web_url, rosa_email)
    admin.goto(f"{system.web_url}/networks/{slug}")
    guest_email = f"pat.{uuid.uuid4().hex[:6]}@uni.example.edu"
    admin.get_by_label("The guest's email address").fill(guest_email)
    admin.get_by_role("button", name="Make an invitation link").click()
    invite_url = admin.locator(".invite-link").inner_text()
    journey.check(admin, "guest-invitation")
    screenshot(admin, "network-guest-invitation")
    admin.context.close()

    guest = new_page(browser)
    guest.goto(invite_url)
    guest.get_by_label("Your name as others will see it").fill("Pat Partner")
    expect(guest.get_by_label("Work email")).to_have_value(guest_email)
    guest.get_by_label("Password").fill(PASSWORD)
    with guest.expect_navigation():
        guest.get_by_role("button", name="Create my account").click()
    guest.wait_for_url("**/me")
    expect(guest.get_by_role("link", name=name)).to_be_visible()

    reload_until(guest, lambda: guest.goto(f"{system.web_url}/ideas/{inside['id']}").status == 200)
    guest.get_by_label("Add a comment").fill("Our evaluation lab could help design the measures.")
    with guest.expect_navigation():
        guest.get_by_role("button", name="Post comment").click()
    expect(guest.get_by_text("Your comment is posted.")).to_be_visible()
    expect(guest.locator(".comment-body").filter(has_text="Our evaluation lab")).to_be_visible()
    journey.check(guest, "guest-comments-in-their-network")

    guest.goto(f"{system.web_url}/ideas/{agency_wide['id']}")
    expect(guest.get_by_text("As a guest you comment and rate only in the ideas of the network")).to_be_visible()
    expect(guest.get_by_role("button", name="Post comment")).to_have_count(0)
    journey.check(guest, "guest-elsewhere")
    screenshot(guest, "network-guest-elsewhere")
    elsewhere = system.api(system.token(guest_email)).post(f"/api/v1/ideas/{agency_wide['id']}/comments",
                                                           json={"body": "Hello"})
    assert elsewhere.status_code == 403 and "guest" in elsewhere.json()["error"]["message"], elsewhere.text
    assert not journey.problems, journey.problems
    guest.context.close()


def test_the_admin_networks_table_says_when_each_network_started_and_which_are_closed(system, browser):
    agency = f"n{uuid.uuid4().hex[:5]}"
    admin_email = f"admin@{agency}.example.gov.au"
    system.create_agency(agency, "Networks Test Agency", admin_email=admin_email)
    admin_token = system.token(admin_email)
    network(system, admin_token, f"Open practice {agency}")
    network(system, admin_token, f"Closed practice {agency}", closed=True)
    page = new_page(browser)
    log_in(page, system.web_url, admin_email)
    page.goto(f"{system.web_url}/admin/networks?agency={agency}")
    for name, closed in ((f"Open practice {agency}", False), (f"Closed practice {agency}", True)):
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name))
        expect(row.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
        expect(row.locator("time")).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]+ \d{4}$"))
        expect(row.get_by_text("closed", exact=True)).to_have_count(1 if closed else 0)
    journey = Journey(system.web_url)
    journey.check(page, "admin-networks")
    assert not journey.problems, journey.problems
    page.context.close()
