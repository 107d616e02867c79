"""Scenario 13: failed log-ins per account and per address, and writes per member, end in 429 with Retry-After."""
from __future__ import annotations

import requests

from tests.chaos.conftest import report
from tests.integration.ideas_support import PASSWORD, start_world


def _log_in(url: str, email: str, password: str, address: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/tokens", json={"email": email, "password": password},
                         headers={"X-Forwarded-For": address}, timeout=10)


def test_failed_log_ins_are_limited_per_account_and_per_address(platform):
    platform.overrides["web"] = {"TRUSTED_PROXIES": 1}  # as behind one reverse proxy that sets X-Forwarded-For
    world = start_world(platform)
    world.member("Rosa Nguyen")
    url = world.url

    account = [_log_in(url, "rosa.nguyen@example.gov.au", "wrong password!", f"10.0.0.{n}") for n in range(11)]
    assert [a.status_code for a in account] == [401] * 10 + [429]
    assert int(account[-1].headers["Retry-After"]) > 0
    # the right password is refused too while the account is locked; a successful log-in is never counted
    assert _log_in(url, "rosa.nguyen@example.gov.au", PASSWORD, "10.0.1.1").status_code == 429

    world.member("Sam Lee")
    assert _log_in(url, "sam.lee@example.gov.au", PASSWORD, "10.9.9.9").status_code == 201
    address = [_log_in(url, f"nobody{n}@example.gov.au", "wrong password!", "10.9.9.9") for n in range(51)]
    assert [a.status_code for a in address] == [401] * 50 + [429]
    assert int(address[-1].headers["Retry-After"]) > 0
    assert _log_in(url, "sam.lee@example.gov.au", PASSWORD, "10.9.9.10").status_code == 201
    report("log-in limits", account_failures_before_429=10, address_failures_before_429=50,
           retry_after_s=[account[-1].headers["Retry-After"], address[-1].headers["Retry-After"]])


def test_writes_per_member_are_limited_with_retry_after(platform):
    platform.overrides["web"] = {"MEMBER_WRITE_LIMIT": "5 per minute"}
    world = start_world(platform)
    busy, other = world.member("Busy Writer"), world.member("Calm Writer")
    idea = world.submit(busy)  # the first write
    answers = [world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", busy, json={"body": f"Comment {n}"})
               for n in range(6)]
    statuses = [a.status_code for a in answers]
    assert statuses == [201] * 4 + [429] * 2
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].json()["error"]["code"] == "too_many_requests"
    # reads stay open, and another member's writes are not affected
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}", busy).status_code == 200
    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", other, json={"body": "Hello"}).status_code == 201
    stored = platform.db("ideas").comments.count_documents({"idea_id": idea["id"]})
    report("write limit", limit="5 per minute", writes_sent=7, accepted=1 + statuses.count(201),
           refused_429=statuses.count(429), retry_after_s=answers[-1].headers["Retry-After"], comments_stored=stored)
    assert stored == 5


def test_a_forged_forwarded_address_does_not_dodge_the_address_limit(platform):
    world = start_world(platform)  # no trusted proxy: the header is the caller's own claim
    world.member("Rosa Nguyen")
    answers = [_log_in(world.url, f"nobody{n}@example.gov.au", "wrong password!", f"10.7.0.{n}") for n in range(51)]
    assert [a.status_code for a in answers] == [401] * 50 + [429]
