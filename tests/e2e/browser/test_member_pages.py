"""A person registers, logs in and joins a network through the pages, in headless Chromium."""
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, expect_error_summary, new_page, phone_overflow


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


def test_registration_and_log_in_problems_are_summarised_linked_and_keep_what_was_typed(system, browser):
    system.create_agency("dta", "Digital Transformation Agency", admin_email=unique_email("admin"))
    email = unique_email("mei")
    page = new_page(browser)
    page.goto(f"{system.web_url}/register")
    page.get_by_label("Your name as others will see it").fill("Mei Chen")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill("too short")
    page.get_by_label("Agency").select_option("dta")
    with page.expect_navigation() as answer:
        page.get_by_role("button", name="Create my account").click()
    assert answer.value.status == 422
    expect_error_summary(page, "f-password", "Your password must be 10 to 1024 characters.")
    assert page.get_by_label("Your name as others will see it").input_value() == "Mei Chen"
    assert page.get_by_label("Work email").input_value() == email
    problems = axe_problems(page)
    assert not problems and not phone_overflow(page), problems
    screenshot(page, "member-register-problem")

    page.goto(f"{system.web_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("The email or password is not right.")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.get_by_label("Email").input_value() == email
    assert not axe_problems(page)
    page.context.close()
