"""Every registered event type, built from its example, is a conforming CloudEvents 1.0 envelope."""
import json
import re
import uuid
from datetime import datetime, timezone

import pytest

from services.common import contract
from services.common.config import agency_source
from services.common.events import build_envelope, encode, read_envelope

SPECS = contract.all_specs()
# CloudEvents 1.0: attribute names are lower-case ASCII letters and digits, at most 20 characters.
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
IRREGULAR_PAST_TENSES = {"left"}


def envelope_for(spec: contract.EventSpec) -> dict:
    source = agency_source({"ENGAGE_AGENCY": "dta"}, spec.publisher)
    return build_envelope(spec.name, spec.example, version=spec.version, subject="aggregate-1", source=source)


@pytest.fixture(params=SPECS, ids=[f"{s.name}.v{s.version}" for s in SPECS])
def spec(request) -> contract.EventSpec:
    return request.param


def test_the_registry_holds_every_publisher():
    assert {s.publisher for s in SPECS} == {"members", "ideas", "notify", "archive"}


def test_required_attributes_are_present_and_well_formed(spec):
    envelope = envelope_for(spec)
    for name in ("specversion", "id", "source", "type"):
        assert isinstance(envelope[name], str) and envelope[name], name
    assert envelope["specversion"] == "1.0"
    assert uuid.UUID(envelope["id"])
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["subject"] == "aggregate-1"
    assert all(ATTRIBUTE_NAME.match(name) for name in envelope)


def test_type_is_reverse_dns_with_noun_past_verb_and_version(spec):
    envelope = envelope_for(spec)
    assert envelope["type"] == f"au.gov.engage.{spec.name}.v{spec.version}"
    assert contract.parse_ce_type(envelope["type"]) == (spec.name, spec.version)
    noun, verb = spec.name.split(".")
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", noun) and re.fullmatch(r"[a-z]+(_[a-z]+)*", verb)
    words = verb.split("_")
    assert any(w.endswith("ed") or w in IRREGULAR_PAST_TENSES for w in words), f"{verb} names no past-tense verb"


def test_source_names_the_agency_and_the_publishing_service(spec):
    assert envelope_for(spec)["source"] == f"urn:engage:dta:{spec.publisher}"


def test_time_is_rfc3339_in_utc(spec):
    stamp = envelope_for(spec)["time"]
    assert RFC3339.match(stamp)
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timezone.utc.utcoffset(None)
    assert abs((datetime.now(timezone.utc) - parsed).total_seconds()) < 60


def test_routing_key_is_the_type_with_a_version_suffix_after_the_first(spec):
    expected = spec.name if spec.version == 1 else f"{spec.name}.v{spec.version}"
    assert spec.routing_key == expected
    assert spec.exchange == (f"{spec.publisher}.private" if spec.private_to else f"{spec.publisher}.events")


def test_data_carries_the_aggregate_version_as_a_positive_integer(spec):
    data = envelope_for(spec)["data"]
    assert isinstance(data["version"], int) and not isinstance(data["version"], bool) and data["version"] >= 1


def test_the_encoded_envelope_is_json_and_reads_back_unchanged(spec):
    envelope = envelope_for(spec)
    body = encode(envelope)
    assert json.loads(body.decode("utf-8")) == envelope
    event = read_envelope(body)
    assert (event.id, event.source, event.name, event.version, event.subject, event.time, event.data) == (
        envelope["id"], envelope["source"], spec.name, spec.version, "aggregate-1", envelope["time"], spec.example)
