"""Scenarios 1, 2, 3 and 15: duplicates, failing handlers, poison messages and schema evolution.

The services run in the test process (``platform``) against the private
broker and storage server; events are published by hand where the scenario
needs exact control of what arrives, and through a real outbox otherwise.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from nameko.containers import ServiceContainer

from services import cli
from services.common.events import build_envelope, encode
from services.common.storage import Store
from tests.chaos import evolution_probe
from tests.chaos.conftest import report
from tests.support.bus import publish
from tests.support.platform import free_port, wait_for

SOURCE = "urn:engage:chaos:members"


def member_event(name: str, **data) -> dict:
    member_id = data.pop("member_id", None) or str(uuid.uuid4())
    body = {"member_id": member_id, "agency": "dta", "version": 1, **data}
    if name == "member.registered":
        body.setdefault("display_name", "Rosa Nguyen")
    return build_envelope(name, body, subject=member_id, source=SOURCE)


def consumed(url: str, service: str, outcome: str) -> float:
    total = 0.0
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"engage_{service}_events_consumed_total{{") and f'outcome="{outcome}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_same_event_delivered_twice_has_one_effect_in_every_consuming_service(platform):
    consumers = ("probe", "ideas", "notify", "archive")
    platform.start("members", *consumers)
    registered = member_event("member.registered")
    deactivated = member_event("member.deactivated", member_id=registered["data"]["member_id"], version=2)
    deliveries = 0
    for envelope in (registered, deactivated):
        for _ in range(2):  # republished by hand with the same id
            publish(platform.amqp_uri, "members.events", envelope["type"].split(".", 3)[3].rsplit(".", 1)[0],
                    encode(envelope))
            deliveries += 1
    expected = {"probe": [registered], "ideas": [registered, deactivated], "notify": [registered, deactivated],
                "archive": [deactivated]}
    figures = {}
    for service in consumers:
        marks = platform.db(service).processed_events
        keys = [f"{SOURCE}|{e['id']}" for e in expected[service]]
        wait_for(lambda: consumed(platform.url(service), service, "deduplicated") >= len(keys), timeout=20,
                 message=f"{service} to see the duplicates")
        found = {key: marks.count_documents({"_id": {"$regex": e_id}}) for key, e_id in
                 zip(keys, [e["id"] for e in expected[service]])}
        figures[service] = (sum(found.values()), int(consumed(platform.url(service), service, "deduplicated")))
        assert all(count == 1 for count in found.values()), (service, found)
    probe_effects = platform.db("probe").effects.count_documents({"event_id": registered["id"]})
    report("duplicate delivery", deliveries=deliveries, probe_effects=probe_effects,
           effects_and_duplicates_dropped_by_service=figures)
    assert probe_effects == 1
    assert platform.db("ideas").deactivated_members.count_documents({"_id": registered["data"]["member_id"]}) == 1


def test_a_failing_handler_backs_off_then_dead_letters_and_a_replay_after_the_fix_processes_it_once(
        platform, monkeypatch, capsys):
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 1000})
    envelope = member_event("member.registered", display_name="Keeps Failing")
    began = time.monotonic()
    publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
    record = wait_for(lambda: db.dead_letters.find_one({"event_id": envelope["id"]}), timeout=20,
                      message="the dead letter")
    took = time.monotonic() - began
    assert record["attempts"] == 3 and "the probe was told to fail" in record["error"]
    assert took >= 0.6, "the two retries wait 0.2 s and 0.4 s (the test's back-off)"
    assert db.effects.count_documents({}) == 0

    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("PROBE_DATABASE", platform.database_name("probe"))
    db.switches.update_one({"_id": "fail"}, {"$set": {"remaining": 0}})
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the replayed effect")
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0  # nothing left to replay
    time.sleep(1)
    effects = db.effects.count_documents({"event_id": envelope["id"]})
    report("failing handler", attempts=record["attempts"], retried=int(consumed(platform.url("probe"), "probe", "retried")),
           seconds_to_dead_letter=round(took, 2), error=repr(record["error"][:40]), effects_after_replay=effects)
    assert effects == 1
    assert db.dead_letters.count_documents({"state": "dead"}) == 0


POISON = [
    ("not JSON", b"not json at all", "not JSON"),
    ("not text", b"\x00\xff\xfe", "not UTF-8"),
    ("fails the schema", json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": "au.gov.engage.member.registered.v1",
        "time": "2026-01-01T00:00:00Z", "subject": "m", "data": {"member_id": 5}}).encode(), "schema"),
    ("unknown version", json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": "au.gov.engage.member.registered.v9",
        "time": "2026-01-01T00:00:00Z", "subject": "m", "data": {}}).encode(), "not in the registry"),
]


def test_poison_messages_are_dead_lettered_at_once_with_the_reason_and_consuming_goes_on(platform):
    platform.start("probe")
    db = platform.db("probe")
    good = []
    for _, body, _ in POISON:
        publish(platform.amqp_uri, "members.events", "member.registered", body)
        envelope = member_event("member.registered")
        publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
        good.append(envelope["id"])
    wait_for(lambda: db.dead_letters.count_documents({}) == len(POISON), message="every poison message in dead letters")
    wait_for(lambda: db.effects.count_documents({"event_id": {"$in": good}}) == len(good), message="the good events")
    letters = list(db.dead_letters.find({}).sort("dead_at", 1))
    for (kind, _, reason), letter in zip(POISON, letters):
        assert reason in letter["error"], (kind, letter["error"])
        assert letter["attempts"] == 1, kind
    report("poison messages", poison_sent=len(POISON), dead_lettered_at_once=len(letters),
           retried=int(consumed(platform.url("probe"), "probe", "retried")), good_after_each=len(good),
           good_effects=db.effects.count_documents({}))
    assert consumed(platform.url("probe"), "probe", "retried") == 0


@pytest.fixture
def version_two():
    evolution_probe.register_v2()
    yield
    evolution_probe.unregister_v2()


def test_v1_consumers_read_extra_fields_and_a_v2_beside_v1_reaches_old_and_new_consumers(platform, version_two):
    platform.start("members", "probe")
    port = free_port()
    evolved = ServiceContainer(evolution_probe.EvolvedProbeService, platform.config(
        "probe", MONGO_DATABASE=platform.database_name("probe2"), WEB_SERVER_ADDRESS=f"127.0.0.1:{port}"))
    evolved.start()
    try:
        old, new = platform.db("probe").effects, platform.db("probe2").effects
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200)

        extra = member_event("member.registered", pronouns="she/her", preferred_channel="email")
        publish(platform.amqp_uri, "members.events", "member.registered", encode(extra))
        wait_for(lambda: old.count_documents({"event_id": extra["id"]}) == 1, message="v1 consumer reading an extra field")

        # The publisher records both versions of one change in one transaction.
        store = Store(platform.db("members"), source=SOURCE, service="members")
        member_id = str(uuid.uuid4())

        def both(tx):
            tx.record("member.registered", subject=member_id, data={
                "member_id": member_id, "display_name": "Rosa Nguyen", "agency": "dta", "version": 1})
            tx.record("member.registered", subject=member_id, version=2, data={
                "member_id": member_id, "name": {"display": "Rosa Nguyen", "sort": "Nguyen, Rosa"},
                "agency": "dta", "version": 1})

        store.transaction(both)
        wait_for(lambda: old.count_documents({"member_id": member_id}) == 1, message="v1 reaching the old consumer")
        wait_for(lambda: new.count_documents({"member_id": member_id}) == 1, message="v2 reaching the new consumer")
        time.sleep(1)
        old_count, new_count = old.count_documents({"member_id": member_id}), new.count_documents({"member_id": member_id})
        report("schema evolution", v1_with_extra_fields_read=old.count_documents({"event_id": extra["id"]}),
               v1_effects=old_count, v2_effects=new_count,
               v2_sort_name=repr(new.find_one({"member_id": member_id})["sort_name"]),
               dead_letters=platform.db("probe").dead_letters.count_documents({})
               + platform.db("probe2").dead_letters.count_documents({}))
        assert (old_count, new_count) == (1, 1)
        assert platform.db("probe").dead_letters.count_documents({}) == 0
        assert platform.db("probe2").dead_letters.count_documents({}) == 0
    finally:
        evolved.stop()
