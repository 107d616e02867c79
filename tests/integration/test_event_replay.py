"""``engage events replay``: a new subscriber's queue gets the history it missed, in order per subject."""
import queue
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone

import pika
import pytest

from engage_subscriber import Subscriber
from services import cli
from tests.integration.ideas_support import start_world
from tests.support.bus import broker_user
from tests.support.platform import wait_for
from tests.support.shared_platform import shared_platform

RATINGS = [  # (rater, idea index, stars), interleaved across ideas and with changes of mind
    ("Rita Rater", 0, 4), ("Sam Scorer", 1, 2), ("Rita Rater", 1, 5), ("Tess Tester", 0, 3),
    ("Sam Scorer", 0, 1), ("Rita Rater", 0, 5), ("Tess Tester", 2, 4), ("Sam Scorer", 1, 3),
]


@pytest.fixture(scope="module")
def history(infrastructure):
    """A platform where three ideas were rated eight times, every event already published."""
    with shared_platform(infrastructure) as platform:
        world = start_world(platform)
        author = world.member("Ian Author")
        ideas = [world.submit(author, title=f"Idea number {n}") for n in range(3)]
        for rater, index, stars in RATINGS:
            answer = world.call("PUT", f"/api/v1/ideas/{ideas[index]['id']}/rating", world.member(rater),
                                json={"stars": stars})
            assert answer.status_code == 200, answer.text
        for service in ("members", "ideas"):
            wait_for(lambda: platform.db(service).outbox.count_documents({"state": {"$ne": "sent"}}) == 0,
                     message=f"{service}'s outbox to be published")
        yield world, ideas


@pytest.fixture
def operator_env(history, monkeypatch):
    """The environment ``engage`` reads, pointed at this module's broker and databases."""
    platform = history[0].platform
    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    for service in cli.STORED_SERVICES:
        monkeypatch.setenv(f"{service.upper()}_DATABASE", platform.database_name(service))
    return platform


def new_subscriber(platform, name: str, bindings) -> Subscriber:
    subscriber = Subscriber(platform.amqp_uri, name, bindings=bindings)
    subscriber.connect()  # the newcomer's queue exists (and is bound) before the operator replays into it
    subscriber.close()
    return subscriber


def receive(subscriber: Subscriber, count: int, timeout: float = 10.0) -> list:
    received: "queue.Queue" = queue.Queue()
    thread = threading.Thread(target=subscriber.run, args=(received.put,), daemon=True)
    thread.start()
    events = []
    deadline = time.monotonic() + timeout
    try:
        while len(events) < count:
            events.append(received.get(timeout=max(0.1, deadline - time.monotonic())))
        time.sleep(0.2)  # anything beyond the expected count would show up here
        while not received.empty():
            events.append(received.get_nowait())
    finally:
        subscriber.stop()
        thread.join(10)
    return events


def published(platform, service: str, name: str) -> list[dict]:
    return list(platform.db(service).outbox.find({"type": name}).sort("_id", 1))


def test_replay_feeds_a_new_queue_the_full_history_of_a_type_in_order_per_subject(operator_env, capsys):
    platform = operator_env
    subscriber = new_subscriber(platform, "newcomer.ratings", [("ideas.events", "idea.rated")])
    assert cli.main(["events", "replay", "--types", "idea.rated", "--to", "newcomer.ratings"]) == 0
    assert f"Replayed {len(RATINGS)} events into newcomer.ratings" in capsys.readouterr().out

    events = receive(subscriber, len(RATINGS))
    rows = published(platform, "ideas", "idea.rated")
    assert len(events) == len(rows) == len(RATINGS)
    assert [e.id for e in events] == [row["event_id"] for row in rows]  # publication order, ids kept
    assert all(e.name == "idea.rated" and e.replayed and e.routing_key == "idea.rated" for e in events)
    versions = defaultdict(list)
    for event in events:
        versions[event.subject].append(event.data["version"])
    assert len(versions) == 3
    for subject, seen in versions.items():
        assert seen == sorted(seen) and len(set(seen)) == len(seen), f"{subject} out of order: {seen}"


def test_replay_carries_the_events_exactly_as_they_were_published(history, operator_env):
    platform = operator_env
    subscriber = new_subscriber(platform, "newcomer.exact", [("ideas.events", "idea.rated")])
    assert cli.main(["events", "replay", "--types", "idea.rated", "--to", "newcomer.exact"]) == 0
    events = receive(subscriber, len(RATINGS))
    stored = {row["event_id"]: row["envelope"] for row in published(platform, "ideas", "idea.rated")}
    assert all(event.envelope == stored[event.id] for event in events)


def test_replay_since_a_time_sends_only_what_came_after_it(operator_env):
    platform = operator_env
    rows = published(platform, "ideas", "idea.rated")
    cut = rows[5]["created_at"].replace(tzinfo=timezone.utc)
    subscriber = new_subscriber(platform, "newcomer.recent", [("ideas.events", "idea.rated")])
    assert cli.main(["events", "replay", "--types", "idea.rated", "--since", cut.isoformat(),
                     "--to", "newcomer.recent"]) == 0
    events = receive(subscriber, len(rows) - 5)
    assert [e.id for e in events] == [row["event_id"] for row in rows[5:]]


def test_replay_merges_several_types_from_several_publishers_in_time_order(operator_env):
    platform = operator_env
    subscriber = new_subscriber(platform, "newcomer.mixed",
                                [("members.events", "member.registered"), ("ideas.events", "idea.submitted")])
    assert cli.main(["events", "replay", "--types", "member.registered", "idea.submitted",
                     "--to", "newcomer.mixed"]) == 0
    registered = published(platform, "members", "member.registered")
    submitted = published(platform, "ideas", "idea.submitted")
    events = receive(subscriber, len(registered) + len(submitted))
    assert sorted(e.id for e in events) == sorted(r["event_id"] for r in registered + submitted)
    times = [e.time for e in events]
    assert times == sorted(times)
    # Ratings were not asked for: nothing else arrived.
    assert {e.name for e in events} == {"member.registered", "idea.submitted"}


def test_replaying_twice_repeats_ids_so_a_subscriber_can_drop_the_repeats(operator_env):
    platform = operator_env
    subscriber = new_subscriber(platform, "newcomer.twice", [("ideas.events", "idea.rated")])
    for _ in range(2):
        assert cli.main(["events", "replay", "--types", "idea.rated", "--to", "newcomer.twice"]) == 0
    events = receive(subscriber, 2 * len(RATINGS))
    assert len(events) == 2 * len(RATINGS)
    assert len({e.dedupe_key for e in events}) == len(RATINGS)


def test_replay_into_a_queue_that_does_not_exist_fails_and_sends_nothing(operator_env, capsys):
    assert cli.main(["events", "replay", "--types", "idea.rated", "--to", "nobody.listening"]) == 1
    assert "nobody.listening" in capsys.readouterr().err


def test_replay_needs_no_default_exchange_it_goes_through_the_publishers_requeue_exchange(
        operator_env, infrastructure, monkeypatch):
    platform = operator_env
    subscriber = new_subscriber(platform, "newcomer.limited", [("ideas.events", "idea.rated")])
    with broker_user(infrastructure[1], platform.amqp_uri, write=r"^(?!amq\.default$).*") as amqp_uri:
        monkeypatch.setenv("AMQP_URI", amqp_uri)
        assert cli.main(["events", "replay", "--types", "idea.rated", "--to", "newcomer.limited"]) == 0
    events = receive(subscriber, len(RATINGS))
    assert len(events) == len(RATINGS)
    assert {e.exchange for e in events} == {"ideas.requeue"}
