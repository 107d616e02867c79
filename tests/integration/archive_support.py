"""Shared set-up for the archive's integration tests: an agency with an administrator and a member, via the gateway."""
from __future__ import annotations

from pathlib import Path

import requests

from tests.support.accounts import register_confirmed

PASSWORD = "a long enough password"
PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "archive"
ADMIN = "grace@health.example.gov.au"
MEMBER = "mei@health.example.gov.au"


class ArchiveClient:
    """The gateway's JSON API as the tests call it, with tokens for the administrator and a member."""

    def __init__(self, platform):
        self.platform = platform
        self.url = platform.url("web")
        with platform.rpc() as rpc:
            rpc.members.create_agency({"slug": "health", "name": "Department of Health"},
                                      {"email": ADMIN, "display_name": "Grace Okafor", "password": PASSWORD})
        register_confirmed(platform, {"email": MEMBER, "display_name": "Mei Chen", "password": PASSWORD,
                                      "agency": "health"})
        self.admin = self.token(ADMIN)
        self.member = self.token(MEMBER)

    def token(self, email: str) -> str:
        answer = requests.post(f"{self.url}/api/v1/tokens", json={"email": email, "password": PASSWORD}, timeout=10)
        answer.raise_for_status()
        return answer.json()["token"]

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=20, **kwargs)

    def import_page(self, text: str, token: str | None = None) -> requests.Response:
        return self.call("POST", "/api/v1/archive/imports", token or self.admin, data=text.encode("utf-8"),
                         headers={"Content-Type": "text/plain; charset=utf-8"})

    def publish(self, **fields) -> dict:
        body = {"kind": "tool", "title": "Workshop planning canvas", "summary": "A canvas for planning workshops.",
                "body": "Use it **before** the first meeting.", "licence": "CC-BY-4.0",
                "attribution": "Department of Health", "tags": ["workshops"], **fields}
        answer = self.call("POST", "/api/v1/archive/resources", self.admin, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()
