"""A durable queue of your own, bound to the event types you choose, consumed with pika.

Guarantee: a message is acked only after your callback returns. If the
callback raises, the message is returned to the queue (after
``requeue_delay`` seconds, so a failing handler does not spin) and delivered
again. A message that is not a valid event can never succeed: it is rejected
without requeueing, which sends it to your queue's dead-letter exchange when
you give one. So is an event whose publisher the broker does not prove
(its AMQP ``user_id`` is not the service its exchange and ``source`` name).
The queue is durable and outlives the subscriber, so events
published while your system is down wait for it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, List, Optional, Tuple

import pika
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker, ConnectionClosedByBroker

from engage_subscriber.envelope import Event, InvalidEnvelope, read_event
from engage_subscriber.trust import UntrustedPublisher, check_publisher

log = logging.getLogger("engage_subscriber")

REPLAYED_HEADER = "engage-replayed"
ROUTING_KEY_HEADER = "engage-routing-key"
Binding = Tuple[str, str]


class Subscriber:
    """Consume events from ``bindings`` (``(exchange, routing key)`` pairs) through the durable queue ``queue``.

    ``Subscriber(uri, "my-system.ideas", bindings=[("ideas.events", "idea.rated"),
    ("members.events", "member.registered")]).run(callback)``.

    Exchanges are the platform's (``<service>.events``); they are checked, not
    created, unless ``declare_exchanges`` is set (then they are declared the
    way the platform declares them: topic, durable). Routing keys are event
    types, and topic wildcards work (``idea.*``).

    Events about a closed network's ideas (``event.audience`` is
    ``network:<slug>``) are acknowledged and not passed to the callback unless
    ``include_restricted`` is set: only a system that keeps them to that
    network's members should set it.
    """

    def __init__(self, amqp_uri: str, queue: str, bindings: Iterable[Binding], *, prefetch: int = 10,
                 requeue_delay: float = 1.0, dead_letter_exchange: Optional[str] = None,
                 declare_exchanges: bool = False, reconnect_delay: float = 2.0, include_restricted: bool = False):
        self.amqp_uri = amqp_uri
        self.queue = queue
        self.bindings: List[Binding] = [(str(exchange), str(key)) for exchange, key in bindings]
        if not self.bindings:
            raise ValueError("a subscriber needs at least one (exchange, routing key) binding")
        self.prefetch = prefetch
        self.requeue_delay = requeue_delay
        self.dead_letter_exchange = dead_letter_exchange
        self.declare_exchanges = declare_exchanges
        self.reconnect_delay = reconnect_delay
        self.include_restricted = include_restricted
        self._connection: Optional[pika.BlockingConnection] = None
        self._channel = None
        self._stopping = threading.Event()
        self.ready = threading.Event()

    # -- setting up ---------------------------------------------------------

    def connect(self) -> None:
        """Connect, declare the queue and bind it. ``run`` does this itself; call it to set up without consuming."""
        parameters = pika.URLParameters(self.amqp_uri)
        self._connection = pika.BlockingConnection(parameters)
        channel = self._connection.channel()
        for exchange in sorted({exchange for exchange, _ in self.bindings}):
            try:
                channel.exchange_declare(exchange, exchange_type="topic", durable=True,
                                         passive=not self.declare_exchanges)
            except ChannelClosedByBroker as exc:
                self.close()
                raise LookupError(f"exchange {exchange} does not exist on the broker (is its publishing service "
                                  f"running?): {exc.reply_text}") from None
        arguments = {"x-dead-letter-exchange": self.dead_letter_exchange} if self.dead_letter_exchange else None
        channel.queue_declare(self.queue, durable=True, arguments=arguments)
        for exchange, routing_key in self.bindings:
            channel.queue_bind(self.queue, exchange, routing_key=routing_key)
        channel.basic_qos(prefetch_count=self.prefetch)
        self._channel = channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # already gone
                log.debug("closing the connection failed", exc_info=True)

    # -- consuming ----------------------------------------------------------

    def run(self, callback: Callable[[Event], None], *, reconnect: bool = True) -> None:
        """Consume until ``stop()`` is called, calling ``callback(event)`` for each event, one at a time.

        With ``reconnect`` (the default) a lost connection is re-made after
        ``reconnect_delay`` seconds; unacked messages are redelivered by the broker.
        """
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                if self._channel is None:
                    self.connect()
                self._channel.basic_consume(self.queue, lambda ch, method, props, body: self._deliver(
                    callback, ch, method, props, body))
                self.ready.set()
                self._channel.start_consuming()
                break
            except (AMQPConnectionError, ConnectionClosedByBroker) as exc:
                self.ready.clear()
                self.close()
                if not reconnect or self._stopping.is_set():
                    raise
                log.warning("lost the broker connection (%s); reconnecting in %.0f s", exc, self.reconnect_delay)
                time.sleep(self.reconnect_delay)
        self.close()

    def stop(self) -> None:
        """Stop consuming after the current callback; safe to call from another thread."""
        self._stopping.set()
        connection, channel = self._connection, self._channel
        if connection is not None and channel is not None and connection.is_open:
            connection.add_callback_threadsafe(channel.stop_consuming)

    def _deliver(self, callback, channel, method, properties, body: bytes) -> None:
        headers = properties.headers or {}
        replayed = bool(headers.get(REPLAYED_HEADER))
        routing_key = str(headers.get(ROUTING_KEY_HEADER) or method.routing_key) if replayed else method.routing_key
        try:
            event = read_event(body, routing_key=routing_key, exchange=method.exchange,
                               redelivered=bool(method.redelivered), replayed=replayed)
            check_publisher(exchange=method.exchange, user_id=properties.user_id, headers=headers,
                            publisher=event.publisher)
        except (InvalidEnvelope, UntrustedPublisher) as exc:
            log.error("rejected a message on %s that is not a genuine event: %s", self.queue, exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        if not event.is_public and not self.include_restricted:
            log.debug("skipped event %s (%s): it is for the members of %s only", event.id, event.name, event.audience)
            channel.basic_ack(method.delivery_tag)
            return
        try:
            callback(event)
        except Exception:
            log.exception("the callback failed for event %s (%s); it goes back to the queue", event.id, event.name)
            if self.requeue_delay:
                self._connection.sleep(self.requeue_delay)
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        channel.basic_ack(method.delivery_tag)
