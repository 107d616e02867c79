"""New accounts in tests: confirmed through the real link members mailed, as a person would.

Registration leaves an account unverified until the link in
``member.verification_requested`` is opened. Tests that need a member who can
log in open that link (read from ``members.private``, the private route notify
reads it from) instead of switching verification off.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import requests


def verification_link(platform, member_id: str) -> str:
    return platform.private_event("member.verification_requested", member_id)["data"]["verify_url"]


def confirm_address(platform, member_id: str) -> None:
    """Open the member's verification link: through the gateway when it runs, else by RPC with the link's token."""
    link = verification_link(platform, member_id)
    if "web" in platform.containers:
        answer = requests.get(link, allow_redirects=False, timeout=10)
        assert answer.status_code == 303, answer.text
        return
    with platform.rpc() as rpc:
        rpc.members.verify_email({"token": urlsplit(link).path.rsplit("/", 1)[-1]})


def invite_code(invite_url: str) -> str:
    """The code in an invitation link (``/register?invite=…``)."""
    from urllib.parse import parse_qs

    return parse_qs(urlsplit(invite_url).query)["invite"][0]


def register_confirmed(platform, body: dict) -> dict:
    """Register through the gateway's API and open the confirmation link: a member who can log in."""
    created = requests.post(f"{platform.url('web')}/api/v1/members", json=body, timeout=10)
    assert created.status_code == 201, created.text
    confirm_address(platform, created.json()["id"])
    return created.json()
