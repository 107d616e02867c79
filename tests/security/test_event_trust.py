"""Who published an event is proven by the broker, not claimed by the body (DESIGN: Event contract).

Every forgery a broker user can actually attempt, given the definitions'
permissions: a service writing its own exchange in another service's name,
a body whose type is not its routing key, an administrator writing another
service's exchange, a message with no ``user_id``. Each is dead-lettered
with the reason by every consumer, never handled, and never replayed; a
genuine event that was retried or replayed from dead letters is handled.
"""
import queue
import threading
import uuid

import pytest

from engage_subscriber import Subscriber
from services import cli
from services.common.contract import spec_for
from services.common.events import build_envelope, encode
from tests.support.bus import publish
from tests.support.platform import wait_for

MEMBERS_SOURCE = "urn:engage:test:members"


def registered(source=MEMBERS_SOURCE, name="Rosa Nguyen"):
    member_id = str(uuid.uuid4())
    return build_envelope("member.registered", {"member_id": member_id, "display_name": name, "agency": "test",
                                                "version": 1}, subject=member_id, source=source)


def submitted(source):
    idea_id = str(uuid.uuid4())
    data = {**spec_for("idea.submitted", 1).example, "idea_id": idea_id, "title": "Forged idea"}
    return build_envelope("idea.submitted", data, subject=idea_id, source=source)


def dead_letter(db, event_id):
    return wait_for(lambda: db.dead_letters.find_one({"event_id": event_id}), timeout=15,
                    message="the event in dead letters")


def _operator_env(monkeypatch, platform):
    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    monkeypatch.setenv("PROBE_DATABASE", platform.database_name("probe"))


@pytest.mark.parametrize("as_user, user_id, why", [
    ("operator", "operator", "by broker user operator, not members"),
    ("members", None, "by broker user (none), not members"),
])
def test_an_event_on_members_exchange_not_stamped_by_members_is_dead_lettered_at_once(platform, as_user, user_id, why):
    platform.start("probe")
    db = platform.db("probe")
    forged = registered()
    _publish_stamped(platform.amqp_uri, "members.events", "member.registered", forged, as_user, user_id)
    record = dead_letter(db, forged["id"])
    assert "untrusted publisher" in record["error"] and why in record["error"]
    assert record["attempts"] == 1 and record["refused"] is True
    assert db.effects.count_documents({}) == 0


def test_a_service_writing_its_own_exchange_in_another_services_name_is_refused_by_every_consumer(platform):
    """ideas may write ideas.events only, so its forgeries are bodies naming someone else on its own exchange."""
    platform.start("notify", "archive")
    in_archives_name = submitted("urn:engage:test:archive")
    posing_as_member_event = registered()  # a member.registered body routed as idea.submitted
    publish(platform.amqp_uri, "ideas.events", "idea.submitted", encode(in_archives_name))
    publish(platform.amqp_uri, "ideas.events", "idea.submitted", encode(posing_as_member_event))
    for service in ("notify", "archive"):
        db = platform.db(service)
        named = dead_letter(db, in_archives_name["id"])
        assert "untrusted publisher" in named["error"] and "names archive, but ideas published it" in named["error"]
        routed = dead_letter(db, posing_as_member_event["id"])
        assert "untrusted publisher" in routed["error"] and named["refused"] and routed["refused"]
    assert platform.db("archive").ideas.count_documents({}) == 0


def test_a_retried_genuine_event_is_handled_though_the_retry_carries_the_consumers_own_user(platform):
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 1})
    genuine = registered(name="Retried Once")
    publish(platform.amqp_uri, "members.events", "member.registered", encode(genuine))
    wait_for(lambda: db.effects.count_documents({"event_id": genuine["id"]}) == 1, timeout=15,
             message="the retried event handled")
    assert db.dead_letters.count_documents({}) == 0


def test_a_replayed_dead_letter_carries_its_proven_publisher_and_is_handled(platform, monkeypatch):
    platform.start("probe")
    db = platform.db("probe")
    db.switches.insert_one({"_id": "fail", "remaining": 3})  # the first try and both retries
    genuine = registered(name="Replayed Later")
    publish(platform.amqp_uri, "members.events", "member.registered", encode(genuine))
    record = dead_letter(db, genuine["id"])
    assert record["publisher"] == "members" and record["refused"] is False
    _operator_env(monkeypatch, platform)
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    wait_for(lambda: db.effects.count_documents({"event_id": genuine["id"]}) == 1, message="the replayed effect")


def test_a_dead_letter_replayed_without_its_publisher_is_refused_again(platform):
    """A message on the requeue exchange that names no proven publisher (as an old record would) is not trusted."""
    platform.start("probe")
    db = platform.db("probe")
    genuine = registered()
    publish(platform.amqp_uri, "probe.requeue", "", encode(genuine), headers={"engage-queue": "probe.on_member_registered"})
    record = dead_letter(db, genuine["id"])
    assert "without the publisher proven at its first check" in record["error"]
    assert db.effects.count_documents({}) == 0


def test_an_event_that_failed_the_check_is_never_replayed(platform, monkeypatch, capsys):
    platform.start("probe")
    db = platform.db("probe")
    forged = registered()
    publish(platform.amqp_uri, "members.events", "member.registered", encode(forged), as_user="operator")
    record = dead_letter(db, forged["id"])
    _operator_env(monkeypatch, platform)
    capsys.readouterr()
    assert cli.main(["dead-letters", "replay", "--service", "probe", "--id", record["_id"]]) == 1
    assert "failed the publisher check" in capsys.readouterr().err
    assert cli.main(["dead-letters", "replay", "--service", "probe"]) == 0
    assert "1 dead letter(s) failed the publisher check and are never replayed" in capsys.readouterr().err
    assert db.dead_letters.find_one({"_id": record["_id"]})["state"] == "dead"
    assert db.effects.count_documents({}) == 0


def test_the_subscriber_client_rejects_a_forged_event_and_takes_the_genuine_one(platform):
    outside = Subscriber(platform.amqp_uri, f"outside.{uuid.uuid4().hex[:6]}",
                         bindings=[("ideas.events", "#"), ("members.events", "member.registered")])
    outside.connect()
    received: "queue.Queue" = queue.Queue()
    thread = threading.Thread(target=outside.run, args=(received.put,), daemon=True)
    thread.start()
    try:
        assert outside.ready.wait(10)
        forged_member_event = registered()  # ideas' own exchange, members' name: what the ideas user can do
        publish(platform.amqp_uri, "ideas.events", "member.registered", encode(forged_member_event))
        publish(platform.amqp_uri, "members.events", "member.registered", encode(registered()), as_user="operator")
        genuine = registered(name="Genuine")
        publish(platform.amqp_uri, "members.events", "member.registered", encode(genuine))
        event = received.get(timeout=10)
        assert event.id == genuine["id"] and event.publisher == "members"
        with pytest.raises(queue.Empty):
            received.get(timeout=0.5)
    finally:
        outside.stop()
        thread.join(10)


def _publish_stamped(amqp_uri, exchange, key, envelope, as_user, user_id):
    """Publish as ``as_user`` stamping ``user_id`` (None: no stamp at all)."""
    import pika

    from deploy.local import broker_users

    connection = pika.BlockingConnection(pika.URLParameters(broker_users.uri_for(amqp_uri, as_user)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, key, encode(envelope),
                              pika.BasicProperties(content_type="application/json", delivery_mode=2, user_id=user_id))
    finally:
        connection.close()

