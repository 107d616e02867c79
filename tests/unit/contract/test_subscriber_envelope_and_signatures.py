"""The subscriber client reads every registered event and checks signatures exactly as the platform makes them."""
import ast
import json
import time
from pathlib import Path

import pytest

from engage_subscriber import Event, InvalidEnvelope, SignatureInvalid, read_event, verify_signature
from services.common import contract, webhooks
from services.common.events import build_envelope, encode

CLIENT = Path(__file__).resolve().parents[3] / "clients" / "python"
SPECS = contract.all_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.name}.v{s.version}" for s in SPECS])
def test_the_client_reads_every_registered_event_the_platform_builds(spec):
    envelope = build_envelope(spec.name, spec.example, version=spec.version, subject="s-1",
                              source=f"urn:engage:dta:{spec.publisher}")
    event = read_event(encode(envelope), routing_key=spec.routing_key)
    assert isinstance(event, Event)
    assert (event.name, event.version, event.type) == (spec.name, spec.version, spec.ce_type)
    assert (event.agency, event.publisher, event.subject) == ("dta", spec.publisher, "s-1")
    assert event.data == spec.example and event.aggregate_version == spec.example["version"]
    assert event.dedupe_key == f"urn:engage:dta:{spec.publisher}|{envelope['id']}"
    assert event.time.utcoffset().total_seconds() == 0


def good_envelope(**changes):
    spec = contract.spec_for("idea.rated")
    envelope = build_envelope(spec.name, spec.example, subject="i-1", source="urn:engage:dta:ideas")
    envelope.update(changes)
    return envelope


@pytest.mark.parametrize("body, reason", [
    (b"\xff\xfe", "UTF-8"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({k: v for k, v in good_envelope().items() if k != "source"}), "lacks source"),
    (json.dumps(good_envelope(specversion="0.3")), "specversion"),
    (json.dumps(good_envelope(type="com.example.thing")), "type"),
    (json.dumps(good_envelope(time="yesterday")), "RFC 3339"),
    (json.dumps(good_envelope(time="2026-11-23T03:15:00")), "no offset"),
    (json.dumps(good_envelope(data=["x"])), "data is not"),
    (json.dumps(good_envelope(data={"idea_id": "i-1"})), "data.version"),
    (json.dumps(good_envelope(id="")), "id is not"),
])
def test_the_client_refuses_what_is_not_a_valid_event_and_says_why(body, reason):
    with pytest.raises(InvalidEnvelope, match=reason):
        read_event(body)


def test_unknown_attributes_and_data_fields_are_kept():
    envelope = good_envelope(traceparent="00-abc-def-01")
    envelope["data"] = {**envelope["data"], "new_field": 1}
    event = read_event(json.dumps(envelope))
    assert event.envelope["traceparent"] == "00-abc-def-01" and event.data["new_field"] == 1


def test_a_signature_made_by_the_platform_verifies_in_the_client():
    body = b'{"type":"au.gov.engage.idea.rated.v1"}'
    header = webhooks.sign("whsec_one", body)
    assert verify_signature("whsec_one", header, body) == webhooks.parse_header(header)[0]
    assert verify_signature("whsec_one", header, body.decode()) == webhooks.verify("whsec_one", header, body)


def test_during_a_rotation_either_secret_verifies():
    body = b"{}"
    header = webhooks.sign(["whsec_new", "whsec_old"], body)
    assert verify_signature("whsec_new", header, body)
    assert verify_signature("whsec_old", header, body)


@pytest.mark.parametrize("case", ["wrong secret", "changed body", "stale", "future", "no t", "no v1", "bad t"])
def test_the_client_and_the_platform_refuse_the_same_deliveries(case):
    body, now = b'{"a":1}', time.time()
    header = webhooks.sign("whsec_one", body, t=int(now))
    secret, checked_body, at = "whsec_one", body, now
    if case == "wrong secret":
        secret = "whsec_two"
    elif case == "changed body":
        checked_body = b'{"a":2}'
    elif case == "stale":
        at = now + 301
    elif case == "future":
        at = now - 301
    elif case == "no t":
        header = header.split(",", 1)[1]
    elif case == "no v1":
        header = header.split(",", 1)[0]
    elif case == "bad t":
        header = "t=soon," + header.split(",", 1)[1]
    with pytest.raises(webhooks.SignatureInvalid):
        webhooks.verify(secret, header, checked_body, now=at)
    with pytest.raises(SignatureInvalid):
        verify_signature(secret, header, checked_body, now=at)


def test_the_tolerance_is_the_same_as_the_platforms():
    body = b"{}"
    header = webhooks.sign("s", body, t=1_000_000)
    assert verify_signature("s", header, body, now=1_000_000 + 300) == 1_000_000
    with pytest.raises(SignatureInvalid):
        verify_signature("s", header, body, tolerance=10, now=1_000_000 + 11)


def test_the_client_package_imports_only_the_standard_library_and_pika():
    allowed = {"__future__", "hashlib", "hmac", "json", "logging", "re", "threading", "time", "typing",
               "dataclasses", "datetime", "pika", "engage_subscriber"}
    for path in (CLIENT / "engage_subscriber").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
