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


# -- Hostile input: each is a 4xx naming the problem, and nothing is stored ----

STORED = (("members", "members"), ("members", "networks"), ("ideas", "ideas"), ("ideas", "comments"),
          ("ideas", "ratings"), ("ideas", "outbox"))


def stored(platform) -> dict[str, int]:
    """Documents wherever a refused write could have landed, outbox rows included."""
    return {f"{service}.{name}": platform.db(service)[name].count_documents({}) for service, name in STORED}


def raw_json(fields: dict, **raw_values: str) -> bytes:
    """``fields`` as JSON with each of ``raw_values`` spliced in as written (escapes, literals a dict cannot hold)."""
    members = [json.dumps(fields)[1:-1]] if fields else []
    members += [f'"{name}": {text}' for name, text in raw_values.items()]
    return ("{" + ", ".join(members) + "}").encode("utf-8")


@pytest.fixture
def hostile(platform):
    """A gateway with members and ideas, a member's token, an idea of theirs and a comment on it."""
    world = start_world(platform)
    token = world.member("Rosa Nguyen")
    idea = world.submit(token)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", token, json={"body": "First"}).json()
    return world, token, idea, comment


def send(world, method, path, token, body, content_type: str | None = "application/json") -> requests.Response:
    """``body`` sent exactly as given, with ``content_type`` (none at all when None)."""
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return requests.request(method, f"{world.url}{path}", data=body, headers=headers, timeout=60)


def test_unstorable_and_invisible_text_is_a_422_naming_the_field_and_nothing_is_stored(platform, hostile):
    world, token, idea, comment = hostile
    good_idea = {"title": "A title", "description": "A description"}
    cases = [
        ("POST", "/api/v1/ideas", raw_json({"description": "D"}, title='"\\ud800"'), "title"),
        ("POST", "/api/v1/ideas", raw_json({"title": "T"}, description='"ok \\udfff"'), "description"),
        ("POST", "/api/v1/ideas", raw_json({**good_idea}, prompts='["fine", "\\ud83d"]'), "prompts.1"),
        ("POST", f"/api/v1/ideas/{idea['id']}/comments", raw_json({}, body='"\\ud800"'), "body"),
        ("PATCH", f"/api/v1/ideas/{idea['id']}", raw_json({}, title='"\\udc00 edited"'), "title"),
        ("PATCH", f"/api/v1/comments/{comment['id']}", raw_json({}, body='"\\ud800"'), "body"),
        ("POST", "/api/v1/members", raw_json({"email": "s@example.gov.au", "password": "x" * 12, "agency": "dta"},
                                             display_name='"\\ud800"'), "display_name"),
        ("POST", "/api/v1/ideas", raw_json({"description": "D"}, title='"nul\\u0000byte"'), "title"),
        ("POST", f"/api/v1/ideas/{idea['id']}/comments", raw_json({}, body='"a\\u0000b"'), "body"),
        ("POST", "/api/v1/ideas", json.dumps({**good_idea, "title": ""}).encode(), "title"),
        ("POST", "/api/v1/ideas", json.dumps({**good_idea, "title": "  \t "}).encode(), "title"),
        ("POST", "/api/v1/ideas", json.dumps({**good_idea, "title": "\u200b\u200c\u200d"}).encode(), "title"),
        ("POST", "/api/v1/ideas", json.dumps({**good_idea, "title": " \u2060\ufeff "}).encode(), "title"),
        ("PATCH", f"/api/v1/ideas/{idea['id']}", json.dumps({"title": "\u200b"}).encode(), "title"),
        ("POST", "/api/v1/networks", json.dumps({"name": "\ufeff"}).encode(), "name"),
        ("POST", "/api/v1/ideas", json.dumps({**good_idea, "title": "x" * 201}).encode(), "title"),
        ("POST", f"/api/v1/ideas/{idea['id']}/comments", json.dumps({"body": "x" * 20_001}).encode(), "body"),
    ]
    before = stored(platform)
    for method, path, body, field in cases:
        answer = send(world, method, path, token, body)
        assert answer.status_code == 422, (path, field, answer.status_code, answer.text[:300])
        error = answer.json()["error"]
        assert field in error["fields"] and field in error["message"], (path, field, error)
    assert stored(platform) == before
    shown = world.call("GET", f"/api/v1/ideas/{idea['id']}", token).json()
    assert shown["title"] == idea["title"]


def test_deep_nesting_is_refused_without_a_server_error_and_nothing_is_stored(platform, hostile):
    world, token, idea, _ = hostile
    before = stored(platform)
    for levels in (40, 10_000, 300_000):
        nested = "[" * levels + "]" * levels
        for path in ("/api/v1/ideas", f"/api/v1/ideas/{idea['id']}/comments"):
            answer = send(world, "POST", path, token, raw_json({"title": "T", "description": "D"}, body=nested))
            assert answer.status_code in (400, 422), (levels, answer.status_code, answer.text[:200])
            assert "nest" in answer.json()["error"]["message"]
    assert stored(platform) == before


def chunked(body: bytes, size: int = 64 * 1024):
    """``body`` as a generator, which requests sends with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_a_chunked_body_is_read_and_limited_like_any_other(platform, hostile):
    world, token, _, _ = hostile
    before = stored(platform)
    huge = json.dumps({"title": "Chunked", "description": "x" * (1024 * 1024 + 10)}).encode()
    answer = send(world, "POST", "/api/v1/ideas", token, chunked(huge))
    assert answer.request.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in answer.request.headers
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    assert stored(platform) == before
    small = send(world, "POST", "/api/v1/ideas", token,
                 chunked(json.dumps({"title": "Sent in chunks", "description": "Read whole."}).encode(), size=7))
    assert small.status_code == 201 and small.json()["title"] == "Sent in chunks"


def test_a_body_sent_as_another_media_type_is_a_415_and_forms_and_text_plain_still_work(platform, hostile):
    world, token, idea, _ = hostile
    platform.start("archive")
    before = stored(platform)
    body = json.dumps({"title": "Typed wrong", "description": "D"}).encode()
    for content_type in ("text/html", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded",
                         "application/xml"):
        answer = send(world, "POST", "/api/v1/ideas", token, body, content_type)
        assert answer.status_code == 415, (content_type, answer.status_code, answer.text[:200])
        error = answer.json()["error"]
        assert error["code"] == "unsupported_media_type" and "Content-Type" in error["fields"]
        assert content_type.split(";")[0] in error["message"]
    assert stored(platform) == before
    assert send(world, "POST", "/api/v1/ideas", token, body, None).status_code == 201  # no type at all reads as JSON
    imported = send(world, "POST", "/api/v1/archive/imports", world.tokens["Ada Admin"], b"Legacy page\n\nSome text.",
                    "text/plain; charset=utf-8")
    assert imported.status_code != 415 and imported.status_code < 500, imported.text[:300]


def test_a_key_given_twice_is_a_422_naming_the_key_and_nothing_is_stored(platform, hostile):
    world, token, idea, _ = hostile
    before = stored(platform)
    answer = send(world, "POST", "/api/v1/ideas", token, b'{"title": "One", "description": "D", "title": "Two"}')
    assert answer.status_code == 422 and "title" in answer.json()["error"]["fields"]
    rating = send(world, "PUT", f"/api/v1/ideas/{idea['id']}/rating", token, b'{"stars": 1, "stars": 5}')
    assert rating.status_code == 422 and "stars" in rating.json()["error"]["fields"]
    assert stored(platform) == before


def test_numbers_out_of_range_are_a_4xx_and_nothing_is_stored(platform, hostile):
    world, token, idea, _ = hostile
    platform.start("archive")
    before = stored(platform)
    for stars, status in (("1e400", 422), ("-1e400", 422), (str(10 ** 30), 422), ("NaN", 400), ("Infinity", 400),
                          ("-Infinity", 400), ("9" * 5000, 400)):
        answer = send(world, "PUT", f"/api/v1/ideas/{idea['id']}/rating", token, raw_json({}, stars=stars))
        assert answer.status_code == status, (stars[:20], answer.status_code, answer.text[:200])
        if status == 422:
            assert "stars" in answer.json()["error"]["fields"]
    for path in ("/api/v1/ideas?limit=99999999999999999999", "/api/v1/ideas/search?q=x&limit=99999999999999999999",
                 "/api/v1/notifications?limit=99999999999999999999", "/api/v1/ideas?limit=%C2%B2",
                 "/api/v1/archive/search?q=x&limit=99999999999999999999", "/api/v1/archive/search?q=x&cursor=%C2%B2",
                 "/api/v1/archive/resources?limit=99999999999999999999&cursor=" + "9" * 30):
        answer = world.call("GET", path, token)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
        assert answer.json()["error"]["fields"], (path, answer.json())
    assert stored(platform) == before


def test_unknown_api_addresses_and_methods_answer_the_json_error_shape(platform, hostile):
    world, token, idea, _ = hostile
    for method, path, status in (("GET", "/api/v1/no-such-thing", 404), ("POST", "/api/v1/ideas/x/y/z", 404),
                                 ("DELETE", "/api/v1/ideas", 405), ("PATCH", f"/api/v1/ideas/{idea['id']}/rating", 405)):
        answer = world.call(method, path, token)
        assert answer.status_code == status and answer.headers["Content-Type"].startswith("application/json"), path
        error = answer.json()["error"]
        assert set(error) == {"code", "message", "fields"} and path in error["message"]
        if status == 405:
            assert method not in answer.headers["Allow"] and method in error["message"]


def test_people_get_a_styled_not_found_page_and_the_site_has_a_favicon(platform, hostile):
    world, _, _, _ = hostile
    for path in ("/no-such-page", "/ideas/a/b/c", "/static-but-not"):
        answer = world.call("GET", path)
        assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/html"), path
        assert 'class="site-header"' in answer.text and 'href="/ideas"' in answer.text and "/static/engage.css" in answer.text
        assert answer.headers["X-Frame-Options"] == "DENY"
    icon = world.call("GET", "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


def test_an_error_on_our_side_is_a_styled_page_for_people_and_the_json_shape_for_the_api(platform):
    """Without the ideas service, the gateway's calls to it fail: a server error, in each audience's form."""
    platform.start("members", "web")
    url = platform.url("web")
    page = requests.get(f"{url}/ideas", timeout=30)
    assert page.status_code >= 500 and page.headers["Content-Type"].startswith("text/html")
    assert 'class="site-header"' in page.text and "/static/engage.css" in page.text
    api = requests.get(f"{url}/api/v1/ideas", timeout=30)
    assert api.status_code >= 500 and api.headers["Content-Type"].startswith("application/json")
    assert set(api.json()["error"]) == {"code", "message", "fields"}
