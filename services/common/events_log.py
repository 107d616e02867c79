"""Reading the event log: every service's sent outbox rows, replayed to one subscriber.

Replays publish each stored envelope unchanged (same id), oldest first, so
per-subject order is kept and a subscriber that already has an event drops
the repeat by its id. They go through the publishing service's requeue
exchange (``<service>.requeue``), never the default exchange: the target
queue, which must already exist, is bound there by its own name first (a
binding that matches nothing but messages addressed to that queue), and each
event is published mandatory and confirmed, so one that reaches no queue
stops the replay instead of vanishing. Private rows (secrets handed to one
service over ``<service>.private``) are not part of the log and never replayed.
"""
from __future__ import annotations

import heapq
from datetime import datetime
from typing import Callable, Iterable

from services.common.bus import (QUEUE_HEADER, ConfirmedPublisher, QueueMissing, addressed_to, require_queue,
                                 requeue_exchange)
from services.common.events import CONTENT_TYPE, encode
from services.common.trust import PUBLISHER_HEADER

__all__ = ["QueueMissing", "history", "replay_history"]


def history(databases: dict, *, since: datetime, types: Iterable[str] | None = None) -> Iterable[dict]:
    """Sent outbox rows of every given service since ``since``, merged in creation order; each names its ``service``."""
    streams = []
    for service, db in databases.items():
        query: dict = {"state": "sent", "created_at": {"$gte": since}, "private": {"$ne": True}}
        if types:
            query["type"] = {"$in": list(types)}
        rows = db.outbox.find(query, {"envelope": 1, "routing_key": 1, "created_at": 1, "type": 1}) \
            .sort([("created_at", 1), ("_id", 1)])
        streams.append(_named(rows, service))
    return heapq.merge(*streams, key=lambda row: (row["created_at"], str(row["_id"])))


def _named(rows: Iterable[dict], service: str) -> Iterable[dict]:
    for row in rows:
        yield {**row, "service": service}


def replay_history(databases: dict, amqp_uri: str, *, to_queue: str, since: datetime,
                   types: Iterable[str] | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Publish the stored history into ``to_queue``; refuses (``QueueMissing``) before sending anything to no queue."""
    require_queue(amqp_uri, to_queue, "the subscriber declares it (and its bindings) first, then history is "
                                      "replayed into it")
    publisher = ConfirmedPublisher(amqp_uri)
    bound: set[str] = set()
    count = 0
    try:
        for row in history(databases, since=since, types=types):
            exchange = requeue_exchange(row["service"])
            if row["service"] not in bound:
                publisher.bind(to_queue, exchange, addressed_to(to_queue))
                bound.add(row["service"])
            envelope = row["envelope"]
            publisher.publish(encode(envelope), exchange=exchange, routing_key="", message_id=envelope["id"],
                              content_type=CONTENT_TYPE, mandatory=True,
                              # The log holds only what this service published itself: that is its proof.
                              headers={QUEUE_HEADER: to_queue, "engage-replayed": True,
                                       PUBLISHER_HEADER: row["service"],
                                       "engage-routing-key": row["routing_key"]})
            count += 1
            if progress and count % 100 == 0:
                progress(count)
    finally:
        publisher.close()
    if progress:
        progress(count)
    return count
