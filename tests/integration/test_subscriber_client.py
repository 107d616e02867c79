"""The subscriber client against the real broker: what an outside system sees when a member rates an idea."""
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from engage_subscriber import Subscriber
from tests.integration.ideas_support import start_world
from tests.support.platform import wait_for
from tests.support.shared_platform import shared_platform

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "clients" / "python" / "examples" / "print_ratings.py"


@pytest.fixture(scope="module")
def world(infrastructure):
    with shared_platform(infrastructure) as platform:
        yield start_world(platform)


class Running:
    """A subscriber consuming in a background thread, collecting events (or failing on demand)."""

    def __init__(self, subscriber: Subscriber, handle=None):
        self.subscriber = subscriber
        self.events: "queue.Queue" = queue.Queue()
        self.handle = handle
        self.thread = threading.Thread(target=subscriber.run, args=(self.on_event,), daemon=True)

    def on_event(self, event):
        if self.handle:
            self.handle(event)
        self.events.put((time.monotonic(), event))

    def __enter__(self):
        self.thread.start()
        assert self.subscriber.ready.wait(10), "the subscriber did not start consuming"
        return self

    def __exit__(self, *exc):
        self.subscriber.stop()
        self.thread.join(10)

    def next(self, timeout=5.0):
        return self.events.get(timeout=timeout)


def queue_depth(platform, name: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(platform.amqp_uri))
    try:
        return connection.channel().queue_declare(name, passive=True).method.message_count
    finally:
        connection.close()


def test_every_publisher_declares_its_exchange_when_it_starts_before_any_event(world):
    # ideas has published nothing yet in this module: a subscriber can still bind to ideas.events.
    assert world.platform.db("ideas").outbox.count_documents({}) == 0
    import pika

    def exchange_exists(name):
        connection = pika.BlockingConnection(pika.URLParameters(world.platform.amqp_uri))
        try:
            connection.channel().exchange_declare(name, passive=True)
            return True
        except pika.exceptions.ChannelClosedByBroker:
            return False
        finally:
            if connection.is_open:
                connection.close()

    wait_for(lambda: exchange_exists("ideas.events"), timeout=5, message="ideas.events to be declared")


def test_a_rating_made_through_the_api_reaches_the_subscriber_within_a_second(world):
    rater = world.member("Rita Rater")
    idea = world.submit(world.member("Ian Author"))
    subscriber = Subscriber(world.platform.amqp_uri, "outside.ratings", bindings=[("ideas.events", "idea.rated")])
    with Running(subscriber) as running:
        rated_at = time.monotonic()
        answer = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", rater, json={"stars": 4})
        assert answer.status_code == 200, answer.text
        arrived_at, event = running.next()
    assert arrived_at - rated_at < 1.0
    assert (event.name, event.type, event.subject) == ("idea.rated", "au.gov.engage.idea.rated.v1", idea["id"])
    assert event.exchange == "ideas.events" and event.routing_key == "idea.rated"
    assert event.publisher == "ideas"
    assert event.data["stars"] == 4 and event.data["member_id"] == world.ids["Rita Rater"]
    assert event.data["count"] == 1 and isinstance(event.data["version"], int)
    assert queue_depth(world.platform, "outside.ratings") == 0  # acked once the callback returned


def test_one_queue_can_bind_types_from_several_exchanges(world):
    subscriber = Subscriber(world.platform.amqp_uri, "outside.mixed",
                            bindings=[("ideas.events", "idea.submitted"), ("members.events", "member.registered")])
    with Running(subscriber) as running:
        world.member("Nora Newcomer")
        _, registered = running.next()
        idea = world.submit(world.tokens["Nora Newcomer"])
        _, submitted = running.next()
    assert (registered.name, registered.exchange) == ("member.registered", "members.events")
    assert registered.data["display_name"] == "Nora Newcomer" and "email" not in registered.data
    assert (submitted.name, submitted.subject) == ("idea.submitted", idea["id"])


def test_the_durable_queue_keeps_events_published_while_the_subscriber_is_away(world):
    subscriber = Subscriber(world.platform.amqp_uri, "outside.away", bindings=[("ideas.events", "idea.rated")])
    subscriber.connect()  # declares and binds the queue, then goes away
    subscriber.close()
    idea = world.submit(world.member("Ian Author"))
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", world.member("Rita Rater"), json={"stars": 2})
    wait_for(lambda: queue_depth(world.platform, "outside.away") == 1, message="the rating waiting in the queue")
    with Running(Subscriber(world.platform.amqp_uri, "outside.away",
                            bindings=[("ideas.events", "idea.rated")])) as running:
        _, event = running.next()
    assert event.subject == idea["id"] and event.data["stars"] == 2


def test_a_failing_callback_gets_the_event_again_and_it_is_acked_only_after_success(world):
    failures = []

    def fail_first_time(event):
        if not failures:
            failures.append(event.id)
            raise RuntimeError("the outside system's database is down")

    subscriber = Subscriber(world.platform.amqp_uri, "outside.flaky", bindings=[("ideas.events", "idea.rated")],
                            requeue_delay=0.1)
    with Running(subscriber, handle=fail_first_time) as running:
        idea = world.submit(world.member("Ian Author"))
        world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", world.member("Rita Rater"), json={"stars": 5})
        _, event = running.next()
    assert failures == [event.id] and event.redelivered
    assert queue_depth(world.platform, "outside.flaky") == 0


def test_a_message_that_is_not_an_event_is_rejected_and_the_next_one_still_arrives(world):
    import pika

    subscriber = Subscriber(world.platform.amqp_uri, "outside.poisoned", bindings=[("ideas.events", "idea.rated")])
    with Running(subscriber) as running:
        connection = pika.BlockingConnection(pika.URLParameters(world.platform.amqp_uri))
        connection.channel().basic_publish("", "outside.poisoned", b"not an event")
        connection.close()
        idea = world.submit(world.member("Ian Author"))
        world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", world.member("Rita Rater"), json={"stars": 3})
        _, event = running.next()
    assert event.subject == idea["id"]
    assert queue_depth(world.platform, "outside.poisoned") == 0


def test_a_closed_networks_idea_events_reach_only_a_subscriber_that_asks_for_them(world):
    author = world.member("Cleo Closed")
    created = world.call("POST", "/api/v1/networks", author, json={"name": "Closed circle for subscribers",
                                                                     "description": "x", "closed": True})
    slug = created.json()["slug"]
    wait_for(lambda: world.platform.db("ideas").network_memberships.count_documents({"network": slug, "member": True}),
             message="ideas hears of the network's first member")
    public = Subscriber(world.platform.amqp_uri, "outside.public", bindings=[("ideas.events", "idea.submitted")])
    trusted = Subscriber(world.platform.amqp_uri, "outside.trusted", bindings=[("ideas.events", "idea.submitted")],
                         include_restricted=True)
    with Running(public) as outside, Running(trusted) as inside:
        closed = world.submit(author, title="Kept in the circle", network=slug)
        open_idea = world.submit(author, title="Shared with everyone")
        assert [inside.next()[1].subject, inside.next()[1].subject] == [closed["id"], open_idea["id"]]
        _, first = outside.next()
        assert first.subject == open_idea["id"] and first.is_public
    assert queue_depth(world.platform, "outside.public") == 0  # the closed one was acknowledged, not left behind


def test_subscribing_to_an_exchange_that_does_not_exist_says_so(world):
    with pytest.raises(LookupError, match="nobody.events"):
        Subscriber(world.platform.amqp_uri, "outside.nobody", bindings=[("nobody.events", "x.happened")]).connect()


def test_the_example_script_prints_a_rating_within_a_second_of_it_being_made(world):
    rater = world.member("Rita Rater")
    idea = world.submit(world.member("Ian Author"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "clients" / "python"), "AMQP_URI": world.platform.amqp_uri}
    script = subprocess.Popen([sys.executable, str(EXAMPLE), "--queue", "outside.example"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "Waiting for ratings" in script.stdout.readline()
        # The script declares its queue right after that line; the rating must find it bound.
        wait_for(lambda: _queue_exists(world.platform, "outside.example"), message="the example's queue")
        rated_at = time.monotonic()
        answer = requests.put(f"{world.url}/api/v1/ideas/{idea['id']}/rating", json={"stars": 5},
                              headers={"Authorization": f"Bearer {rater}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        line = script.stdout.readline()
        assert time.monotonic() - rated_at < 1.0
        assert f"idea {idea['id']} rated 5 stars" in line and world.ids["Rita Rater"] in line
    finally:
        script.terminate()
        script.wait(10)


def _queue_exists(platform, name: str) -> bool:
    try:
        queue_depth(platform, name)
        return True
    except Exception:
        return False
