"""Scoped API keys act with their scopes only and stop within 5 s of revocation; a change to who a member is
(roles, password reset, log-out) ends their older tokens and page sessions within 5 s, in every service."""
from __future__ import annotations

import time

import requests

from tests.integration.ideas_support import start_world
from tests.security.test_web import CSRF_INPUT, logged_in

WITHIN_SECONDS = 5.0


def status_within(call, expected: int, seconds: float = WITHIN_SECONDS) -> tuple[int, float]:
    """Repeat ``call`` until it answers ``expected`` or ``seconds`` pass: the last status and how long it took."""
    started = time.monotonic()
    while True:
        status = call().status_code
        elapsed = time.monotonic() - started
        if status == expected or elapsed > seconds:
            return status, elapsed
        time.sleep(0.1)


def test_a_scoped_key_writes_what_its_scopes_allow_is_listed_without_its_secret_and_stops_when_revoked(platform):
    world = start_world(platform)
    owner, stranger = world.member("Rosa Nguyen"), world.member("Sam Other")
    idea = world.submit(stranger)

    made = world.call("POST", "/api/v1/api-keys", owner, json={"name": "ratings bot",
                                                                "scopes": ["ratings:write", "comments:write"]})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith("ek_") and key["scopes"] == ["ratings:write", "comments:write"]

    rated = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", key["key"], json={"stars": 4})
    assert rated.status_code == 200, rated.text
    commented = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", key["key"], json={"body": "From a bot"})
    assert commented.status_code == 201, commented.text
    assert commented.json()["author_id"] == world.ids["Rosa Nguyen"]

    refused = {
        "submit an idea": world.call("POST", "/api/v1/ideas", key["key"], json={"title": "x"}),
        "make another key": world.call("POST", "/api/v1/api-keys", key["key"],
                                       json={"name": "more", "scopes": ["ideas:write"]}),
        "list keys": world.call("GET", "/api/v1/api-keys", key["key"]),
        "read the member's profile": world.call("GET", "/api/v1/me", key["key"]),
    }
    assert {name: answer.status_code for name, answer in refused.items()} == {name: 403 for name in refused}
    assert "ideas:write" in refused["submit an idea"].json()["error"]["message"]
    assert set(refused["list keys"].json()["error"]) == {"code", "message", "fields"}

    listed = world.call("GET", "/api/v1/api-keys", owner)
    assert listed.status_code == 200, listed.text
    [shown] = listed.json()["items"]
    assert shown["id"] == key["id"] and shown["name"] == "ratings bot" and shown["last_used_at"]
    assert set(shown) == {"id", "name", "scopes", "created_at", "last_used_at"}
    stored_digest = platform.db("members").api_keys.find_one({"key_id": key["id"]})["_id"]
    assert key["key"] not in listed.text and stored_digest not in listed.text

    assert world.call("DELETE", f"/api/v1/api-keys/{key['id']}", stranger).status_code == 404
    assert world.call("GET", "/api/v1/ideas", key["key"]).status_code == 200  # still the owner's key

    revoked_at = time.monotonic()
    assert world.call("DELETE", f"/api/v1/api-keys/{key['id']}", owner).status_code == 204
    status, _ = status_within(lambda: world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", key["key"],
                                                 json={"stars": 2}), 401)
    assert status == 401 and time.monotonic() - revoked_at <= WITHIN_SECONDS
    answer = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", key["key"], json={"stars": 2})
    assert answer.json()["error"]["code"] and answer.json()["error"]["message"]
    assert world.call("GET", "/api/v1/api-keys", owner).json()["items"] == []
    assert world.call("DELETE", f"/api/v1/api-keys/{key['id']}", owner).status_code == 404


def test_a_demoted_admins_old_token_is_refused_by_members_and_by_ideas_within_five_seconds(platform):
    world = start_world(platform)
    admin_token = world.tokens["Ada Admin"]
    idea = world.submit(world.member("Rosa Nguyen"))
    admin_id = world.call("GET", "/api/v1/me", admin_token).json()["id"]

    # Rosa becomes an administrator too (her own older token ends with that), then demotes Ada.
    promoted = world.call("PUT", f"/api/v1/members/{world.ids['Rosa Nguyen']}/roles", admin_token,
                          json={"roles": ["member", "agency_admin"]})
    assert promoted.status_code == 200, promoted.text
    rosa = world.log_in("rosa.nguyen@example.gov.au")
    demoted_at = time.monotonic()
    assert world.call("PUT", f"/api/v1/members/{admin_id}/roles", rosa, json={"roles": ["member"]}).status_code == 200

    by_members, _ = status_within(lambda: world.call("GET", "/api/v1/me", admin_token), 401)
    by_ideas, _ = status_within(lambda: world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", admin_token,
                                                   json={"stars": 5}), 401)
    assert (by_members, by_ideas) == (401, 401)
    assert time.monotonic() - demoted_at <= 2 * WITHIN_SECONDS
    refused = world.call("GET", "/api/v1/me", admin_token).json()["error"]
    assert "log in again" in refused["message"]

    fresh = world.log_in("admin@example.gov.au")
    assert world.call("GET", "/api/v1/me", fresh).json()["roles"] == ["member"]
    assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", fresh, json={"stars": 5}).status_code == 200


def test_a_token_from_before_a_password_reset_is_refused_everywhere(platform):
    world = start_world(platform)
    old = world.member("Rosa Nguyen")
    idea = world.submit(world.member("Sam Other"))
    assert world.call("POST", "/api/v1/password-resets", json={"email": "rosa.nguyen@example.gov.au"}).status_code == 202
    asked = platform.private_event("member.password_reset_requested")
    reset_token = asked["data"]["reset_url"].rsplit("/", 1)[-1]
    with platform.rpc() as rpc:
        rpc.members.reset_password({"token": reset_token, "password": "another long password"})

    assert world.call("GET", "/api/v1/me", old).status_code == 401
    by_ideas, _ = status_within(lambda: world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", old,
                                                   json={"stars": 3}), 401)
    assert by_ideas == 401
    new = requests.post(f"{world.url}/api/v1/tokens", json={"email": "rosa.nguyen@example.gov.au",
                                                            "password": "another long password"}, timeout=10)
    assert world.call("GET", "/api/v1/me", new.json()["token"]).status_code == 200


def test_a_session_cookie_from_before_log_out_is_refused_when_replayed(platform):
    world = start_world(platform)
    world.member("Rosa Nguyen")
    browser, csrf = logged_in(world.url, "rosa.nguyen@example.gov.au")
    copied = browser.cookies.get("engage_session")
    assert browser.get(f"{world.url}/me", allow_redirects=False, timeout=10).status_code == 200

    left = browser.post(f"{world.url}/logout", data={"csrf_token": csrf}, allow_redirects=False, timeout=10)
    assert left.status_code == 303

    replay = requests.Session()
    replay.cookies.set("engage_session", copied)
    page = replay.get(f"{world.url}/me", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")
    api = requests.get(f"{world.url}/api/v1/me", cookies={"engage_session": copied}, timeout=10)
    assert api.status_code == 401 and "log in again" in api.json()["error"]["message"]

    again, _ = logged_in(world.url, "rosa.nguyen@example.gov.au")
    assert again.get(f"{world.url}/me", allow_redirects=False, timeout=10).status_code == 200


def test_the_api_keys_page_makes_shows_once_and_revokes_a_key_with_the_csrf_token(platform):
    world = start_world(platform)
    world.member("Rosa Nguyen")
    browser, _ = logged_in(world.url, "rosa.nguyen@example.gov.au")
    page = browser.get(f"{world.url}/account/api-keys", timeout=10)
    assert page.status_code == 200 and "ratings:write" in page.text
    csrf = CSRF_INPUT.search(page.text).group(1)

    made = browser.post(f"{world.url}/account/api-keys", timeout=10,
                        data={"csrf_token": csrf, "name": "reporting", "scopes": ["ideas:read", "archive:read"]})
    assert made.status_code == 201, made.text
    key = made.text.split('id="new-api-key">', 1)[1].split("<", 1)[0]
    assert key.startswith("ek_") and world.call("GET", "/api/v1/ideas", key).status_code == 200
    listed = browser.get(f"{world.url}/account/api-keys", timeout=10).text
    assert "reporting" in listed and key not in listed

    key_id = platform.db("members").api_keys.find_one({"name": "reporting"})["key_id"]
    assert browser.post(f"{world.url}/account/api-keys/{key_id}/revocation", data={}, allow_redirects=False,
                        timeout=10).status_code == 403
    revoked = browser.post(f"{world.url}/account/api-keys/{key_id}/revocation", data={"csrf_token": csrf},
                           allow_redirects=False, timeout=10)
    assert revoked.status_code == 303
    status, _ = status_within(lambda: world.call("GET", "/api/v1/ideas", key), 401)
    assert status == 401
