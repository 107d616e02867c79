"""Who published an event, as the broker proves it, checked once when a consumer first receives it.

Guarantee: an event reaches a handler only when the AMQP ``user_id`` of its
first delivery (from a public ``<service>.events`` exchange or a private
``<service>.private`` one, both written only by that service; RabbitMQ
refuses a ``user_id`` that is not the connection's user) is the
service that both its exchange and its envelope ``source`` name. Anything
else is refused with the reason and never retried.

The body and headers are the sender's claim; only ``user_id`` and the
exchange a message came through are the broker's word. A message that comes
back later (from the service's own retry queues, or replayed by an operator
from dead letters or the event log) comes through a ``<service>.requeue``
exchange, which only that service and operators may write, and carries the
publisher proven at the first check in the ``engage-publisher`` header.
"""
from __future__ import annotations

import re

PUBLISHER_HEADER = "engage-publisher"
EVENTS_SUFFIX = ".events"
PRIVATE_SUFFIX = ".private"
# Exchanges a service publishes its own events on: a message through one is a first delivery.
PUBLISHER_SUFFIXES = (EVENTS_SUFFIX, PRIVATE_SUFFIX)
REQUEUE_SUFFIX = ".requeue"
_SOURCE = re.compile(r"^urn:engage:(?P<agency>[^:\s]+):(?P<service>[a-z]+)$")


class UntrustedPublisher(ValueError):
    """The broker does not prove that the service the event names published it: refused, never retried or replayed."""


def source_service(source: str) -> str | None:
    """The service named by an envelope ``source`` (``urn:engage:<agency>:<service>``), or None if it names none."""
    match = _SOURCE.match(source or "")
    return match["service"] if match else None


def proven_publisher(*, exchange: str, user_id: str | None, headers: dict | None, consumer: str) -> str:
    """The publishing service the broker vouches for, given how the message reached ``consumer``'s queue.

    Raises ``UntrustedPublisher`` saying why when nothing proves one.
    """
    exchange = exchange or ""
    if is_first_delivery(exchange):
        named = exchange.rsplit(".", 1)[0]
        if user_id != named:
            raise UntrustedPublisher(f"published on {exchange} by broker user {user_id or '(none)'}, not {named}")
        return named
    if exchange.endswith(REQUEUE_SUFFIX):
        writer = exchange[:-len(REQUEUE_SUFFIX)]
        claimed = str((headers or {}).get(PUBLISHER_HEADER) or "")
        if not claimed:
            raise UntrustedPublisher(f"came through {exchange} without the publisher proven at its first check")
        # The consumer's own requeue exchange is written only by itself and operators, who carry the
        # publisher proven earlier. Another service's requeue exchange (an event-log replay) may also be
        # written by that service, so there it may name no publisher but itself.
        if writer != consumer and claimed != writer:
            raise UntrustedPublisher(f"came through {exchange} naming {claimed} as its publisher")
        return claimed
    raise UntrustedPublisher(f"came through {exchange or 'the default exchange'}, which proves no publisher")


def is_first_delivery(exchange: str) -> bool:
    """True when ``exchange`` is a publishing service's own (``<service>.events`` or ``<service>.private``)."""
    return (exchange or "").endswith(PUBLISHER_SUFFIXES)


def check_publisher(publisher: str, *, source: str, expected: str) -> None:
    """Raise ``UntrustedPublisher`` unless ``publisher``, the envelope's ``source`` and the ``expected`` service agree."""
    named = source_service(source)
    if publisher != expected:
        raise UntrustedPublisher(f"published by {publisher}, but this consumer takes {expected} events only")
    if named != publisher:
        raise UntrustedPublisher(f"source {source!r} names {named or 'no service'}, but {publisher} published it")
