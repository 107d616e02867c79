"""Scenario 14: with deploy/'s RabbitMQ definitions, a service's user writes only its own exchange.

Every run loads the users, permissions, exchanges and policies of
``deploy/rabbitmq/definitions.json`` into its broker (the test's vhost gets
them too), with passwords of the run's own. The ideas service runs as the
``ideas`` user and the members service as ``members``: RPC works, ideas reads
``members.events``, a publish by ``members`` to ``ideas.events`` is refused by
the broker, and the private node has no ``guest`` user at all.
"""
from __future__ import annotations

import uuid

import pika
import pytest

from services.common.errors import NotFound
from tests.chaos.conftest import report
from tests.support.platform import wait_for


@pytest.fixture
def secured_vhost(platform):
    """The test's platform and each project user's address on its vhost."""
    users = ("members", "ideas", "notify", "archive", "web", "operator")
    yield platform, {user: platform.uri_for(user) for user in users}


def _publish(uri: str, exchange: str, routing_key: str) -> str:
    """'published' when the broker confirmed, else the broker's refusal."""
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, routing_key, b"{}", pika.BasicProperties(delivery_mode=2))
        return "published"
    except (pika.exceptions.ChannelClosedByBroker, pika.exceptions.UnroutableError) as error:
        return str(getattr(error, "reply_code", error))
    finally:
        if connection.is_open:
            connection.close()


def _bind_and_read(uri: str, queue: str, exchange: str) -> str:
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, exchange, routing_key="#")
        return "bound"
    except pika.exceptions.ChannelClosedByBroker as error:
        return str(error.reply_code)
    finally:
        if connection.is_open:
            connection.close()


def test_a_services_user_publishes_only_to_its_own_exchange_and_reads_every_events_exchange(secured_vhost):
    platform, uris = secured_vhost
    try:
        platform.start("members", "ideas")
        with platform.rpc() as rpc:  # RPC through nameko-rpc as an operator client
            rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
            member = rpc.members.register({"email": "rosa@example.gov.au", "display_name": "Rosa Nguyen",
                                           "password": "a long enough password", "agency": "dta"})
            try:  # an answer of any kind proves the request and the reply crossed nameko-rpc
                rpc.ideas.get_idea(str(uuid.uuid4()))
                ideas_answer = "found"
            except NotFound:
                ideas_answer = "not found"
        # the ideas service, connected as "ideas", consumed members.events
        wait_for(lambda: platform.db("ideas").processed_events.count_documents({}) >= 1, timeout=15,
                 message="ideas to consume member.registered as the ideas user")
        outcomes = {
            "members publishes to members.events": _publish(uris["members"], "members.events", "member.registered"),
            "members publishes to ideas.events": _publish(uris["members"], "ideas.events", "idea.rated"),
            "ideas publishes to members.events": _publish(uris["ideas"], "members.events", "member.deactivated"),
            "notify publishes to archive.events": _publish(uris["notify"], "archive.events", "idea.archived"),
        }
        reads = {f"{service} reads {exchange}": _bind_and_read(uris[service], f"{service}.probe-{n}", exchange)
                 for n, (service, exchange) in enumerate([(s, f"{e}.events") for s in ("members", "ideas", "notify")
                                                         for e in ("members", "ideas", "notify", "archive")])}
        report("broker permissions", publishes=outcomes, reads_allowed=sum(1 for r in reads.values() if r == "bound"),
               reads_tried=len(reads), member_registered_over_rpc=bool(member.get("id")),
               ideas_rpc_answered=ideas_answer)
        assert outcomes["members publishes to members.events"] == "published"
        assert outcomes["members publishes to ideas.events"] == "403"
        assert outcomes["ideas publishes to members.events"] == "403"
        assert outcomes["notify publishes to archive.events"] == "403"
        assert set(reads.values()) == {"bound"}, reads
    finally:
        platform.stop()


def test_a_broker_the_project_starts_refuses_guest(infrastructure):
    amqp, _, _ = infrastructure
    host = amqp.split("@", 1)[1].split("/", 1)[0]
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{host}/"))
