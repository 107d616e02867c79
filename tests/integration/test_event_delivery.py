"""The shared kit's delivery promises, against the real broker and storage server.

No event is lost between a state change and its publication, a redelivered
event has one effect, a failing handler is retried a bounded number of times
and then kept as a dead letter that the operator can list and replay.
"""
import json
import time
import uuid
from datetime import timedelta

import pytest

from services import cli
from services.common import outbox as kit_outbox
from services.common.events import build_envelope, encode, utc_now
from services.common.mongo import ensure_indexes
from services.common.outbox import OutboxRelay, outbox_row
from services.common.storage import DEFAULT_DEDUPE_RETENTION_DAYS, KIT_INDEXES
from services.members.store import MemberStore
from tests.support.bus import Subscriber, broker_user, publish
from tests.support.platform import wait_for

SOURCE = "urn:engage:test:members"


def registered(name="Rosa Nguyen", member_id=None):
    return build_envelope("member.registered", {"member_id": member_id or str(uuid.uuid4()), "display_name": name,
                                                "agency": "dta", "version": 1},
                          subject="m-1", source=SOURCE)


def test_an_event_written_before_a_crash_is_published_after_restart(platform):
    """The state and its outbox row committed, then the process died before publishing: nothing is lost."""
    store = MemberStore(platform.db("members"), source=SOURCE, service="members")
    member_id = str(uuid.uuid4())

    def write(tx):
        tx.add_member({"_id": member_id, "email": "crash@example.gov.au", "display_name": "Crash Test",
                       "agency": "dta", "roles": ["member"], "status": "active", "version": 1})
        tx.record("member.registered", subject=member_id,
                  data={"member_id": member_id, "display_name": "Crash Test", "agency": "dta", "version": 1})

    ensure_indexes(platform.db("members"), KIT_INDEXES)
    store.transaction(write)
    assert platform.db("members").outbox.count_documents({"state": "pending"}) == 1

    subscriber = Subscriber(platform.amqp_uri, "members.events", "member.registered")
    platform.start("members")
    envelope, properties = subscriber.next()
    subscriber.close()
    assert envelope["data"]["member_id"] == member_id
    assert envelope["type"] == "au.gov.engage.member.registered.v1"
    assert wait_for(lambda: platform.db("members").outbox.count_documents({"state": "sent"}) == 1)
    print(f"events written 1, published {platform.db('members').outbox.count_documents({'state': 'sent'})}, lost 0")


def test_a_row_leased_to_a_relay_that_died_is_published_once_the_lease_ends(platform):
    """Rows are written leased to the writing process's relay; if it dies before publishing, its lease runs out."""
    db = platform.db("members")
    ensure_indexes(db, KIT_INDEXES)
    member_id = str(uuid.uuid4())
    envelope = build_envelope("member.registered", {"member_id": member_id, "display_name": "Left Behind",
                                                    "agency": "dta", "version": 1}, subject=member_id, source=SOURCE)
    subscriber = Subscriber(platform.amqp_uri, "members.events", "member.registered")
    platform.start("members")  # its relay sweeps the outbox every second

    lease_ends = utc_now() + timedelta(seconds=3)
    row = outbox_row(envelope, "members", "member.registered", 1)
    row.update(lease_until=lease_ends, lease_owner="a-relay-that-died:0000")
    db.outbox.insert_one(row)
    received, _ = subscriber.next(timeout=20)
    arrived = utc_now()
    subscriber.close()
    assert received["id"] == envelope["id"]
    assert arrived >= lease_ends, "published while another relay still held the lease"
    assert wait_for(lambda: db.outbox.count_documents({"state": "sent"}) == 1)


def test_only_the_relay_holding_the_sweep_lease_sweeps(platform):
    """Leftover rows are swept by one relay of a service at a time; another takes over when its lease runs out."""
    db = platform.db("members")
    ensure_indexes(db, KIT_INDEXES)
    subscriber = Subscriber(platform.amqp_uri, "members.events", "member.registered")
    platform.start("members")
    lease_ends = utc_now() + timedelta(seconds=3)
    db.outbox_sweeper.replace_one({"_id": "sweep"}, {"owner": "a-replica-that-stalled:0000", "until": lease_ends},
                                  upsert=True)
    envelope = registered(name="Given Back")
    db.outbox.insert_one(outbox_row(envelope, "members", "member.registered", 1))  # no lease: due at once

    received, _ = subscriber.next(timeout=20)
    arrived = utc_now()
    subscriber.close()
    assert received["id"] == envelope["id"]
    assert arrived >= lease_ends, "swept while another relay held the sweep lease"
    assert db.outbox_sweeper.find_one({"_id": "sweep"})["owner"] != "a-replica-that-stalled:0000"


def test_a_relay_holds_few_rows_in_memory_and_hands_a_burst_beyond_that_to_the_sweep(platform, monkeypatch):
    monkeypatch.setattr(kit_outbox, "MAX_FRESH_ROWS", 5)
    subscriber = Subscriber(platform.amqp_uri, "members.events", "member.registered")
    platform.start("members")
    relay = next(e for e in platform.containers["members"].shared_extensions.values() if isinstance(e, OutboxRelay))
    rows = [{**outbox_row(registered(f"Burst {n}", str(uuid.uuid4())), "members", "member.registered", 1),
             **relay.lease_for_new_rows()} for n in range(30)]
    platform.db("members").outbox.insert_many(rows)
    began, held = time.monotonic(), []
    for row in rows:  # thirty commits in a row, faster than the relay publishes
        relay.wake([row])
        held.append(len(relay._fresh))
    received = [subscriber.next(timeout=8)[0]["id"] for _ in rows]
    took = time.monotonic() - began
    subscriber.close()
    print(f"rows {len(rows)}, most held in memory {max(held)}, published in {took:.1f} s")
    assert max(held) <= 5
    assert received == [row["event_id"] for row in rows]  # in the order they were written
    assert took < relay.lease.total_seconds(), "the rows left out of memory waited out their lease"


def test_dedupe_marks_older_than_the_retention_are_deleted_and_younger_ones_kept(platform):
    db = platform.db("probe")
    now = utc_now()
    retention = timedelta(days=DEFAULT_DEDUPE_RETENTION_DAYS)
    old = [{"_id": f"{SOURCE}|old-{n}", "type": "member.registered", "at": now - retention - timedelta(hours=1, seconds=n)}
           for n in range(2500)]  # more than one sweep batch
    db.processed_events.insert_many(old + [{"_id": f"{SOURCE}|young", "type": "member.registered",
                                            "at": now - retention + timedelta(hours=1)}])
    platform.start("probe")  # sweeps at start, then every ten minutes
    envelope = registered()
    publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the new event handled")
    wait_for(lambda: db.processed_events.count_documents({"_id": {"$regex": r"\|old-"}}) == 0, timeout=30,
             message="the old marks to be swept")
    kept = sorted(mark["_id"] for mark in db.processed_events.find({}, {"_id": 1}))
    print(f"retention {DEFAULT_DEDUPE_RETENTION_DAYS} days; {len(old)} older marks deleted, kept {len(kept)}")
    assert kept == sorted([f"{SOURCE}|young", f"{SOURCE}|{envelope['id']}"])


def test_the_same_event_delivered_twice_has_one_effect(platform):
    platform.start("probe")
    envelope = registered()
    for _ in range(2):
        publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
    effects = platform.db("probe").effects
    wait_for(lambda: effects.count_documents({}) >= 1)
    wait_for(lambda: _consumed(platform, "deduplicated") >= 1, message="the duplicate to be recognised")
    assert effects.count_documents({"event_id": envelope["id"]}) == 1
    print(f"deliveries 2, effects {effects.count_documents({})}, duplicates dropped {_consumed(platform, 'deduplicated')}")


def test_a_handler_writing_in_two_transactions_keeps_both_writes_and_a_redelivery_has_one_effect(platform):
    """Only the handling transaction carries the event's mark, so the write before it is not taken for a duplicate."""
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 1})  # the first try fails between its two transactions
    member_id = str(uuid.uuid4())
    envelope = build_envelope("member.joined_network", {
        "member_id": member_id, "network_id": "n-1", "network_slug": "engagement-practitioners", "agency": "dta",
        "version": 2}, subject=member_id, source=SOURCE)
    publish(platform.amqp_uri, "members.events", "member.joined_network", encode(envelope))
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the second write")
    publish(platform.amqp_uri, "members.events", "member.joined_network", encode(envelope))
    wait_for(lambda: _consumed(platform, "deduplicated") >= 1, message="the duplicate to be recognised")
    assert _consumed(platform, "retried") == 1
    assert db.arrivals.count_documents({"_id": envelope["id"]}) == 1
    assert db.effects.count_documents({"event_id": envelope["id"]}) == 1
    assert db.processed_events.count_documents({"_id": f"{SOURCE}|{envelope['id']}"}) == 1
    assert db.dead_letters.count_documents({}) == 0


def test_a_failing_handler_is_retried_then_dead_lettered_and_replayed_once_fixed(platform, monkeypatch, capsys):
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 1000})
    envelope = registered(name="Keeps Failing")
    publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))

    record = wait_for(lambda: db.dead_letters.find_one({"event_id": envelope["id"]}), timeout=15,
                      message="the message to reach dead letters")
    assert record["attempts"] == 3  # the first try and the two retries of the test configuration
    assert "the probe was told to fail" in record["error"]
    assert _consumed(platform, "retried") == 2
    assert db.effects.count_documents({}) == 0

    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("PROBE_DATABASE", platform.database_name("probe"))
    capsys.readouterr()
    assert cli.main(["dead-letters", "list", "--service", "probe", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["event_id"] for row in listed] == [envelope["id"]]
    assert "the probe was told to fail" in listed[0]["error"]

    db.switches.update_one({"_id": "fail"}, {"$set": {"remaining": 0}})
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the replayed effect")
    assert db.dead_letters.count_documents({"state": "dead"}) == 0
    print(f"tries before dead letter {record['attempts']}, effects after replay {db.effects.count_documents({})}")


@pytest.mark.parametrize("body, reason", [
    (b"not json at all", "not JSON"),
    (json.dumps({"specversion": "1.0", "id": "x", "source": "s", "type": "au.gov.engage.member.registered.v1",
                 "time": "2026-01-01T00:00:00Z", "subject": "m", "data": {"member_id": 5}}).encode(), "schema"),
    (json.dumps({"specversion": "1.0", "id": "y", "source": "s", "type": "au.gov.engage.member.registered.v9",
                 "time": "2026-01-01T00:00:00Z", "subject": "m", "data": {}}).encode(), "not in the registry"),
])
def test_poison_messages_are_dead_lettered_at_once_and_consuming_goes_on(platform, body, reason):
    platform.start("probe")
    db = platform.db("probe")
    publish(platform.amqp_uri, "members.events", "member.registered", body)
    record = wait_for(lambda: db.dead_letters.find_one({}), message="the poison message in dead letters")
    assert reason in record["error"]
    assert record["attempts"] == 1
    good = registered()
    publish(platform.amqp_uri, "members.events", "member.registered", encode(good))
    wait_for(lambda: db.effects.count_documents({"event_id": good["id"]}) == 1, message="the next good event")


def test_a_rejected_event_skips_retries(platform):
    platform.start("probe")
    db = platform.db("probe")
    publish(platform.amqp_uri, "members.events", "member.registered", encode(registered(name="poison")))
    record = wait_for(lambda: db.dead_letters.find_one({}), message="the rejected event in dead letters")
    assert record["attempts"] == 1 and "can never be handled" in record["error"]


def _consumed(platform, outcome: str) -> float:
    import requests

    for line in requests.get(f"{platform.url('probe')}/metrics", timeout=5).text.splitlines():
        if line.startswith("engage_probe_events_consumed_total") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _operator_env(monkeypatch, platform, amqp_uri: str) -> None:
    monkeypatch.setenv("AMQP_URI", amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("PROBE_DATABASE", platform.database_name("probe"))


def _dead_letter_of_a_failing_event(platform):
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 3})  # the first try and both retries fail
    envelope = registered(name="Fails Three Times")
    publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
    record = wait_for(lambda: db.dead_letters.find_one({"event_id": envelope["id"]}), timeout=15,
                      message="the dead letter")
    return db, envelope, record


def test_a_dead_letter_replay_needs_no_default_exchange_it_goes_through_the_services_requeue_exchange(
        platform, infrastructure, monkeypatch):
    db, envelope, record = _dead_letter_of_a_failing_event(platform)
    with broker_user(infrastructure[1], platform.amqp_uri, write=r"^(?!amq\.default$).*") as amqp_uri:
        _operator_env(monkeypatch, platform, amqp_uri)
        assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the replayed effect")
    assert db.dead_letters.find_one({"_id": record["_id"]})["state"] == "replayed"


def test_a_dead_letter_stays_to_be_replayed_again_when_the_broker_refuses_its_replay(
        platform, infrastructure, monkeypatch, capsys):
    db, envelope, record = _dead_letter_of_a_failing_event(platform)
    with broker_user(infrastructure[1], platform.amqp_uri, write=r"^(?!amq\.default$|probe\.requeue$).*") as amqp_uri:
        _operator_env(monkeypatch, platform, amqp_uri)
        capsys.readouterr()
        assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 1
    assert "access to exchange 'probe.requeue'" in capsys.readouterr().err.replace('"', "'")
    assert db.dead_letters.find_one({"_id": record["_id"]})["state"] == "dead", "marked replayed without a confirm"
    _operator_env(monkeypatch, platform, platform.amqp_uri)
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    wait_for(lambda: db.effects.count_documents({"event_id": envelope["id"]}) == 1, message="the replayed effect")


def test_replaying_a_dead_letter_whose_queue_is_gone_refuses_and_sends_nothing(platform, monkeypatch, capsys):
    db, envelope, record = _dead_letter_of_a_failing_event(platform)
    db.dead_letters.update_one({"_id": record["_id"]}, {"$set": {"queue": "probe.a_handler_since_removed"}})
    _operator_env(monkeypatch, platform, platform.amqp_uri)
    capsys.readouterr()
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 1
    assert "probe.a_handler_since_removed does not exist" in capsys.readouterr().err
    assert db.dead_letters.find_one({"_id": record["_id"]})["state"] == "dead"
    time.sleep(0.5)
    assert db.effects.count_documents({}) == 0
