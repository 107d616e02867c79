"""Reading the event log: every service's sent outbox rows, replayed to one subscriber.

Replays publish each stored envelope unchanged (same id) into the named queue
through the default exchange, oldest first, so per-subject order is kept and a
subscriber that already has an event drops the repeat by its id.
"""
from __future__ import annotations

import heapq
from datetime import datetime
from typing import Callable, Iterable

from kombu import Connection

from services.common.bus import ConfirmedPublisher
from services.common.events import CONTENT_TYPE, encode


def history(databases: dict, *, since: datetime, types: Iterable[str] | None = None) -> Iterable[dict]:
    """Sent outbox rows of every given service since ``since``, merged in creation order."""
    streams = []
    for db in databases.values():
        query: dict = {"state": "sent", "created_at": {"$gte": since}}
        if types:
            query["type"] = {"$in": list(types)}
        streams.append(db.outbox.find(query, {"envelope": 1, "routing_key": 1, "created_at": 1, "type": 1})
                       .sort([("created_at", 1), ("_id", 1)]))
    return heapq.merge(*streams, key=lambda row: (row["created_at"], str(row["_id"])))


class QueueMissing(LookupError):
    """The subscriber's queue does not exist: the broker would drop everything sent to it."""


def require_queue(amqp_uri: str, name: str) -> None:
    """Raise ``QueueMissing`` unless the queue ``name`` exists (a passive declare)."""
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            channel.queue_declare(name, passive=True)
        except connection.channel_errors:
            raise QueueMissing(f"queue {name} does not exist; the subscriber declares it (and its bindings) "
                               "first, then history is replayed into it") from None
        finally:
            try:
                channel.close()
            except Exception:  # the broker closes a channel after a failed passive declare
                pass


def replay_history(databases: dict, amqp_uri: str, *, to_queue: str, since: datetime,
                   types: Iterable[str] | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Publish the stored history into ``to_queue``; refuses (``QueueMissing``) before sending anything to no queue."""
    require_queue(amqp_uri, to_queue)
    publisher = ConfirmedPublisher(amqp_uri)
    count = 0
    try:
        for row in history(databases, since=since, types=types):
            envelope = row["envelope"]
            publisher.publish(encode(envelope), exchange="", routing_key=to_queue, message_id=envelope["id"],
                              content_type=CONTENT_TYPE, headers={"engage-replayed": True,
                                                                  "engage-routing-key": row["routing_key"]})
            count += 1
            if progress and count % 100 == 0:
                progress(count)
    finally:
        publisher.close()
    if progress:
        progress(count)
    return count
