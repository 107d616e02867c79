"""The members journey through the gateway's JSON API, with the real broker and storage server."""
import time

import jwt
import pytest
import requests

from services.common.contract import spec_for
from tests.support.accounts import confirm_address
from tests.support.bus import Subscriber
from tests.support.platform import wait_for

PASSWORD = "a long enough password"


@pytest.fixture
def gateway(platform):
    platform.start("members", "web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
    return platform.url("web")


def register(gateway, email="rosa@example.gov.au", **changes):
    body = {"email": email, "display_name": "Rosa Nguyen", "password": PASSWORD, "agency": "dta", **changes}
    return requests.post(f"{gateway}/api/v1/members", json=body, timeout=10)


def registered(gateway, platform, email="rosa@example.gov.au", **changes):
    """Register and open the confirmation link, as a new member does before logging in."""
    created = register(gateway, email, **changes)
    assert created.status_code == 201, created.text
    confirm_address(platform, created.json()["id"])
    return created


def token(gateway, email="rosa@example.gov.au", password=PASSWORD):
    return requests.post(f"{gateway}/api/v1/tokens", json={"email": email, "password": password}, timeout=10)


def test_register_then_confirm_the_address_then_log_in_then_read_me(gateway, platform):
    created = register(gateway)
    assert created.status_code == 201
    assert "password" not in created.text and "hash" not in created.text
    unconfirmed = token(gateway)
    assert unconfirmed.status_code == 401 and unconfirmed.json()["error"]["code"] == "unverified"
    assert token(gateway, password="not the password").json()["error"]["code"] == "unauthorized"
    confirm_address(platform, created.json()["id"])
    issued = token(gateway)
    assert issued.status_code == 201
    me = requests.get(f"{gateway}/api/v1/me", headers={"Authorization": f"Bearer {issued.json()['token']}"}, timeout=10)
    assert me.status_code == 200
    assert me.json()["email"] == "rosa@example.gov.au"
    assert me.json()["agency"] == "dta" and me.json()["roles"] == ["member"]
    agencies = requests.get(f"{gateway}/api/v1/agencies", timeout=10).json()["items"]
    assert [a["slug"] for a in agencies] == ["dta"]


def test_member_registered_reaches_an_outside_subscriber_without_secrets(gateway, platform):
    subscriber = Subscriber(platform.amqp_uri, "members.events", "member.registered")
    register(gateway)
    envelope, properties = subscriber.next()
    subscriber.close()
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "au.gov.engage.member.registered.v1"
    assert envelope["source"].startswith("urn:engage:") and envelope["source"].endswith(":members")
    for attribute in ("id", "time", "subject", "datacontenttype"):
        assert envelope[attribute]
    assert spec_for("member.registered").schema().validate(envelope["data"]) == {}
    assert "@" not in str(envelope) and "argon2" not in str(envelope)
    assert set(envelope["data"]) == {"member_id", "display_name", "agency", "version"}


@pytest.mark.parametrize("changes, field", [
    ({"email": None}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"password": "short"}, "password"),
    ({"email": {"$ne": None}}, "email"),
    ({"display_name": 42}, "display_name"),
    ({"agency": ["dta"]}, "agency"),
    ({"display_name": "x" * 201}, "display_name"),
])
def test_bad_registrations_are_refused_naming_the_field_and_store_nothing(gateway, platform, changes, field):
    answer = register(gateway, **changes)
    assert answer.status_code == 422
    assert field in answer.json()["error"]["fields"]
    assert platform.db("members").members.count_documents({}) == 0


def test_a_missing_field_is_named(gateway):
    answer = requests.post(f"{gateway}/api/v1/members", json={"display_name": "No Email", "password": PASSWORD,
                                                              "agency": "dta"}, timeout=10)
    assert answer.status_code == 422 and "email" in answer.json()["error"]["fields"]


def test_a_body_that_is_not_json_is_a_400_and_an_oversized_one_a_413(gateway, platform):
    not_json = requests.post(f"{gateway}/api/v1/members", data="{email: nope", timeout=10)
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "bad_request"
    huge = requests.post(f"{gateway}/api/v1/members", data=b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}',
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert huge.status_code == 413
    assert platform.db("members").members.count_documents({}) == 0


def test_a_duplicate_email_is_a_conflict_and_adds_nobody(gateway, platform):
    assert register(gateway).status_code == 201
    again = register(gateway, email="ROSA@example.gov.au ")
    assert again.status_code == 409 and "email" in again.json()["error"]["fields"]
    assert platform.db("members").members.count_documents({}) == 1
    assert platform.db("members").outbox.count_documents({"type": "member.registered"}) == 1


def test_tokens_that_are_bad_expired_or_for_another_audience_are_refused(gateway, platform):
    registered(gateway, platform)
    good = token(gateway).json()["token"]
    key = platform.db("members").signing_keys.find_one({})
    claims = jwt.decode(good, options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, key["pem"], algorithm="RS256",
                         headers={"kid": key["kid"]})
    other_audience = jwt.encode({**claims, "aud": "someone-else"}, key["pem"], algorithm="RS256",
                                headers={"kid": key["kid"]})
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    for bad in (good[:-4] + "AAAA", expired, other_audience, unsigned, "garbage"):
        answer = requests.get(f"{gateway}/api/v1/me", headers={"Authorization": f"Bearer {bad}"}, timeout=10)
        assert answer.status_code == 401, bad
        assert answer.json()["error"]["code"] == "unauthorized"


def test_wrong_passwords_are_limited_per_account(gateway, platform):
    registered(gateway, platform)
    for _ in range(10):
        assert token(gateway, password="wrong password!").status_code == 401
    blocked = token(gateway)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_networks_can_be_created_joined_and_left(gateway, platform):
    registered(gateway, platform)
    registered(gateway, platform, email="tariq@example.gov.au", display_name="Tariq Haddad")
    rosa = {"Authorization": f"Bearer {token(gateway).json()['token']}"}
    tariq = {"Authorization": f"Bearer {token(gateway, 'tariq@example.gov.au').json()['token']}"}
    created = requests.post(f"{gateway}/api/v1/networks", json={"name": "Engagement practitioners"}, headers=rosa,
                            timeout=10)
    assert created.status_code == 201 and created.json()["member_count"] == 1
    joined = requests.post(f"{gateway}/api/v1/networks/engagement-practitioners/membership", headers=tariq, timeout=10)
    assert joined.json()["member_count"] == 2
    again = requests.post(f"{gateway}/api/v1/networks/engagement-practitioners/membership", headers=tariq, timeout=10)
    assert again.json()["member_count"] == 2
    me = requests.get(f"{gateway}/api/v1/me", headers=tariq, timeout=10).json()
    assert [n["slug"] for n in me["networks"]] == ["engagement-practitioners"]
    left = requests.delete(f"{gateway}/api/v1/networks/engagement-practitioners/membership", headers=tariq, timeout=10)
    assert left.json()["member_count"] == 1
    types = [row["type"] for row in platform.db("members").outbox.find({}).sort("_id", 1)]
    assert types.count("member.joined_network") == 2 and types.count("member.left_network") == 1


def test_metrics_count_calls_and_events_by_outcome(gateway, platform):
    registered(gateway, platform)
    register(gateway)  # a conflict: the call said no, counted as a refusal (not an error)
    wait_for(lambda: platform.db("members").outbox.count_documents({"state": "sent"}) >= 2)
    text = requests.get(f"{platform.url('members')}/metrics", timeout=10).text
    assert 'engage_members_entrypoint_calls_total{entrypoint="register",outcome="success"} 1.0' in text
    assert 'engage_members_entrypoint_calls_total{entrypoint="register",outcome="refused"} 1.0' in text
    assert 'engage_members_entrypoint_calls_total{entrypoint="register",outcome="error"} 0.0' in text
    assert 'engage_members_events_published_total{type="member.registered"} 1.0' in text
    assert "engage_members_outbox_backlog 0.0" in text
    assert "engage_members_members 1.0" in text


def test_an_operator_is_made_from_the_command_line_and_the_change_is_published(gateway, platform, monkeypatch):
    from services import cli

    registered(gateway, platform)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("MEMBERS_DATABASE", platform.database_name("members"))
    assert cli.main(["operator", "grant", "rosa@example.gov.au"]) == 0
    me = requests.get(f"{gateway}/api/v1/me", headers={"Authorization": f"Bearer {token(gateway).json()['token']}"},
                      timeout=10).json()
    assert me["roles"] == ["member", "operator"]
    assert wait_for(lambda: platform.db("members").outbox.find_one({"type": "member.role_changed", "state": "sent"}))
    assert cli.main(["operator", "grant", "nobody@example.gov.au"]) == 1
