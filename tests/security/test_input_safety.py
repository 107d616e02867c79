"""Scenario 10: injection and type confusion on HTTP and RPC inputs, and a time-boxed fuzz of the JSON API.

Every odd input must end in a 4xx naming the field (never a 5xx), and no
command that reached the storage server may carry an operator the caller
wrote: a pymongo command listener sees every filter and update sent.
"""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from pymongo import monitoring

from tests.chaos.conftest import report
from tests.integration.ideas_support import start_world

MARK = "INJECTED-" + uuid.uuid4().hex[:6]
ATTACKS = {
    "operator object": {"$ne": MARK},
    "regex operator": {"$regex": ".*", "$options": MARK},
    "where clause": {"$where": f"'{MARK}' && sleep(1000)"},
    "array for a string": [MARK, {"$gt": ""}],
    "number for a string": 12345,
    "boolean": True,
    "null": None,
    "huge string": MARK + "x" * 300_000,
    "deep nesting": json.loads("[" * 40 + json.dumps(MARK) + "]" * 40),
    "unicode tricks": MARK + "\u202e\u0000\ud7ff\ufeff\u200b𝕏",
    "dotted key": {f"a.{MARK}": 1, "$set": {"roles": ["operator"]}},
}


class CommandRecorder(monitoring.CommandListener):
    """Keeps every command sent to storage that mentions the marker, to look for operators in it."""

    def __init__(self):
        self.suspicious: list[dict] = []

    def started(self, event):
        if MARK not in str(event.command):
            return  # text the caller wrote may be stored (a title, a comment); only its shape matters
        for operator, value in _operator_paths(event.command):
            if operator in INJECTED_OPERATORS and MARK in value:
                self.suspicious.append({"command": event.command_name, "operator": operator})
        if any(MARK in key for key in _keys(event.command)):
            self.suspicious.append({"command": event.command_name, "operator": "a field name the caller chose"})

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


INJECTED_OPERATORS = {"$ne", "$regex", "$options", "$where", "$gt"}


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _operator_paths(value, path=""):
    """(operator key, its value as text) for every ``$`` key in a command below its top level."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("$") and key not in ("$db", "$clusterTime", "$readPreference"):
                yield key, str(item)
            yield from _operator_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _operator_paths(item, path)


RECORDER = CommandRecorder()
monitoring.register(RECORDER)  # before any client of the test's services is created


def json_inputs(world, token, idea, comment) -> list[tuple[str, str, str, dict]]:
    """(method, path, field, valid body) for the JSON API's writes; each field gets every attack."""
    return [
        ("POST", "/api/v1/members", "email", {"email": "a@example.gov.au", "display_name": "A", "password": "x" * 12,
                                             "agency": "dta"}),
        ("POST", "/api/v1/members", "agency", {"email": "b@example.gov.au", "display_name": "B", "password": "x" * 12,
                                              "agency": "dta"}),
        ("POST", "/api/v1/tokens", "email", {"email": "rosa.nguyen@example.gov.au", "password": "x" * 12}),
        ("POST", "/api/v1/tokens", "password", {"email": "rosa.nguyen@example.gov.au", "password": "x" * 12}),
        ("POST", "/api/v1/ideas", "title", {"title": "T", "description": "D"}),
        ("POST", "/api/v1/ideas", "tags", {"title": "T", "description": "D", "tags": ["a"]}),
        ("PATCH", f"/api/v1/ideas/{idea}", "title", {"title": "T"}),
        ("PUT", f"/api/v1/ideas/{idea}/rating", "stars", {"stars": 3}),
        ("POST", f"/api/v1/ideas/{idea}/comments", "body", {"body": "B"}),
        ("POST", f"/api/v1/ideas/{idea}/comments", "parent_id", {"body": "B", "parent_id": comment}),
        ("PATCH", f"/api/v1/comments/{comment}", "body", {"body": "B"}),
        ("POST", "/api/v1/networks", "name", {"name": "N", "description": "D"}),
        ("POST", "/api/v1/webhooks", "url", {"url": "https://example.org/hook", "event_types": ["idea.rated"]}),
        ("POST", "/api/v1/webhooks", "event_types", {"url": "https://example.org/hook", "event_types": ["idea.rated"]}),
        ("PUT", "/api/v1/notification-preferences", "email", {"email": "daily"}),
        ("POST", "/api/v1/password-resets", "email", {"email": "rosa.nguyen@example.gov.au"}),
        ("POST", "/api/v1/archive/resources", "title", {"title": "T", "kind": "tool", "body": "B"}),
    ]


def test_operators_wrong_types_and_oddities_get_4xx_naming_the_field_and_reach_no_filter(platform):
    world = start_world(platform)
    platform.start("notify", "archive")
    token = world.member("Rosa Nguyen")
    idea = world.submit(token)["id"]
    comment = world.call("POST", f"/api/v1/ideas/{idea}/comments", token, json={"body": "First"}).json()["id"]
    answers, server_errors, unnamed = 0, [], []
    for method, path, field, valid in json_inputs(world, token, idea, comment):
        for attack, value in ATTACKS.items():
            response = world.call(method, path, token, json={**valid, field: value})
            answers += 1
            if response.status_code >= 500:
                server_errors.append((method, path, field, attack, response.status_code))
            elif response.status_code == 422 and attack not in ("huge string", "unicode tricks"):
                fields = response.json()["error"]["fields"]
                if not any(name == field or name.startswith(field + ".") or name == "_schema" for name in fields):
                    unnamed.append((path, field, attack, fields))
    # operators and odd values in path segments and query strings
    for path in (f"/api/v1/ideas/{{\"$ne\":\"{MARK}\"}}", f"/api/v1/members/$where:{MARK}",
                 f"/api/v1/ideas?state[$ne]={MARK}", f"/api/v1/ideas?limit={MARK}", f"/api/v1/ideas?cursor={MARK}",
                 f"/api/v1/ideas/search?q[$regex]={MARK}", f"/api/v1/archive/search?q=%00{MARK}%ff",
                 f"/api/v1/networks/{MARK}$gt"):
        response = world.call("GET", path, token)
        answers += 1
        if response.status_code >= 500:
            server_errors.append(("GET", path, response.status_code))
    # RPC inputs: the same attacks straight at the services, past the gateway
    rpc_failures = []
    with platform.rpc(token) as rpc:
        calls = [lambda v: rpc.members.get_member(v), lambda v: rpc.members.get_network(v),
                 lambda v: rpc.ideas.get_idea(v), lambda v: rpc.members.log_in({"email": v, "password": v}),
                 lambda v: rpc.ideas.rate(idea, {"stars": v}), lambda v: rpc.members.join_network(v)]
        for call in calls:
            for attack, value in ATTACKS.items():
                if attack == "huge string":
                    continue
                answers += 1
                try:
                    call(value)
                except Exception as error:  # domain errors come back as their own classes
                    status = getattr(error, "status", None)
                    if status is None or status >= 500:
                        rpc_failures.append((attack, type(error).__name__, str(error)[:120]))
    report("injection", inputs_tried=answers, server_errors=len(server_errors) + len(rpc_failures),
           unnamed_fields=len(unnamed), operators_reaching_storage=len(RECORDER.suspicious))
    assert not RECORDER.suspicious, RECORDER.suspicious
    assert not server_errors, server_errors
    assert not rpc_failures, rpc_failures
    assert not unnamed, unnamed
    assert not RECORDER.suspicious, RECORDER.suspicious


FUZZ_SECONDS = 45
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
    | st.sampled_from(["$ne", "$where", "{\"$gt\": \"\"}", "\u0000", "../../etc/passwd"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _routes_from_openapi(url: str) -> list[tuple[str, str]]:
    """(method, path) of every JSON operation in /api/v1/openapi.json, with path parameters made up."""
    try:
        document = requests.get(f"{url}/api/v1/openapi.json", timeout=10).json()
    except (requests.RequestException, ValueError):
        return []
    routes = []
    for path, operations in document.get("paths", {}).items():
        for method in operations:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "fuzz-id", path)))
    return routes


def test_fuzzing_the_json_api_never_gets_a_server_error(platform):
    platform.overrides["web"] = {"MEMBER_WRITE_LIMIT": "100000 per minute"}  # fuzz the routes, not the limit
    world = start_world(platform)
    platform.start("notify", "archive")
    token = world.member("Rosa Nguyen")
    routes = _routes_from_openapi(world.url) or [
        ("POST", "/api/v1/ideas"), ("PUT", "/api/v1/ideas/fuzz-id/rating"), ("POST", "/api/v1/members"),
        ("POST", "/api/v1/tokens"), ("POST", "/api/v1/networks"), ("POST", "/api/v1/webhooks")]
    routes = [route for route in routes if "openapi" not in route[1]]
    failures, tried = [], []
    stop_at = time.monotonic() + FUZZ_SECONDS

    @settings(max_examples=100_000, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(route=st.sampled_from(routes), body=JSON_VALUES, authorised=st.booleans())
    def fuzz(route, body, authorised):
        if time.monotonic() > stop_at:
            return
        method, path = route
        response = world.call(method, path, token if authorised else None,
                              **({"json": body} if method in ("POST", "PUT", "PATCH") else {"params": {"q": str(body)}}))
        tried.append(response.status_code)
        if response.status_code >= 500:
            failures.append((method, path, body, response.status_code, response.text[:200]))

    try:
        fuzz()
    except Exception:  # hypothesis reports its own minimal example; the list below says what failed
        pass
    statuses = sorted(set(tried))
    report("fuzz", operations=len(routes), requests=len(tried), seconds=FUZZ_SECONDS, statuses_seen=statuses,
           server_errors=len(failures))
    assert tried, "the fuzzer sent nothing"
    assert not failures, failures[:5]
