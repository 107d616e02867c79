"""A small benchmark run counts what it claims to: every event once, through the kit and through the floor.

The speed is not checked here, only that the benchmark's counters match
what was stored and published.
"""
import time

import pytest

from bench import event_path
from bench.report import Progress
from bench.system import System


@pytest.fixture(scope="module")
def system():
    running = System()
    running.start_infrastructure()
    event_path.start_pipeline(running)
    yield running
    running.close()


def test_a_fresh_storage_server_has_no_data_changes_in_its_oplog():
    fresh = System()
    try:
        fresh.storage.start()
        assert fresh.oplog_entries()[1] == 0
    finally:
        fresh.close()


def test_every_event_through_the_kit_is_published_once_and_has_one_effect(system):
    began = time.time()
    drain = event_path.framework_rate(system, 25, Progress())
    # The drain ends at the newest effect's own timestamp: inside the call, not at the next poll.
    assert drain.events == 25 and 0 < drain.seconds <= time.time() - began
    source, sink = system.mongo()["bench_event_source"], system.mongo()["bench_event_sink"]
    assert source.members.count_documents({}) == 25
    assert source.outbox.count_documents({"state": "sent"}) == 25
    assert source.outbox.count_documents({"state": "pending"}) == 0
    effects = {doc["_id"] for doc in sink.effects.find()}
    assert effects == {doc["event_id"] for doc in source.outbox.find()}
    assert sink.processed_events.count_documents({}) == 25


def test_every_event_through_the_bare_script_has_one_effect(system):
    began = time.time()
    drain = event_path.bare_rate(system, 25, Progress(), database="bench_bare_counted")
    assert drain.events == 25 and 0 < drain.seconds <= time.time() - began
    bare = system.mongo()["bench_bare_counted"]
    assert bare.effects.count_documents({}) == 25
    assert bare.outbox.count_documents({"state": "sent"}) == 25
    assert {doc["_id"] for doc in bare.effects.find()} == {doc["envelope"]["id"] for doc in bare.outbox.find()}
