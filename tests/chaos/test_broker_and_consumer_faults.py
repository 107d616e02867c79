"""Scenarios 4, 5 and 9: a broker restart mid-burst, a consumer killed with a backlog, competing replicas.

Every one runs the services as real processes against the private broker and
storage server, and counts effects in the consuming service's database:
each event sent must have exactly one effect, none lost, none doubled.
"""
from __future__ import annotations

import time

import pytest

from tests.chaos.conftest import report, scale
from tests.chaos.delivery import fill_outbox, queue_depth, tally, wait_for_all
from services.common.mongo import connect as connect_storage

BURST = scale(2000, 10000)
BACKLOG = scale(1000, 5000)
COMPETING = scale(1000, 5000)


def test_a_broker_restart_in_the_middle_of_a_burst_loses_and_doubles_nothing(cluster, controls, mongo_uri):
    probe = cluster.start("probe")
    members = cluster.start("members")
    storage = connect_storage(mongo_uri)
    effects = storage[cluster.database_name("probe")].effects
    outbox = storage[cluster.database_name("members")].outbox

    began = time.monotonic()
    sent = fill_outbox(storage[cluster.database_name("members")], BURST)
    while effects.count_documents({}) < BURST // 5:
        assert time.monotonic() - began < 60, "the burst did not start flowing"
        time.sleep(0.2)
    before_restart = effects.count_documents({})
    controls.broker.restart(graceful=False)
    restarted_at = time.monotonic() - began

    found = wait_for_all(effects, sent, timeout=120 if BURST > 2000 else 60)
    assert outbox.count_documents({"state": "pending"}) == 0
    members.wait_ready(30)
    probe.wait_ready(30)
    report("broker restart", events_sent=found.sent, effects_before_restart=before_restart,
           effects_found=found.effects, duplicates=found.duplicates, lost=found.lost,
           restarted_at_s=round(restarted_at, 1), total_s=round(time.monotonic() - began, 1))
    assert (found.lost, found.duplicates) == (0, 0)


@pytest.mark.chaos_long
def test_a_consumer_killed_with_a_backlog_processes_each_event_once_after_restart(cluster, vhost, controls, mongo_uri):
    probe = cluster.start("probe")
    members = cluster.start("members")
    probe.kill()
    storage = connect_storage(mongo_uri)
    effects = storage[cluster.database_name("probe")].effects
    queue = "probe.on_member_registered"

    sent = fill_outbox(storage[cluster.database_name("members")], BACKLOG)
    deadline = time.monotonic() + 60
    while queue_depth(controls.management_url, vhost, queue) < BACKLOG:
        assert time.monotonic() < deadline, "the backlog did not build up"
        time.sleep(0.5)

    began = time.monotonic()
    probe = cluster.start("probe", replica=2)
    while effects.count_documents({}) < BACKLOG // 3:
        assert time.monotonic() - began < 60, "the restarted consumer did not take the backlog"
        time.sleep(0.05)
    probe.kill()
    at_kill = effects.count_documents({})
    cluster.start("probe", replica=3)
    # The events the killed process was handling sit in transactions it never
    # finished; the storage server aborts those after its transaction lifetime
    # (60 s by default, as on MongoDB), and until then their redeliveries wait.
    found = wait_for_all(effects, sent, timeout=120)
    report("consumer SIGKILL", events_sent=found.sent, effects_at_kill=at_kill, effects_found=found.effects,
           duplicates=found.duplicates, lost=found.lost, total_s=round(time.monotonic() - began, 1))
    assert members.is_ready()
    assert (found.lost, found.duplicates) == (0, 0)


def test_two_replicas_of_each_service_share_the_work_and_each_event_has_one_effect(cluster, mongo_uri):
    consumers = [cluster.start("probe", replica=n) for n in (1, 2)]
    cluster.start("members", replica=1)
    cluster.start("members", replica=2)
    storage = connect_storage(mongo_uri)
    effects = storage[cluster.database_name("probe")].effects

    began = time.monotonic()
    sent = fill_outbox(storage[cluster.database_name("members")], COMPETING)
    found = wait_for_all(effects, sent, timeout=90)
    shares = [int(replica.metric("engage_probe_events_consumed_total", outcome="processed")) for replica in consumers]
    published = storage[cluster.database_name("members")].outbox.count_documents({"state": "sent"})
    report("competing consumers", events_sent=found.sent, published=published, effects_found=found.effects,
           duplicates=found.duplicates, lost=found.lost, processed_by_replica=shares,
           total_s=round(time.monotonic() - began, 1))
    assert (found.lost, found.duplicates) == (0, 0)
    assert all(share > 0 for share in shares), "both replicas should have consumed"
