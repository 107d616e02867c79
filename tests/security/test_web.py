"""Scenario 12: CSRF on every form, member-written text inert, session cookies and security headers."""
from __future__ import annotations

import re
from pathlib import Path

import requests
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.web.gateway import PageHandler
from services.web.service import WebGateway
from tests.chaos.conftest import report
from tests.integration.ideas_support import IDEA, PASSWORD, start_world
from tests.support.accounts import confirm_address

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "web" / "templates"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'
# One-click unsubscribe (RFC 8058): mail programs POST the link bare; its signed token is the permission.
SIGNED_LINK_FORMS = {"/unsubscribe/<string:token>": "notify/unsubscribe.html"}
CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def page_forms() -> list[str]:
    """Every URL rule the gateway accepts a page form POST on."""
    rules = []
    for name in dir(WebGateway):
        for entrypoint in getattr(getattr(WebGateway, name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, PageHandler) and entrypoint.method == "POST":
                rules.append(entrypoint.url)
    return sorted(rules)


def logged_in(url: str, email: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    csrf = CSRF_INPUT.search(browser.get(f"{url}/login", timeout=10).text).group(1)
    answer = browser.post(f"{url}/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    csrf = CSRF_INPUT.search(browser.get(f"{url}/me", timeout=10).text).group(1)
    return browser, csrf


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    missing = []
    for template in TEMPLATES.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), flags=re.S | re.I):
            name = str(template.relative_to(TEMPLATES))
            if re.search(r'method="post"', form, re.I) and "csrf_token" not in form \
                    and name not in SIGNED_LINK_FORMS.values():
                missing.append(name)
    assert not missing


def test_every_page_form_refuses_a_post_without_the_sessions_csrf_token(platform):
    world = start_world(platform)
    platform.start("notify", "archive")
    token = world.member("Rosa Nguyen")
    idea = world.submit(token)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", token, json={"body": "A comment"}).json()
    network = world.call("POST", "/api/v1/networks", token, json={"name": "Practice", "description": "x"}).json()
    values = {"idea_id": idea["id"], "comment_id": comment["id"], "slug": network["slug"],
              "member_id": world.ids["Rosa Nguyen"]}
    browser, csrf = logged_in(world.url, "rosa.nguyen@example.gov.au")
    before = {name: platform.db("ideas")[name].count_documents({}) for name in ("ideas", "comments", "ratings")}
    refused, other = {}, {}
    for rule in page_forms():
        path = re.sub(r"<(?:string|path):(\w+)>", lambda m: values.get(m.group(1), "00000000-test"), rule)
        for sent in ({}, {"csrf_token": "forged-token"}):  # no token, and a token not from this session
            answer = browser.post(f"{world.url}{path}", data={**sent, "title": "x", "body": "x", "stars": "5"},
                                  allow_redirects=False, timeout=10)
            if rule in SIGNED_LINK_FORMS:  # a forged link is refused without a session token being involved
                assert 400 <= answer.status_code < 500, (rule, answer.status_code)
                continue
            (refused if answer.status_code == 403 else other)[f"{rule} {sorted(sent)}"] = answer.status_code
    after = {name: platform.db("ideas")[name].count_documents({}) for name in ("ideas", "comments", "ratings")}
    report("CSRF", forms=len(page_forms()), posts_refused_403=len(refused), other_answers=other)
    assert not other, other
    assert before == after
    # with the session's token the same form works
    assert browser.post(f"{world.url}/ideas/{idea['id']}/comments", data={"csrf_token": csrf, "body": "Real"},
                        allow_redirects=False, timeout=10).status_code == 303


def test_member_written_text_renders_inert_on_every_page(platform):
    world = start_world(platform)
    email = "mallory@example.gov.au"
    created = world.call("POST", "/api/v1/members", json={"email": email, "display_name": f"Mallory {XSS}"[:80],
                                                          "password": PASSWORD, "agency": "dta"})
    assert created.status_code == 201, created.text
    confirm_address(platform, created.json()["id"])
    token = world.log_in(email)
    idea = world.submit(token, title=f"Title {XSS}"[:200], description=f"Description {XSS}",
                        what_it_might_look_like=f"Look {XSS}", why_it_matters=f"Why {XSS}",
                        prompts=[f"Prompt {XSS}"], tags=["xss"])
    world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", token, json={"body": f"Comment {XSS}"})
    network = world.call("POST", "/api/v1/networks", token, json={"name": f"Net {XSS}"[:100],
                                                                  "description": f"About {XSS}"}).json()
    browser, _ = logged_in(world.url, email)
    pages = ["/", "/ideas", f"/ideas/{idea['id']}", "/networks", f"/networks/{network['slug']}", "/me"]
    live = {}
    for path in pages:
        html = browser.get(f"{world.url}{path}", timeout=10).text
        live[path] = [bad for bad in ("<script>alert", "<img src=x", "<svg onload", "onerror=alert(1)>")
                      if bad in html]
        assert "&lt;script&gt;" in html, path
    report("XSS", fields_with_payload=9, pages_checked=len(pages), live_markup_found=sum(map(len, live.values())))
    assert not any(live.values()), live


def test_session_cookie_flags_and_security_headers(platform):
    platform.overrides["web"] = {"PUBLIC_BASE_URL": "https://engage.example.gov.au"}
    world = start_world(platform)
    world.member("Rosa Nguyen")
    # The session cookie (with the form's CSRF secret) is set on the first page; a
    # Secure cookie is never sent back over this test's plain HTTP, so read it there.
    cookie = requests.get(f"{world.url}/login", timeout=10).headers["Set-Cookie"]
    flags = {flag: flag.lower() in cookie.lower() for flag in ("HttpOnly", "Secure", "SameSite=Lax")}
    headers = {}
    for path in ("/", "/login", "/ideas", "/api/v1/ideas", "/api/v1/agencies", "/no-such-page"):
        got = requests.get(f"{world.url}{path}", timeout=10).headers
        headers[path] = {
            "csp": "default-src 'self'" in got.get("Content-Security-Policy", ""),
            "frame-ancestors": "frame-ancestors 'none'" in got.get("Content-Security-Policy", ""),
            "nosniff": got.get("X-Content-Type-Options") == "nosniff"}
    report("cookies and headers", cookie_flags=flags,
           pages_with_all_headers=sum(1 for h in headers.values() if all(h.values())), pages=len(headers))
    assert all(flags.values()), cookie
    assert all(all(h.values()) for h in headers.values()), headers
