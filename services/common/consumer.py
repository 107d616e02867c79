"""The reliable event consumer every service uses instead of nameko's ``event_handler``.

Guarantee: a delivered event is acked only after its handler's transaction
has committed, or after the message is safely somewhere else: republished to
``<service>.retry.<n>`` (a queue whose TTL grows with ``n``, dead-lettering back
to the handler's own queue), or stored in the service's ``dead_letters``
collection with the error. Input that can never succeed (not JSON, an
invalid envelope, an unknown type or version, data failing its schema) is
dead-lettered at once. Redeliveries are harmless: the handler's transaction
carries the "(source, id) seen" mark, and a seen event is acked as a duplicate.

    class IdeasService(ServiceBase):
        @consume_events("members", "member.deactivated")
        def on_member_deactivated(self, event: Event): ...
"""
from __future__ import annotations

import logging
import uuid
from functools import partial

from kombu import Consumer as KombuConsumer
from kombu import Queue, binding
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint, SharedExtension
from nameko.messaging import QueueConsumer
from eventlet.semaphore import Semaphore

from services.common.bus import ConfirmedPublisher, peer_events_exchange, requeue_exchange, retry_exchange
from services.common.contract import routing_key
from services.common.events import Event, PoisonMessage, read_envelope, utc_now
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
ATTEMPT_HEADER = "engage-attempt"
QUEUE_HEADER = "engage-queue"
ERROR_HEADER = "engage-error"


class EventRejected(Exception):
    """Raise from a handler for an event that can never be handled: dead-lettered without retries."""


class SubjectLocks:
    """One lock per aggregate (event subject) while its events are in hand; waiters go in arrival order."""

    def __init__(self):
        self._held: dict[str, list] = {}  # subject -> [semaphore, number of holders and waiters]

    def acquire(self, subject: str) -> None:
        entry = self._held.setdefault(subject, [Semaphore(), 0])
        entry[1] += 1
        entry[0].acquire()

    def release(self, subject: str) -> None:
        entry = self._held.get(subject)
        if entry is None:
            return
        entry[0].release()
        entry[1] -= 1
        if entry[1] == 0:
            del self._held[subject]


class RawQueueConsumer(QueueConsumer):
    """nameko's queue consumer, handing over undecoded messages so a bad body cannot stop it."""

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = KombuConsumer(channel, queues=[provider.queue], no_ack=False,
                                     on_message=partial(self.handle_raw, provider))
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def handle_raw(self, provider, message):
        self.container.spawn_managed_thread(partial(provider.handle_message, message.body, message),
                                            identifier=f"consume[{provider.queue.name}]")


class RetryPublisher(SharedExtension):
    """Moves failed messages to retry queues and replays dead letters, with confirms."""

    def setup(self) -> None:
        config = self.container.config
        self.service = self.container.service_name
        delays = config.get("EVENT_RETRY_DELAYS") or DEFAULT_RETRY_DELAYS
        if isinstance(delays, str):
            delays = [float(part) for part in delays.split(",") if part.strip()]
        self.delays = tuple(float(d) for d in delays)
        self.publisher = ConfirmedPublisher(config["AMQP_URI"])
        self.lock = Semaphore()

    def stop(self) -> None:
        self.publisher.close()

    kill = stop

    def retry_queue(self, attempt: int) -> Queue:
        ttl_ms = int(self.delays[attempt - 1] * 1000)
        name = f"{self.service}.retry.{attempt}"
        return Queue(name, exchange=retry_exchange(self.service), routing_key=name, durable=True, queue_arguments={
            "x-message-ttl": ttl_ms, "x-dead-letter-exchange": requeue_exchange(self.service).name})

    def schedule_retry(self, body: bytes, message, *, queue: str, attempt: int, error: str) -> None:
        retry_queue = self.retry_queue(attempt)
        headers = {**(message.headers or {}), ATTEMPT_HEADER: attempt, QUEUE_HEADER: queue, ERROR_HEADER: error[:500]}
        with self.lock:
            self.publisher.publish(body, exchange=retry_exchange(self.service), routing_key=retry_queue.name,
                                   message_id=message.properties.get("message_id") or "",
                                   content_type=message.content_type or "application/octet-stream",
                                   headers=headers, declare=[retry_exchange(self.service), retry_queue])


class EventConsumer(Entrypoint):
    """Entrypoint: consume registered events of ``event_names`` from ``source_service``'s exchange."""

    handles_events = True  # tells Storage to write the dedupe mark in the handler's transaction
    queue_consumer = RawQueueConsumer()
    mongo = MongoConnection()
    metrics = ServiceMetrics()
    retries = RetryPublisher()

    def __init__(self, source_service: str, *event_names: str, version: int = 1, **kwargs):
        if not event_names:
            raise ValueError("consume_events needs at least one event type")
        self.source_service = source_service
        self.event_names = event_names
        self.event_version = version
        super().__init__(**kwargs)

    def setup(self) -> None:
        service = self.container.service_name
        self.queue_name = f"{service}.{self.method_name}"
        declare = str(self.container.config.get("DECLARE_PEER_EXCHANGES", True)).lower() not in ("false", "0", "no")
        exchange = peer_events_exchange(self.source_service, declare)
        bindings = [binding(exchange, routing_key=routing_key(name, self.event_version)) for name in self.event_names]
        bindings.append(binding(requeue_exchange(service), arguments={"x-match": "all", QUEUE_HEADER: self.queue_name}))
        self.queue = Queue(self.queue_name, bindings=bindings, durable=True)
        self.subjects = SubjectLocks()
        self.queue_consumer.register_provider(self)
        self.metrics.gauge("dead_letters", "Dead letters stored and not yet replayed.", [], self._dead_letter_count)

    def _dead_letter_count(self):
        yield (), float(self.mongo.db.dead_letters.count_documents({"state": "dead"}))

    def stop(self) -> None:
        self.queue_consumer.unregister_provider(self)
        super().stop()

    @property
    def max_attempts(self) -> int:
        return len(self.retries.delays) + 1

    def handle_message(self, body: bytes, message) -> None:
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        try:
            event = read_envelope(body)
        except PoisonMessage as exc:
            self._dead_letter(body, message, None, attempt + 1, f"poison: {exc}")
            return
        # Events of one aggregate are handled one at a time, in the order they arrived, so a
        # handler never sees a rating before the idea it rates when both came in that order.
        self.subjects.acquire(event.subject)
        try:
            # Only a repeat delivery is looked up before the handler runs; for anything else the
            # handler's own transaction finds the dedupe mark, which saves a read per event.
            repeat = attempt > 0 or bool((getattr(message, "delivery_info", None) or {}).get("redelivered"))
            if repeat and self.mongo.db.processed_events.find_one({"_id": event.dedupe_key}, {"_id": 1}):
                self.subjects.release(event.subject)
                self._settle(message, event, "deduplicated")
                return
            self.container.spawn_worker(
                self, (event,), {}, context_data={"event_id": event.id, "event_type": event.name},
                handle_result=partial(self._handle_result, body, message, event, attempt))
        except ContainerBeingKilled:
            self.subjects.release(event.subject)
            self._requeue(message)
        except Exception:
            self.subjects.release(event.subject)
            log.exception("could not start a worker for event %s; it goes back to the queue", event.id)
            self._requeue(message)

    def _handle_result(self, body, message, event: Event, attempt: int, worker_ctx, result, exc_info):
        try:
            return self._conclude(body, message, event, attempt, result, exc_info)
        finally:
            self.subjects.release(event.subject)

    def _conclude(self, body, message, event: Event, attempt: int, result, exc_info):
        from services.common.storage import AlreadyHandled

        if exc_info is None:
            self._settle(message, event, "processed")
            return result, None
        error = exc_info[1]
        if isinstance(error, AlreadyHandled):
            self._settle(message, event, "deduplicated")
            return None, None
        reason = f"{error.__class__.__name__}: {error}"
        if isinstance(error, EventRejected) or attempt + 1 >= self.max_attempts:
            self._dead_letter(body, message, event, attempt + 1, reason)
            return result, exc_info
        try:
            self.retries.schedule_retry(body, message, queue=self.queue_name, attempt=attempt + 1, error=reason)
        except Exception:
            log.exception("could not schedule a retry of event %s; it goes back to the queue", event.id)
            self._requeue(message)
            return result, exc_info
        self._settle(message, event, "retried")
        return result, exc_info

    def _settle(self, message, event: Event, outcome: str) -> None:
        self._ack(message)
        self.metrics.consumed.labels(event.name, outcome).inc()

    def _ack(self, message) -> None:
        """Ack; if the channel died meanwhile (a broker restart), the broker redelivers and the repeat is dropped."""
        try:
            self.queue_consumer.ack_message(message)
        except Exception as exc:
            log.warning("could not ack on a closed channel (%s); the broker will redeliver it", exc)

    def _requeue(self, message) -> None:
        try:
            self.queue_consumer.requeue_message(message)
        except Exception as exc:
            log.warning("could not requeue on a closed channel (%s); the broker will redeliver it", exc)

    def _dead_letter(self, body: bytes, message, event: Event | None, attempts: int, reason: str) -> None:
        """Store the message with its reason, then ack. If it cannot be stored, it stays on the queue."""
        record = {
            "_id": uuid.uuid4().hex, "queue": self.queue_name, "service": self.container.service_name,
            "event_id": event.id if event else (message.properties or {}).get("message_id"),
            "type": event.name if event else None, "source": event.source if event else None,
            "subject": event.subject if event else None, "body": bytes(body), "content_type": message.content_type,
            "error": reason, "attempts": attempts, "dead_at": utc_now(), "state": "dead",
        }
        try:
            self.mongo.db.dead_letters.insert_one(record)
        except Exception:
            log.exception("could not store a dead letter for queue %s; it goes back to the queue", self.queue_name)
            self._requeue(message)
            return
        log.error("dead-lettered a message from %s: %s", self.queue_name, reason,
                  extra={"event_id": record["event_id"], "event_type": record["type"]})
        self._ack(message)
        self.metrics.consumed.labels(record["type"] or "unreadable", "dead_lettered").inc()


consume_events = EventConsumer.decorator


def replay_dead_letters(db, amqp_uri: str, ids: list[str] | None = None) -> int:
    """Republish stored dead letters to the queues they came from as fresh deliveries.

    Used by ``engage dead-letters replay``; each replayed record is marked so it
    is not replayed twice. Returns how many were replayed.
    """
    query: dict = {"state": "dead"}
    if ids:
        query["_id"] = {"$in": list(ids)}
    publisher = ConfirmedPublisher(amqp_uri)
    replayed = 0
    try:
        for record in db.dead_letters.find(query).sort("dead_at", 1):
            publisher.publish(record["body"], exchange="", routing_key=record["queue"],
                              message_id=record.get("event_id") or record["_id"],
                              content_type=record.get("content_type") or "application/octet-stream",
                              headers={ATTEMPT_HEADER: 0})
            db.dead_letters.update_one({"_id": record["_id"]},
                                       {"$set": {"state": "replayed", "replayed_at": utc_now()}})
            replayed += 1
    finally:
        publisher.close()
    return replayed
