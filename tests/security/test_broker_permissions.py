"""Scenario 14: with deploy/'s RabbitMQ definitions, a service's user writes only its own exchange.

The users, permissions, exchanges and policies of ``deploy/rabbitmq/definitions.json``
are applied to a vhost of the private broker (with passwords of the test's
own). The ideas service then runs as the ``ideas`` user and the members
service as ``members``: RPC works, ideas reads ``members.events``, and a
publish by ``members`` to ``ideas.events`` is refused by the broker.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import quote

import pika
import pytest
import requests

from services.common.errors import NotFound
from tests.chaos.conftest import report
from tests.support.platform import wait_for

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


@pytest.fixture
def secured_vhost(infrastructure):
    amqp, management, _ = infrastructure
    definitions = json.loads(DEFINITIONS.read_text())
    vhost = f"perm-{uuid.uuid4().hex[:8]}"
    suffix = uuid.uuid4().hex[:6]
    session = requests.Session()
    session.put(f"{management}/api/vhosts/{vhost}", timeout=10).raise_for_status()
    users = {}
    for user in definitions["users"]:
        name, password = f"{user['name']}-{suffix}", uuid.uuid4().hex
        session.put(f"{management}/api/users/{name}", json={"password": password, "tags": ""},
                    timeout=10).raise_for_status()
        users[user["name"]] = (name, password)
    for permission in definitions["permissions"]:
        name = users[permission["user"]][0]
        session.put(f"{management}/api/permissions/{vhost}/{name}", json={
            key: permission[key] for key in ("configure", "write", "read")}, timeout=10).raise_for_status()
    for exchange in definitions["exchanges"]:
        session.put(f"{management}/api/exchanges/{vhost}/{quote(exchange['name'], safe='')}", json={
            key: exchange[key] for key in ("type", "durable", "auto_delete", "internal", "arguments")},
            timeout=10).raise_for_status()
    for policy in definitions["policies"]:
        session.put(f"{management}/api/policies/{vhost}/{quote(policy['name'], safe='')}", json={
            key: policy[key] for key in ("pattern", "apply-to", "priority", "definition")}, timeout=10).raise_for_status()
    host = amqp.split("@", 1)[1].split("/", 1)[0]
    uris = {service: f"amqp://{name}:{password}@{host}/{vhost}" for service, (name, password) in users.items()}
    yield uris, definitions
    session.delete(f"{management}/api/vhosts/{vhost}", timeout=10)
    for name, _ in users.values():
        session.delete(f"{management}/api/users/{name}", timeout=10)


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


def test_a_services_user_publishes_only_to_its_own_exchange_and_reads_every_events_exchange(
        secured_vhost, mongo_uri):
    uris, definitions = secured_vhost
    from tests.support.platform import Platform

    platform = Platform(amqp_uri=uris["members"], mongo_uri=mongo_uri, prefix=f"p{uuid.uuid4().hex[:8]}")
    platform.overrides = {"members": {"AMQP_URI": uris["members"], "DECLARE_PEER_EXCHANGES": False},
                          "ideas": {"AMQP_URI": uris["ideas"], "DECLARE_PEER_EXCHANGES": False}}
    try:
        platform.start("members", "ideas")
        platform.amqp_uri = uris["operator"]
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
