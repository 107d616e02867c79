"""`engage backup`, a wipe, `engage restore`: every document comes back, and later events have one effect each.

The services run against the real broker and storage; the command is the
operator's own (`services.cli.main`), pointed at this test's databases as an
operator's environment would point it at a deployment's.
"""
from __future__ import annotations

import json
import tarfile

import pytest

from services import cli
from tests.support.bus import publish
from tests.support.platform import wait_for

STORED = ("members", "ideas", "notify", "archive")


def snapshot(platform) -> dict:
    return {service: {name: sorted((json.dumps(doc, sort_keys=True, default=str) for doc in platform.db(service)[name]
                                     .find({})))
                      for name in platform.db(service).list_collection_names() if not name.startswith("system.")}
            for service in STORED}


def register(platform, email: str, name: str) -> dict:
    with platform.rpc() as rpc:
        return rpc.members.register({"email": email, "display_name": name, "password": "a long enough password",
                                     "agency": "dta"})


def settled(platform) -> bool:
    return all(platform.db(service).outbox.count_documents({"state": "pending"}) == 0 for service in STORED)


@pytest.fixture
def operator_env(monkeypatch, platform, infrastructure):
    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", infrastructure[1])
    for service in STORED:
        monkeypatch.setenv(f"{service.upper()}_DATABASE", platform.database_name(service))


def test_backup_wipe_restore_keeps_every_document_and_each_later_event_has_one_effect(
        platform, operator_env, tmp_path, capsys):
    platform.start("members", "ideas", "notify", "archive")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
    first = register(platform, "ana@dta.example.gov.au", "Ana Lima")
    wait_for(lambda: platform.db("ideas").member_names.find_one({"_id": first["id"]}), timeout=15,
             message="ideas to hear of the first member")
    wait_for(lambda: settled(platform), timeout=15, message="every outbox to be sent")
    for service in STORED:
        platform.stop_service(service)
    before = snapshot(platform)
    assert sum(len(docs) for collections in before.values() for docs in collections.values()) > 0

    archive = tmp_path / "engage.tar.gz"
    assert cli.main(["backup", "--out", str(archive)]) == 0
    for service in STORED:
        platform.db(service).client.drop_database(platform.database_name(service))
    assert cli.main(["restore", str(archive)]) == 0
    assert snapshot(platform) == before

    # Restoring over data is refused, naming what holds documents, and writes nothing.
    assert cli.main(["restore", str(archive)]) == 1
    assert "restore writes into empty storage only" in capsys.readouterr().err
    assert snapshot(platform) == before

    # The services go on from the restored state: a replayed old event is a duplicate, a new one has one effect.
    platform.start("members", "ideas", "notify", "archive")
    old = platform.db("members").outbox.find_one({"type": "member.registered"})
    publish(platform.amqp_uri, "members.events", old["routing_key"], json.dumps(old["envelope"]))
    second = register(platform, "ben@dta.example.gov.au", "Ben Ode")
    wait_for(lambda: platform.db("ideas").member_names.find_one({"_id": second["id"]}), timeout=15,
             message="ideas to hear of the second member")
    wait_for(lambda: platform.db("notify").processed_events.count_documents({"type": "member.registered"}) == 2,
             timeout=15, message="notify to handle the second member")
    wait_for(lambda: settled(platform), timeout=15, message="every outbox to be sent")
    for service in ("ideas", "notify"):
        marks = list(platform.db(service).processed_events.find({"type": "member.registered"}))
        assert len(marks) == 2, service  # one per member: the replayed one was dropped
    assert platform.db("ideas").member_names.count_documents({}) == 2
    manifest = json.loads(tarfile.open(archive).extractfile("manifest.json").read())
    assert set(manifest["services"]) == set(STORED) and manifest["broker_definitions"] is True


def test_replays_with_dry_run_say_what_they_would_send_and_send_nothing(platform, operator_env, capsys):
    platform.start("members")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
    register(platform, "ana@dta.example.gov.au", "Ana Lima")
    wait_for(lambda: settled(platform), timeout=15, message="the members outbox to be sent")
    platform.db("members").dead_letters.insert_one({"_id": "dl-1", "state": "dead", "queue": "members.on_thing",
                                                    "dead_at": platform.db("members").outbox.find_one()["created_at"]})
    capsys.readouterr()
    # The queue named does not exist: a real replay refuses, a dry run only counts.
    assert cli.main(["events", "replay", "--to", "subscriber.nobody", "--types", "member.registered", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "members member.registered: 1" in out and "nothing was sent" in out
    assert cli.main(["dead-letters", "replay", "--service", "members", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "members: would replay 1 to members.on_thing" in out
    assert platform.db("members").dead_letters.find_one({"_id": "dl-1"})["state"] == "dead"


def test_status_reaches_each_service_at_its_configured_address(monkeypatch):
    assert cli.service_url("ideas", {"IDEAS_URL": "http://ideas.internal:8002/"}) == "http://ideas.internal:8002"
    monkeypatch.setenv("IDEAS_HOST", "0.0.0.0")
    monkeypatch.setenv("IDEAS_PORT", "9102")
    assert cli.service_url("ideas", {}) == "http://127.0.0.1:9102"
