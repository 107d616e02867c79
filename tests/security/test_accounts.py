"""Accounts: agencies' email domains, confirmed addresses, invitations, and the audit log of who changed what."""
from __future__ import annotations

import requests

from tests.integration.ideas_support import PASSWORD
from tests.support.accounts import confirm_address, invite_code, verification_link
from tools import demo


def _post(url: str, path: str, body: dict, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}{path}", json=body, headers=headers, timeout=10)


def _token(url: str, email: str) -> str:
    answer = _post(url, "/api/v1/tokens", {"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def _start(platform, **members_settings) -> str:
    platform.start("members", **members_settings)
    platform.start("web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency",
                                   "email_domains": ["dta.example.gov.au"]},
                                  {"email": "ada@dta.example.gov.au", "display_name": "Ada Admin", "password": PASSWORD})
    return platform.url("web")


def _person(email: str, agency: str = "dta", **extra) -> dict:
    return {"email": email, "display_name": email.split("@")[0].title(), "password": PASSWORD, "agency": agency,
            **extra}


def test_the_demonstration_agencies_accept_addresses_at_their_own_example_domain(platform):
    platform.start("members", "web")
    with platform.rpc() as rpc:
        demo.create_demo_agencies(rpc, set(), say=lambda _line: None)
    url = platform.url("web")
    for slug, _name, _admin in demo.AGENCIES:
        assert _post(url, "/api/v1/members", _person(f"new.person@{slug}.example.gov.au", slug)).status_code == 201
    outsider = _post(url, "/api/v1/members", _person("someone@mail.example.com", "dta"))
    assert outsider.status_code == 403 and "email" in outsider.json()["error"]["fields"]


def test_a_new_account_logs_in_only_after_opening_the_link_and_the_link_works_once(platform):
    url = _start(platform)
    created = _post(url, "/api/v1/members", _person("rosa@dta.example.gov.au"))
    assert created.status_code == 201
    refused = _post(url, "/api/v1/tokens", {"email": "rosa@dta.example.gov.au", "password": PASSWORD})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unverified"
    link = verification_link(platform, created.json()["id"])
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 303
    assert _token(url, "rosa@dta.example.gov.au")
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 404


def test_an_address_already_registered_is_a_409_and_registrations_are_limited_per_caller(platform):
    url = _start(platform, REGISTRATION_LIMIT="3 per hour")
    assert _post(url, "/api/v1/members", _person("rosa@dta.example.gov.au")).status_code == 201
    assert _post(url, "/api/v1/members", _person("Rosa@dta.example.gov.au")).status_code == 409
    assert _post(url, "/api/v1/members", _person("tariq@dta.example.gov.au")).status_code == 201
    limited = _post(url, "/api/v1/members", _person("mei@dta.example.gov.au"))
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert platform.db("members").members.count_documents({"email": "mei@dta.example.gov.au"}) == 0


def test_an_agency_admin_invites_an_outside_address_that_may_then_register_once(platform):
    url = _start(platform)
    admin = _token(url, "ada@dta.example.gov.au")
    outsider = _person("consultant@mail.example.com")
    assert _post(url, "/api/v1/members", outsider).status_code == 403  # outside the agency's domains
    invited = _post(url, "/api/v1/invites", {"email": "Consultant@mail.example.com"}, admin)
    assert invited.status_code == 201, invited.text
    code = invite_code(invited.json()["invite_url"])
    assert _post(url, "/api/v1/members", {**outsider, "email": "other@mail.example.com", "invite": code}).status_code == 404
    assert _post(url, "/api/v1/members", {**outsider, "invite": code}).status_code == 201
    assert _token(url, "consultant@mail.example.com")  # the invitation reached the address: no link to open
    again = _post(url, "/api/v1/members", {**_person("second@mail.example.com"), "invite": code})
    assert again.status_code == 404


def test_only_agency_admins_invite(platform):
    url = _start(platform)
    created = _post(url, "/api/v1/members", _person("rosa@dta.example.gov.au"))
    confirm_address(platform, created.json()["id"])
    member = _token(url, "rosa@dta.example.gov.au")
    assert _post(url, "/api/v1/invites", {"email": "friend@mail.example.com"}, member).status_code == 403
    assert platform.db("members").invites.count_documents({}) == 0


def test_the_audit_log_records_role_changes_keys_invites_and_operator_actions_for_each_agencys_admins(platform):
    url = _start(platform)
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "ato", "name": "Australian Taxation Office"},
                                  {"email": "otto@ato.example.gov.au", "display_name": "Otto Admin",
                                   "password": PASSWORD})
    admin = _token(url, "ada@dta.example.gov.au")
    created = _post(url, "/api/v1/members", _person("rosa@dta.example.gov.au"))
    confirm_address(platform, created.json()["id"])
    rosa_id = created.json()["id"]
    assert requests.put(f"{url}/api/v1/members/{rosa_id}/roles", json={"roles": ["moderator"]}, timeout=10,
                        headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    key = _post(url, "/api/v1/api-keys", {"name": "Reports", "scopes": ["ideas:read"]}, admin)
    assert key.status_code == 201
    assert requests.delete(f"{url}/api/v1/api-keys/{key.json()['id']}", timeout=10,
                           headers={"Authorization": f"Bearer {admin}"}).status_code == 204
    assert _post(url, "/api/v1/invites", {"email": "friend@mail.example.com"}, admin).status_code == 201

    def log(token: str) -> requests.Response:
        return requests.get(f"{url}/api/v1/audit-log", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    entries = log(admin).json()["items"]
    actions = {entry["action"] for entry in entries}
    assert {"agency.created", "member.roles_changed", "api_key.created", "api_key.revoked", "member.invited"} <= actions
    change = next(entry for entry in entries if entry["action"] == "member.roles_changed")
    assert change["target"] == rosa_id and change["to"] == ["member", "moderator"] and change["agency"] == "dta"
    assert {entry["agency"] for entry in log(_token(url, "otto@ato.example.gov.au")).json()["items"]} == {"ato"}
    assert log(_token(url, "rosa@dta.example.gov.au")).status_code == 403
