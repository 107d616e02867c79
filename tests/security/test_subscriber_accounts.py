"""Outside subscriber accounts read the public events into queues of their own, and can do nothing else."""
import queue
import threading
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from engage_subscriber import Subscriber
from services import subscriber_accounts
from services.common.events import build_envelope, encode
from tests.support.bus import publish


@pytest.fixture
def account(infrastructure, vhost):
    name = f"acme-{uuid.uuid4().hex[:6]}"
    made = subscriber_accounts.create(infrastructure[1], vhost, name)
    yield made
    subscriber_accounts.revoke(infrastructure[1], name)


def refused(uri: str, act) -> str:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        act(channel)
        return "allowed"
    except ChannelClosedByBroker as closed:
        return "refused" if closed.reply_code == 403 else f"closed {closed.reply_code}"
    finally:
        if connection.is_open:
            connection.close()


def test_a_subscriber_account_reads_public_events_into_its_own_queue(account, vhost):
    outside = Subscriber(account.uri, f"subscriber.{account.name}.members",
                         bindings=[("members.events", "member.registered")])
    outside.connect()
    received: "queue.Queue" = queue.Queue()
    thread = threading.Thread(target=outside.run, args=(received.put,), daemon=True)
    thread.start()
    try:
        assert outside.ready.wait(10)
        member_id = str(uuid.uuid4())
        envelope = build_envelope("member.registered", {"member_id": member_id, "display_name": "Outside Seen",
                                                        "agency": "test", "version": 1},
                                  subject=member_id, source="urn:engage:test:members")
        publish(vhost, "members.events", "member.registered", encode(envelope))
        assert received.get(timeout=10).id == envelope["id"]
    finally:
        outside.stop()
        thread.join(10)


def test_a_subscriber_account_cannot_publish_an_event(account):
    user = account.user
    assert refused(account.uri, lambda ch: ch.basic_publish(
        "members.events", "member.registered", b"{}", pika.BasicProperties(user_id=user))) == "refused"


def test_a_subscriber_account_cannot_call_a_service_over_rpc(account):
    assert refused(account.uri, lambda ch: ch.basic_publish("nameko-rpc", "members.log_in", b"{}")) == "refused"


@pytest.mark.parametrize("name", ["notify.on_members_event", "subscriber.someone-else.ratings", "rpc-members"])
def test_a_subscriber_account_cannot_declare_or_read_queues_not_its_own(account, name):
    assert refused(account.uri, lambda ch: ch.queue_declare(name, durable=True)) == "refused"


def test_a_subscriber_account_cannot_bind_its_queue_to_a_private_exchange(account):
    own = f"subscriber.{account.name}.sneaky"
    assert refused(account.uri, lambda ch: (ch.queue_declare(own, durable=True),
                                            ch.queue_bind(own, "nameko-rpc", "members.*"))) == "refused"


def test_accounts_are_listed_and_a_revoked_one_is_gone(infrastructure, vhost):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    subscriber_accounts.create(infrastructure[1], vhost, name)
    assert name in subscriber_accounts.listed(infrastructure[1])
    assert subscriber_accounts.revoke(infrastructure[1], name)
    assert name not in subscriber_accounts.listed(infrastructure[1])
    assert not subscriber_accounts.revoke(infrastructure[1], name)
