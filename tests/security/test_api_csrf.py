"""The JSON API refuses writes that ride on the page session's cookie alone: the shape of a forged request."""
from __future__ import annotations

import json
import re

import requests

from tests.integration.ideas_support import PASSWORD, start_world

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
EVIL = "https://evil.example"


def logged_in_browser(url: str, email: str) -> tuple[requests.Session, str]:
    """A browser holding the session cookie, and the CSRF token the site's pages publish to its own scripts."""
    browser = requests.Session()
    form_token = re.search(r'name="csrf_token"\s+value="([^"]+)"', browser.get(f"{url}/login", timeout=10).text).group(1)
    answer = browser.post(f"{url}/login", data={"email": email, "password": PASSWORD, "csrf_token": form_token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    return browser, CSRF_META.search(browser.get(f"{url}/me", timeout=10).text).group(1)


def test_a_cross_site_comment_posted_with_the_session_cookie_is_refused_and_creates_nothing(platform):
    world = start_world(platform)
    idea = world.submit(world.member("Rosa Nguyen"))
    browser, _ = logged_in_browser(world.url, "rosa.nguyen@example.gov.au")
    comments = f"{world.url}/api/v1/ideas/{idea['id']}/comments"
    body = json.dumps({"body": "Posted by another site"})
    # what a page elsewhere can send without a CORS preflight: text/plain, or a Blob with no type at all
    forged = [browser.post(comments, data=body, headers={"Content-Type": "text/plain", "Origin": EVIL}, timeout=10),
              browser.post(comments, data=body.encode(), headers={"Origin": EVIL}, timeout=10),
              browser.post(comments, data=body.encode(), headers={"Referer": f"{EVIL}/page"}, timeout=10)]
    assert [answer.status_code for answer in forged] == [403, 403, 403], [answer.text for answer in forged]
    assert platform.db("ideas").comments.count_documents({}) == 0


def test_a_session_write_needs_the_sessions_csrf_header_and_this_sites_origin(platform):
    world = start_world(platform)
    idea = world.submit(world.member("Rosa Nguyen"))
    browser, csrf = logged_in_browser(world.url, "rosa.nguyen@example.gov.au")
    comments = f"{world.url}/api/v1/ideas/{idea['id']}/comments"
    sent = {"body": "From the site's own script"}
    assert browser.post(comments, json=sent, headers={"X-CSRF-Token": "guessed"}, timeout=10).status_code == 403
    assert browser.post(comments, json=sent, headers={"X-CSRF-Token": csrf, "Origin": EVIL},
                        timeout=10).status_code == 403
    assert platform.db("ideas").comments.count_documents({}) == 0
    assert browser.post(comments, json=sent, headers={"X-CSRF-Token": csrf, "Origin": world.url},
                        timeout=10).status_code == 201
    assert browser.post(comments, json=sent, headers={"X-CSRF-Token": csrf}, timeout=10).status_code == 201


def test_a_bearer_token_write_needs_no_csrf_header_because_browsers_never_send_it_on_their_own(platform):
    world = start_world(platform)
    token = world.member("Rosa Nguyen")
    idea = world.submit(token)
    answer = requests.post(f"{world.url}/api/v1/ideas/{idea['id']}/comments", json={"body": "From a script"},
                           headers={"Authorization": f"Bearer {token}", "Origin": EVIL}, timeout=10)
    assert answer.status_code == 201, answer.text
