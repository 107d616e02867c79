"""Checking who published an event: the broker's word, not the envelope's.

RabbitMQ stamps every event the platform publishes with the AMQP ``user_id``
of the publishing service's connection and refuses a ``user_id`` that is not
that connection's user. So an event that arrives from ``<service>.events`` is
genuine only when its ``user_id`` is ``<service>`` and its ``source``
(``urn:engage:<agency>:<service>``) names the same service. A replay from the
event log arrives through ``<service>.requeue``, which only that service and
the platform's operators may write, carrying ``engage-publisher: <service>``.
"""
from __future__ import annotations

from typing import Optional

PUBLISHER_HEADER = "engage-publisher"


class UntrustedPublisher(ValueError):
    """Nothing the broker vouches for shows that the service the event names published it."""


def check_publisher(*, exchange: str, user_id: Optional[str], headers: Optional[dict], publisher: str) -> None:
    """Raise ``UntrustedPublisher`` unless the broker proves that ``publisher`` (named by ``source``) sent it."""
    exchange = exchange or ""
    if exchange.endswith(".events"):
        named = exchange[:-len(".events")]
        if user_id != named:
            raise UntrustedPublisher(f"published on {exchange} by broker user {user_id or '(none)'}, not {named}")
    elif exchange.endswith(".requeue"):
        named = exchange[:-len(".requeue")]
        claimed = (headers or {}).get(PUBLISHER_HEADER)
        if claimed != named:
            raise UntrustedPublisher(f"replayed through {exchange} naming {claimed or 'no'} publisher")
    else:
        raise UntrustedPublisher(f"came through {exchange or 'the default exchange'}, which proves no publisher")
    if publisher != named:
        raise UntrustedPublisher(f"source names {publisher or 'no service'}, but {named} published it")
