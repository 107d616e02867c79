"""Publishing to RabbitMQ with publisher confirms.

``ConfirmedPublisher.publish`` returns only once the broker has confirmed the
message (persistent; with ``mandatory=True``, also routed to a queue); any
failure raises, and the caller keeps the message (an outbox row, an unacked
delivery, a dead letter) until a later attempt succeeds. The connection is
re-made on the next call after an error, so a broker restart needs no
operator action.
"""
from __future__ import annotations

import logging
from typing import Iterable
from urllib.parse import unquote, urlsplit

from kombu import Connection, Exchange, Producer, Queue

log = logging.getLogger(__name__)


QUEUE_TYPES = ("classic", "quorum")


def queue_type(config: dict) -> str:
    """``QUEUE_TYPE``: ``classic`` (one node's queue) or ``quorum`` (replicated on a cluster; see docs/scaling.md)."""
    value = str(config.get("QUEUE_TYPE") or "classic").strip().lower()
    if value not in QUEUE_TYPES:
        from services.common.config import ConfigError

        raise ConfigError(f"Setting QUEUE_TYPE is {value!r}; it must be one of {', '.join(QUEUE_TYPES)}.")
    return value


def durable_queue_arguments(config: dict) -> dict:
    """Arguments every durable queue a service declares carries: its type, when that is quorum.

    A queue's type cannot change once declared, so the setting is chosen before a
    broker first sees the platform (docs/scaling.md, "RabbitMQ cluster with quorum queues").
    """
    return {"x-queue-type": "quorum"} if queue_type(config) == "quorum" else {}


def retry_queue_arguments(config: dict) -> dict:
    """A retry queue's extra arguments: on a quorum queue, dead-letter at least once and refuse rather than drop.

    With ``at-least-once`` the broker keeps an expired message until the queue it
    goes back to has confirmed it, so a node lost in between loses nothing; that
    strategy needs ``reject-publish`` overflow. Classic queues dead-letter at most once.
    """
    arguments = durable_queue_arguments(config)
    if arguments:
        arguments.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    return arguments


def broker_user(amqp_uri: str) -> str:
    """The user an AMQP URI logs in as: what RabbitMQ accepts as a message's ``user_id`` on that connection.

    Every message we publish carries it, so a receiver learns who sent it from
    the broker's check instead of from anything the sender wrote in the body
    or headers (RabbitMQ refuses a ``user_id`` that is not the connection's user).
    """
    return unquote(urlsplit(amqp_uri).username or "guest")


def events_exchange(service: str) -> Exchange:
    """``<service>.events``: topic, durable, the public face of a publishing service."""
    return Exchange(f"{service}.events", type="topic", durable=True)


def private_exchange(service: str) -> Exchange:
    """``<service>.private``: topic, durable; carries secrets to the few services the broker lets read it."""
    return Exchange(f"{service}.private", type="topic", durable=True)


def peer_events_exchange(service: str, declare: bool) -> Exchange:
    """Another service's exchange, for binding a consumer queue.

    Where the broker's definitions create every ``*.events`` exchange (as in
    deploy/), services may not configure each other's exchanges, so the
    consumer only checks it exists (``declare=False``: a passive declare).
    """
    return peer_exchange(f"{service}.events", declare)


def peer_exchange(name: str, declare: bool) -> Exchange:
    """Another service's ``<service>.events`` or ``<service>.private`` exchange by name (see ``peer_events_exchange``)."""
    return Exchange(name, type="topic", durable=True, passive=not declare)


def retry_exchange(service: str) -> Exchange:
    """Where a service sends failed messages; each ``<service>.retry.<n>`` queue binds by its own name."""
    return Exchange(f"{service}.retry", type="direct", durable=True)


def requeue_exchange(service: str) -> Exchange:
    """The one way into a service's own consumer queues: each binds here by its own name (``engage-queue`` header).

    Retry queues dead-letter back through it, work is sent through it, and
    replays publish through it, so nothing needs the default exchange (which
    the services' broker users may not write to).
    """
    return Exchange(f"{service}.requeue", type="headers", durable=True)


QUEUE_HEADER = "engage-queue"


def addressed_to(queue: str) -> dict:
    """Binding arguments of a queue on a requeue exchange: only messages naming it reach it."""
    return {"x-match": "all", QUEUE_HEADER: queue}


class QueueMissing(LookupError):
    """The queue does not exist: the broker would drop everything sent to it."""


def require_queue(amqp_uri: str, name: str, missing: str = "") -> None:
    """Raise ``QueueMissing`` (its message ends with ``missing``) unless queue ``name`` exists; a passive declare."""
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            channel.queue_declare(name, passive=True)
        except connection.channel_errors:
            raise QueueMissing(f"queue {name} does not exist{'; ' + missing if missing else ''}") from None
        finally:
            try:
                channel.close()
            except Exception:  # the broker closes a channel after a failed passive declare
                pass


class ConfirmedPublisher:
    """One AMQP connection and channel in confirm mode. Not shared between green threads.

    Each message carries the connection's user as ``user_id`` (see ``broker_user``).
    """

    def __init__(self, amqp_uri: str, *, heartbeat: int = 60):
        self.amqp_uri = amqp_uri
        self.user_id = broker_user(amqp_uri)
        self.heartbeat = heartbeat
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._declared: set[str] = set()

    def _ensure(self) -> Producer:
        if self._producer is None:
            connection = Connection(self.amqp_uri, heartbeat=self.heartbeat,
                                    transport_options={"confirm_publish": True}, connect_timeout=5)
            connection.ensure_connection(max_retries=1)
            self._connection = connection
            self._producer = Producer(connection.channel())
            self._declared = set()
        return self._producer

    def declare(self, entities: Iterable[Exchange | Queue]) -> None:
        producer = self._ensure()
        for entity in entities:
            key = f"{type(entity).__name__}:{entity.name}"
            if key not in self._declared:
                entity.bind(producer.channel).declare()
                self._declared.add(key)

    def bind(self, queue: str, exchange: Exchange, arguments: dict) -> None:
        """Bind an existing queue to ``exchange`` (declared here if missing); binding again changes nothing."""
        try:
            self.declare([exchange])
            self._ensure().channel.queue_bind(queue, exchange.name, routing_key="", arguments=arguments)
        except Exception:
            self.close()
            raise

    def publish(self, body: bytes, *, exchange: Exchange | str, routing_key: str, message_id: str,
                content_type: str, headers: dict | None = None, declare: Iterable = (),
                mandatory: bool = False) -> None:
        """Publish one persistent message and wait for the broker's confirm.

        With ``mandatory``, a message no binding routes to a queue is returned
        by the broker and this raises instead of reporting it delivered.
        """
        try:
            self.declare(declare)
            producer = self._ensure()
            producer.publish(
                body, exchange=exchange, routing_key=routing_key, delivery_mode=2,
                content_type=content_type, content_encoding="binary", message_id=message_id,
                headers=headers or {}, user_id=self.user_id, retry=False, mandatory=mandatory,
            )
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # the broker may already be gone
                log.debug("closing a broken publisher connection", exc_info=True)
        self._connection = None
        self._producer = None
