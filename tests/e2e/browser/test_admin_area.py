"""The agency admin area in a browser: who may enter, webhooks with a secret shown once, dead letters for operators.

The operator lives in Perth, so the dead letter's time also shows that dates follow the member's time zone.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from playwright.sync_api import expect
from pymongo import MongoClient

from services.web.i18n import local_time
from tests.e2e.browser.conftest import PASSWORD, screenshot, unique_email
from tests.e2e.browser.test_journey import axe_problems, expect_error_summary, log_in, phone_overflow


def make_operator(system, email: str) -> None:
    """Operators are appointed by whoever runs the platform, in storage, not through the product."""
    with MongoClient(system.env["MONGO_URI"]) as client:
        client[system.env["MEMBERS_DATABASE"]].members.update_one(
            {"email": email}, {"$set": {"roles": ["member", "agency_admin", "operator"]}})


def test_members_are_kept_out_admins_manage_webhooks_and_operators_see_dead_letters(system, browser):
    slug = f"adm{uuid.uuid4().hex[:6]}"
    admin_email, member_email, operator_email = (unique_email(n) for n in ("admin", "member", "operator"))
    system.create_agency(slug, "Office of Admin Tests", admin_email=admin_email, admin_name="Lena Fischer")
    system.register(member_email, "Kai Member", agency=slug)
    assert system.api().post("/api/v1/members", json={
        "email": operator_email, "display_name": "Ola Operator", "password": PASSWORD, "agency": slug,
        "time_zone": "Australia/Perth"}).status_code == 201
    system.confirm(operator_email)
    make_operator(system, operator_email)
    with MongoClient(system.env["MONGO_URI"]) as client:
        client[system.env["IDEAS_DATABASE"]].dead_letters.insert_one({
            "_id": f"dl-{slug}", "queue": "ideas.on_member_event", "type": "member.registered",
            "event_id": f"ev-{slug}", "attempts": 6, "dead_at": datetime.now(timezone.utc), "state": "dead",
            "error": "the member's agency is unknown", "body": b"{}"})
    context = browser.new_context(locale="en-AU", timezone_id="Australia/Sydney", bypass_csp=True,
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)

    log_in(page, system.web_url, member_email)
    assert page.get_by_role("link", name="Admin").count() == 0
    assert page.goto(f"{system.web_url}/admin/members").status == 403
    page.context.clear_cookies()

    log_in(page, system.web_url, admin_email)
    page.goto(f"{system.web_url}/admin/webhooks")
    page.get_by_label("Address that receives the events").fill("http://127.0.0.1:9/engage")
    page.get_by_label("What it is for").fill("Ratings into our dashboard")
    with page.expect_navigation():
        page.get_by_role("button", name="Add the webhook").click()  # no event chosen yet
    expect_error_summary(page, "f-event_types", "The events to send: choose 1 to 50 event types.")
    assert page.get_by_label("Address that receives the events").input_value() == "http://127.0.0.1:9/engage"
    assert not axe_problems(page) and not phone_overflow(page)
    page.get_by_role("checkbox", name="idea.rated").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Add the webhook").click()
    secret = page.get_by_label("Signing secret").input_value()
    assert len(secret) > 20
    assert page.get_by_text("Ratings into our dashboard").is_visible()
    assert not axe_problems(page) and not phone_overflow(page)
    screenshot(page, "admin-webhooks")
    page.goto(f"{system.web_url}/admin/webhooks")
    assert page.get_by_label("Signing secret").count() == 0, "the secret is shown once only"
    assert page.goto(f"{system.web_url}/admin/dead-letters").status == 403
    page.context.clear_cookies()

    log_in(page, system.web_url, operator_email)
    page.goto(f"{system.web_url}/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Dead letters").click()
    row = page.get_by_role("row").filter(has_text=f"ev-{slug}")
    expect(row).to_contain_text("the member's agency is unknown")
    expect(row).to_contain_text("ideas.on_member_event")
    shown = row.locator("time")
    assert shown.inner_text() == local_time(shown.get_attribute("datetime"), "Australia/Perth"), \
        "dates show in the member's own time zone"
    assert not axe_problems(page) and not phone_overflow(page)
    screenshot(page, "admin-dead-letters")
    context.close()
