"""Scenario 11: bad tokens are refused with 401 everywhere, and roles stop members where they must."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from services.common.tokens import ALGORITHM, AUDIENCE, ISSUER, issue, new_signing_key
from tests.chaos.conftest import report
from tests.integration.ideas_support import PASSWORD, start_world


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


@pytest.fixture
def world(platform):
    world = start_world(platform)
    platform.start("notify")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "ato", "name": "Australian Taxation Office"},
                                  {"email": "ato-admin@example.gov.au", "display_name": "Otto Admin",
                                   "password": PASSWORD})
    world.tokens["Otto Admin"] = world.log_in("ato-admin@example.gov.au")
    return world


def test_forged_expired_foreign_unsigned_and_deactivated_tokens_get_401(world, platform):
    good = world.member("Rosa Nguyen")
    claims = jwt.decode(good, options={"verify_signature": False})
    header = jwt.get_unverified_header(good)
    stored_key = platform.db("members").signing_keys.find_one({"kid": header["kid"]}) or {}
    assert stored_key.get("pem"), "the members service keeps its signing key in its own storage"
    subject = {key: claims[key] for key in ("sub", "agency", "name", "roles")}

    forged_key = {**new_signing_key(), "kid": header["kid"]}  # same key id, a key nobody published
    forged, _ = issue(forged_key, subject, 3600)
    expired = jwt.encode({**subject, "aud": AUDIENCE, "iss": ISSUER, "iat": int(time.time()) - 7200,
                          "exp": int(time.time()) - 3600}, stored_key["pem"], algorithm=ALGORITHM,
                         headers={"kid": header["kid"]})
    other_audience = jwt.encode({**subject, "aud": "another-system", "iss": ISSUER, "exp": int(time.time()) + 3600},
                                stored_key["pem"], algorithm=ALGORITHM, headers={"kid": header["kid"]})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{_b64({**claims, 'roles': ['operator']})}."
    tampered = good.rsplit(".", 2)
    tampered = f"{tampered[0]}.{_b64({**claims, 'roles': ['operator']})}.{tampered[2]}"
    bad = {"forged": forged, "expired": expired, "other audience": other_audience, "alg none": unsigned,
           "tampered claims": tampered, "garbage": "not-a-token"}

    idea = world.submit(good)
    calls = [("GET", "/api/v1/me", None), ("POST", "/api/v1/ideas", {"title": "x"}),
             ("PUT", f"/api/v1/ideas/{idea['id']}/rating", {"stars": 5}), ("GET", "/api/v1/notifications", None)]
    statuses = {}
    for name, token in bad.items():
        for method, path, body in calls:
            answer = world.call(method, path, token, json=body)
            statuses[(name, path)] = answer.status_code
            assert answer.status_code == 401, (name, method, path, answer.status_code, answer.text)
    for method, path, body in calls[:1]:
        assert world.call(method, path, good, json=body).status_code == 200

    # A member deactivated keeps a token that is still within its lifetime: refused by every service.
    victim = world.member("Dora Gone")
    assert world.call("POST", f"/api/v1/members/{world.ids['Dora Gone']}/deactivation", victim).status_code == 200
    refused = {}
    deadline = time.monotonic() + 15
    for method, path, body in [("GET", "/api/v1/me", None),
                               ("PUT", f"/api/v1/ideas/{idea['id']}/rating", {"stars": 4})]:
        while True:  # other services learn it from member.deactivated, a moment later
            refused[path] = world.call(method, path, victim, json=body).status_code
            if refused[path] == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    report("tokens", bad_tokens=len(bad), calls_refused_401=sum(1 for s in statuses.values() if s == 401),
           calls_made=len(statuses), deactivated_token_refused=refused)
    assert set(refused.values()) == {401}


def test_a_member_cannot_moderate_and_an_agency_admin_cannot_act_on_another_agency(world, platform):
    author, reporter = world.member("Rosa Nguyen"), world.member("Sam Reporter")
    idea = world.submit(author)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", author, json={"body": "First!"}).json()
    world.call("POST", f"/api/v1/comments/{comment['id']}/reports", reporter, json={"reason": "spam"})
    moderation = {
        "decide on a report": ("POST", f"/api/v1/comments/{comment['id']}/moderation", {"decision": "remove"}),
        "read the moderation queue": ("GET", "/api/v1/moderation/queue", None),
        "put an idea under review": ("POST", f"/api/v1/ideas/{idea['id']}/state", {"state": "under_review"}),
    }
    answers = {name: world.call(m, p, reporter, json=b).status_code for name, (m, p, b) in moderation.items()}

    dta_member = world.ids["Sam Reporter"]
    other_admin = world.tokens["Otto Admin"]
    cross = {
        "change a DTA member's roles": world.call("PUT", f"/api/v1/members/{dta_member}/roles", other_admin,
                                                 json={"roles": ["member", "moderator"]}).status_code,
        "deactivate a DTA member": world.call("POST", f"/api/v1/members/{dta_member}/deactivation",
                                              other_admin).status_code,
    }
    with platform.rpc(other_admin) as rpc:
        try:
            rpc.members.agency_members("dta")
            cross["list DTA's members over RPC"] = 200
        except Exception as error:  # the RPC error class carries the status
            cross["list DTA's members over RPC"] = getattr(error, "status", 500)
    report("roles", member_moderating=answers, admin_of_other_agency=cross)
    assert set(answers.values()) == {403}, answers
    assert set(cross.values()) == {403}, cross
    assert platform.db("members").members.find_one({"_id": dta_member})["status"] == "active"
