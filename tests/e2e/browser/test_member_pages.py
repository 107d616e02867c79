"""A person registers, logs in and joins a network through the pages, in headless Chromium."""
from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email


def test_register_log_in_and_join_a_network(system, page):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    owner = system.register(unique_email("owner"), "Network Owner")
    system.api(owner).post("/api/v1/networks", json={"name": "Service designers",
                                                     "description": "People who design services with the public."})
    email = unique_email("rosa")

    page.goto(f"{system.web_url}/register")
    page.get_by_label("Your name as others will see it").fill("Rosa Nguyen")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Agency").select_option("dta")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/login")
    assert page.get_by_text("open the link we emailed you").is_visible()
    screenshot(page, "member-registered")

    page.goto(system.verification_link(email))  # what Rosa opens from her mail
    page.wait_for_url("**/login")
    assert page.get_by_text("Your address is confirmed").is_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{system.web_url}/")

    page.goto(f"{system.web_url}/networks/service-designers")
    page.get_by_role("button", name="Join this network").click()
    assert page.get_by_text("You have joined the network.").is_visible()
    assert page.get_by_role("listitem").filter(has_text="Rosa Nguyen").count() == 1
    page.goto(f"{system.web_url}/me")
    assert page.get_by_role("link", name="Service designers").is_visible()
    screenshot(page, "member-joined-network")
