"""Plain pika helpers for tests: what an outside system would do."""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pika


class Subscriber:
    """A durable-enough queue of the test's own, bound to chosen routing keys on an exchange."""

    def __init__(self, amqp_uri: str, exchange: str, *routing_keys: str):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        for key in routing_keys:
            self.channel.queue_bind(self.queue, exchange, routing_key=key)

    def next(self, timeout: float = 10) -> tuple[dict, pika.BasicProperties]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is not None:
                return json.loads(body), properties
            self.connection.sleep(0.05)
        raise AssertionError("no event arrived")

    def close(self) -> None:
        self.connection.close()


def publish(amqp_uri: str, exchange: str, routing_key: str, body: bytes | str,
            content_type: str = "application/cloudevents+json; charset=utf-8", *, as_user: str | None = None,
            headers: dict | None = None) -> None:
    """Publish as a project broker user stamping its ``user_id``: by default the service owning ``exchange``.

    That is what the service's own relay does, so consumers accept it as that service's event.
    """
    from deploy.local import broker_users

    user = as_user or (exchange[:-len(".events")] if exchange.endswith(".events") else broker_users.OPERATOR)
    connection = pika.BlockingConnection(pika.URLParameters(broker_users.uri_for(amqp_uri, user)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, routing_key, body if isinstance(body, bytes) else body.encode(),
                              pika.BasicProperties(content_type=content_type, delivery_mode=2, user_id=user,
                                                   headers=headers))
    finally:
        connection.close()


@contextmanager
def broker_user(management_url: str, vhost_amqp_uri: str, *, write: str, configure: str = ".*",
                read: str = ".*") -> Iterator[str]:
    """An AMQP URI on the vhost of ``vhost_amqp_uri`` for a new user with these permission patterns; deleted after.

    RabbitMQ checks writes to the default exchange against the name ``amq.default``.
    """
    from deploy.local.broker import management_request

    parts = urlsplit(vhost_amqp_uri)
    vhost = parts.path.lstrip("/")
    user, password = f"limited-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    management_request(management_url, "PUT", f"/api/users/{user}", {"password": password, "tags": ""})
    try:
        management_request(management_url, "PUT", f"/api/permissions/{vhost}/{user}",
                           {"configure": configure, "write": write, "read": read})
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
        yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    finally:
        management_request(management_url, "DELETE", f"/api/users/{user}")
