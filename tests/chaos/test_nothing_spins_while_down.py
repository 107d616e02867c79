"""Scenarios 16 to 18: nothing retries at full speed while storage or the broker is down.

The probe and members services run in the test process, so each scenario
counts exactly what the kit does: every delivery handed to a consumer, every
publishing attempt of an outbox relay. The figures are printed and kept in
docs/reliability.md ("When storage is down").
"""
from __future__ import annotations

import signal
import time
import uuid
from contextlib import contextmanager

import pytest

from deploy.local import processes
from services.common import consumer as kit_consumer
from services.common.consumer import EventConsumer
from services.common.events import build_envelope, encode
from services.common.outbox import OutboxRelay, outbox_row
from tests.chaos.conftest import report
from tests.support.bus import publish
from tests.support.platform import wait_for

# A fault scenario of a minute or more: `make chaos` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.chaos_long

SOURCE = "urn:engage:chaos:members"
BACKLOG = 60
PREFETCH = 20  # max_workers in the test configuration: deliveries a consumer holds at once
WATCH_SECONDS = 20.0


def registered(display_name: str) -> dict:
    member_id = str(uuid.uuid4())
    return build_envelope("member.registered", {"member_id": member_id, "display_name": display_name,
                                                "agency": "dta", "version": 1}, subject=member_id, source=SOURCE)


def counted_deliveries(platform, service: str = "probe",
                       method: str = "on_member_registered") -> tuple[EventConsumer, list[float]]:
    """The consumer of ``method``, and a list that gets the time of every delivery handed to it."""
    consumer = next(e for e in platform.containers[service].entrypoints
                    if isinstance(e, EventConsumer) and e.method_name == method)
    times: list[float] = []
    handle = consumer.handle_message

    def counting(body, message):
        times.append(time.monotonic())
        return handle(body, message)

    consumer.handle_message = counting
    return consumer, times


@contextmanager
def storage_down(controls, how: str):
    """Storage stopped (its process gone) or paused (SIGSTOP: it holds its connections and answers nothing)."""
    if how == "stopped":
        controls.storage.stop()
    else:
        processes.signal_group(controls.storage.process_group(), signal.SIGSTOP)
    try:
        yield
    finally:
        if how == "stopped":
            controls.storage.start()
        else:
            processes.signal_group(controls.storage.process_group(), signal.SIGCONT)


@pytest.mark.parametrize("how", ["stopped", "paused"])
def test_while_storage_is_down_a_consumer_holds_its_deliveries_instead_of_redelivering_them(platform, controls, how):
    platform.start("probe")
    consumer, deliveries = counted_deliveries(platform)
    effects = platform.db("probe").effects
    sent = [registered(f"Held {n}") for n in range(BACKLOG)]
    with storage_down(controls, how):
        down_at = time.monotonic()
        for envelope in sent:
            publish(platform.amqp_uri, "members.events", "member.registered", encode(envelope))
        # The deliveries in hand find storage down (after the driver's 3 s, or up to ~20 s when paused),
        # go back to the queue once each, and wait at the closed gate.
        wait_for(lambda: not consumer.mongo.gate.is_open, timeout=40, message="the consumer to find storage down")
        wait_for(lambda: len(deliveries) >= 2 * PREFETCH, timeout=40, message="the deliveries in hand to come back")
        time.sleep(1)
        watch_from = time.monotonic()
        time.sleep(WATCH_SECONDS)
        watched = [t for t in deliveries if t >= watch_from]
        down_for = time.monotonic() - down_at
        during = len(deliveries)
        pings = consumer.mongo.gate.pings
    back_at = time.monotonic()
    wait_for(lambda: effects.count_documents({}) >= BACKLOG, timeout=60, message="the backlog after storage returned")
    recovered_in = time.monotonic() - back_at
    time.sleep(1)
    db = platform.db("probe")
    rate = len(watched) / WATCH_SECONDS
    report(f"storage {how}", events_queued=BACKLOG, deliveries_while_down=during, storage_down_s=round(down_for, 1),
           deliveries_a_second_once_held=round(rate, 2), bound_a_second=round(PREFETCH / kit_consumer.HOLD_SECONDS, 2),
           storage_pings=pings, all_handled_after_return_s=round(recovered_in, 1),
           effects=effects.count_documents({}), dead_letters=db.dead_letters.count_documents({}))
    # Each delivery in hand comes back once; the rest of the queue is not delivered at all.
    assert during <= 2 * PREFETCH + len(watched)
    assert rate <= PREFETCH / kit_consumer.HOLD_SECONDS, "held deliveries came back faster than one per hold"
    assert effects.count_documents({}) == BACKLOG
    assert db.dead_letters.count_documents({}) == 0, "an outage must not turn events into dead letters"
    assert recovered_in < 20


def test_a_dead_letter_storage_refuses_goes_back_to_its_queue_after_growing_pauses(platform):
    platform.start("probe")
    db = platform.db("probe")
    # Storage answers, but refuses every dead letter (a validator no record satisfies).
    db.command("collMod", "dead_letters", validator={"$jsonSchema": {"required": ["never_set"]}})
    consumer, deliveries = counted_deliveries(platform)
    publish(platform.amqp_uri, "members.events", "member.registered", b"not json at all")
    time.sleep(12)
    refused = len(deliveries)
    db.command("collMod", "dead_letters", validator={})
    record = wait_for(lambda: db.dead_letters.find_one({}), timeout=40, message="the dead letter once storage takes it")
    gaps = [round(b - a, 1) for a, b in zip(deliveries, deliveries[1:])]
    report("dead letter refused", deliveries_in_12_s=refused, pauses_s=gaps, stored_after_s=gaps and sum(gaps),
           stored=db.dead_letters.count_documents({}))
    # Pauses of 0.5, 1, 2, 4 and 8 s: five deliveries in the first 12 s, where an immediate requeue makes thousands.
    assert 3 <= refused <= 6
    assert all(later >= earlier for earlier, later in zip(gaps, gaps[1:]))
    assert "not JSON" in record["error"] and db.dead_letters.count_documents({}) == 1


def relay_of(platform, service: str) -> OutboxRelay:
    return next(e for e in platform.containers[service].shared_extensions.values() if isinstance(e, OutboxRelay))


@pytest.mark.parametrize("down", ["broker", "storage"])
def test_the_outbox_relay_tries_again_after_growing_pauses_however_often_commits_wake_it(platform, controls, down):
    platform.start("members")
    relay = relay_of(platform, "members")
    outbox = platform.db("members").outbox
    attempts: list[float] = []
    sweep = relay.publish_pending

    def counting() -> int:
        attempts.append(time.monotonic())
        return sweep()

    relay.publish_pending = counting
    row = outbox_row(registered("Waiting Out"), "members", "member.registered", 1)
    part = controls.broker if down == "broker" else controls.storage
    part.stop()
    try:
        if down == "broker":
            outbox.insert_one(row)  # a row to publish, so the relay needs the broker
        wait_for(lambda: relay.last_error, timeout=20, message="the relay to fail")
        watch_from, wakes = time.monotonic(), 0
        while time.monotonic() - watch_from < 10:
            relay.wake()  # what every commit does; storage being down, only the broker case has commits
            wakes += 1
            time.sleep(0.01)
        tries = len([t for t in attempts if t >= watch_from])
    finally:
        part.start()
    if down == "storage":
        outbox.insert_one(row)
    wait_for(lambda: outbox.find_one({"_id": row["_id"], "state": "sent"}), timeout=30,
             message="the row published once the part is back")
    report(f"relay with {down} down", wakes_a_second=round(wakes / 10), tries_a_second=round(tries / 10, 2),
           longest_pause_s=2.0)
    # Pauses of 0.5, 1, then 2 s: at most six tries in 10 s (fewer while each try waits out storage's 3 s).
    assert tries <= 7
