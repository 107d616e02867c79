"""Hostile traffic: every operation of the public API, fuzzed with every kind of caller, answers without a 5xx.

The whole platform runs (members, ideas, notify, archive, web). schemathesis
reads the gateway's own OpenAPI description and draws a fixed number of
examples per operation (valid bodies and broken ones); each is sent as a
member, an agency administrator, an API key, and with every broken
credential — none, garbage, an unknown ``ek_`` key, a revoked key, an expired
and a forged token, a forged session cookie. Then odd headers and bodies go
to the write operations: chunked, lone surrogates, deep nesting, over 1 MB.
No answer may be a 5xx (no fault is injected here), and every service must
still be ready at the end. The number of requests sent is printed.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from collections import Counter

import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from itsdangerous import URLSafeTimedSerializer
from schemathesis.generation import GenerationMode

from services.common.tokens import ALGORITHM, AUDIENCE, ISSUER
from tests.integration.ideas_support import PASSWORD, IdeasWorld

# A fault scenario of a minute or more: `make chaos` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.chaos_long

EXAMPLES_PER_OPERATION = {"member": 4, "agency admin": 3, "api key": 2}
EXAMPLES_PER_BROKEN_CREDENTIAL = 1
SERVICES = ("members", "ideas", "notify", "archive", "web")


class Traffic:
    """Sends requests and keeps what came back: a count per status, and every 5xx with what caused it."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.statuses: Counter = Counter()
        self.server_errors: list[str] = []

    def record(self, label: str, response: requests.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{label} -> {response.status_code} {response.text[:300]}")

    def send_case(self, label: str, case, headers: dict, cookies: dict) -> None:
        kwargs = case.as_transport_kwargs(base_url=self.base_url, headers=headers)
        kwargs["cookies"] = {**kwargs.get("cookies", {}), **cookies}
        try:
            response = self.session.request(**kwargs, timeout=30, allow_redirects=False)
        except requests.RequestException as exc:  # a reset or a hang is as bad as a 500
            self.statuses["no answer"] += 1
            self.server_errors.append(f"{label} -> no answer ({exc.__class__.__name__})")
            return
        self.record(f"{label} {case.method} {case.formatted_path}", response)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())


def _forged_token(**claims) -> str:
    payload = {"sub": "someone", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 600, **claims}
    return jwt.encode(payload, "a-key-only-the-attacker-knows-and-long-enough", algorithm="HS256")


@pytest.fixture
def hostile_world(platform):
    # Writes past the per-member limit would all be 429s and reach nothing behind the gateway.
    platform.overrides["web"] = {"MEMBER_WRITE_LIMIT": "100000 per minute"}
    platform.start("members", "ideas", "notify", "archive", "web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                  {"email": "admin@example.gov.au", "display_name": "Ada Admin", "password": PASSWORD})
    world = IdeasWorld(platform)
    world.tokens["Ada Admin"] = world.log_in("admin@example.gov.au")
    member = world.member("Rosa Nguyen")
    world.submit(member)
    keys = {}
    with platform.rpc(member) as rpc:
        for name in ("fuzzing", "revoked"):
            keys[name] = rpc.members.create_api_key({"name": name, "scopes": ["archive:read"]})["key"]
    platform.db("members").api_keys.update_many({"name": "revoked"}, {"$set": {"revoked": True}})
    return world, keys


def credentials(world: IdeasWorld, keys: dict) -> dict[str, tuple[dict, dict]]:
    """(headers, cookies) for each kind of caller, valid first."""
    bearer = lambda value: {"Authorization": f"Bearer {value}"}  # noqa: E731
    expired = jwt.encode({"sub": "x", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) - 60},
                         "irrelevant-because-expired-and-forged-anyway", algorithm="HS256")
    forged_cookie = URLSafeTimedSerializer("not-the-gateway-secret", salt="engage-session").dumps(
        {"token": world.tokens["Ada Admin"], "csrf": "x"})
    return {
        "member": (bearer(world.tokens["Rosa Nguyen"]), {}),
        "agency admin": (bearer(world.tokens["Ada Admin"]), {}),
        "api key": (bearer(keys["fuzzing"]), {}),
        "no credential": ({}, {}),
        "garbage": (bearer("garbage!*" * 5), {}),
        "unknown ek_ key": (bearer("ek_" + uuid.uuid4().hex), {}),
        "revoked key": (bearer(keys["revoked"]), {}),
        "expired token": (bearer(expired), {}),
        "forged token": (bearer(_forged_token(roles=["operator"])), {}),
        "alg none": (bearer(jwt.encode({"sub": "x", "aud": AUDIENCE}, None, algorithm="none")), {}),
        "wrong scheme": ({"Authorization": "Basic " + "a" * 20}, {}),
        "forged session cookie": ({}, {"engage_session": forged_cookie}),
        "garbage session cookie": ({}, {"engage_session": "\x7f" * 30 + "." * 5}),
    }


def drawn_cases(operation, mode: GenerationMode, count: int) -> list:
    """``count`` examples of one operation's requests, the same ones on every run."""
    cases: list = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def draw(case):
        cases.append(case)

    try:
        draw()
    except Exception as exc:  # a schema the generator cannot satisfy is not the platform's failure
        if "unsatisfiable" not in f"{type(exc).__name__} {exc}".lower():
            raise
    return cases


def fuzz_operations(traffic: Traffic, schema, callers: dict) -> None:
    """Valid callers send every drawn example; each broken credential sends one valid and one broken example."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the OpenAPI description lists fewer operations than the API has"
    # Log-out ends the valid callers' tokens, so it goes last and every other operation sees them valid.
    operations.sort(key=lambda operation: operation.path.endswith("/logout"))
    most = max(EXAMPLES_PER_OPERATION.values())
    for operation in operations:
        examples = {mode: drawn_cases(operation, mode, most)
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)}
        for caller, (headers, cookies) in callers.items():
            count = EXAMPLES_PER_OPERATION.get(caller, EXAMPLES_PER_BROKEN_CREDENTIAL)
            for mode, cases in examples.items():
                for case in cases[:count]:
                    traffic.send_case(f"[{caller}, {mode.value}]", case, headers, cookies)


def raw_request(port: int, head: str, body: bytes = b"") -> int:
    """Send bytes exactly as written (requests would tidy them); the status code, or 0 for no answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    return int(line.split()[1]) if line.startswith("HTTP/") else 0


def chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


def odd_inputs(traffic: Traffic, world: IdeasWorld, platform) -> None:
    token = world.tokens["Rosa Nguyen"]
    idea_id = world.call("GET", "/api/v1/ideas", token).json()["items"][0]["id"]
    port = platform.ports["web"]
    auth = f"Authorization: Bearer {token}"
    writes = [("POST", "/api/v1/ideas"), ("POST", f"/api/v1/ideas/{idea_id}/comments"),
              ("PUT", f"/api/v1/ideas/{idea_id}/rating"), ("POST", "/api/v1/webhooks"), ("POST", "/api/v1/tokens")]
    huge = json.dumps({"body": "x" * (1024 * 1024 + 10)}).encode()
    deep = b"[" * 10_000 + b"]" * 10_000
    surrogate = b'{"title": "\\ud800", "body": "\\udfff", "description": "\\ud800\\ud800", "stars": 3}'
    bodies = {
        "lone surrogates": surrogate,
        "deep nesting": deep,
        "not utf-8": b'{"body": "\xff\xfe"}',
        "nul bytes": b'{"body": "a\\u0000b", "title": "\\u0000"}',
        "duplicate keys": b'{"stars": 1, "stars": 5}',
        "huge number": b'{"stars": 1e400, "parent_id": 123456789012345678901234567890}',
        "nan": b'{"stars": NaN}',
        "empty": b"",
        "array": b"[1, 2, 3]",
    }
    for method, path in writes:
        for name, body in bodies.items():
            status = raw_request(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json"
                                       f"\r\nContent-Length: {len(body)}\r\nConnection: close", body)
            traffic.statuses[status or "no answer"] += 1
            if not 400 <= status < 500:
                traffic.server_errors.append(f"{name} to {method} {path} -> {status or 'no answer'}")
        for name, head, body in (
            ("chunked, over 1 MB", "Transfer-Encoding: chunked\r\nContent-Type: application/json", chunked(huge)),
            ("chunked, lone surrogate", "Transfer-Encoding: chunked\r\nContent-Type: application/json", chunked(surrogate)),
            ("Content-Length over 1 MB", f"Content-Type: application/json\r\nContent-Length: {len(huge)}", huge),
            ("Content-Length that lies", "Content-Type: application/json\r\nContent-Length: 99999999", b"{}"),
            ("Content-Length not a number", "Content-Type: application/json\r\nContent-Length: many", b"{}"),
            ("odd content type", "Content-Type: text/html; charset=klingon\r\nContent-Length: 2", b"{}"),
        ):
            status = raw_request(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n{head}\r\nConnection: close",
                                 body)
            traffic.statuses[status or "no answer"] += 1
            if status >= 500:  # the server may close a connection whose length lies; it must not fail
                traffic.server_errors.append(f"{name} to {method} {path} -> {status}")
    for name, header in (("header with a NUL", "X-Thing: a\x00b"), ("very long header", "X-Thing: " + "a" * 60_000),
                         ("odd forwarded-for", "X-Forwarded-For: ::::, 999.1.1.1, <script>"),
                         ("latin-1 bearer", "Authorization: Bearer \xe9\xe8\xff"),
                         ("odd accept-language", "Accept-Language: " + "zz-ZZ;q=2," * 200),
                         ("cookie soup", "Cookie: engage_session=; engage_session=\x7f; =; ;;")):
        for path in ("/", "/ideas", "/api/v1/me", f"/ideas/{idea_id}"):
            status = raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{header}\r\nConnection: close")
            traffic.statuses[status or "no answer"] += 1
            if status >= 500 or status == 0:
                traffic.server_errors.append(f"{name} on GET {path} -> {status or 'no answer'}")


def test_hostile_traffic_gets_no_5xx_and_every_service_stays_ready(platform, hostile_world):
    world, keys = hostile_world
    started = time.monotonic()
    traffic = Traffic(world.url)
    schema = schemathesis.openapi.from_url(f"{world.url}/api/v1/openapi.json")
    fuzz_operations(traffic, schema, credentials(world, keys))
    world.tokens["Rosa Nguyen"] = world.log_in("rosa.nguyen@example.gov.au")  # fuzzing logged her out
    odd_inputs(traffic, world, platform)

    print(f"\nhostile traffic: {traffic.sent} requests in {time.monotonic() - started:.0f} s; "
          f"statuses {dict(sorted(traffic.statuses.items(), key=str))}")
    for name in SERVICES:
        assert requests.get(f"{platform.url(name)}/ready", timeout=10).status_code == 200, f"{name} is not ready"
    assert traffic.server_errors == []
