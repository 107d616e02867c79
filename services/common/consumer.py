"""The reliable consumers every service uses instead of nameko's ``event_handler`` and ``consume``.

Guarantee: a delivered message is acked only after its handler has returned
(for events, after its transaction committed), or after the message is safely
somewhere else: republished to a retry queue (``<prefix>.<n>``, whose TTL is
the n-th delay and which dead-letters back to the handler's own queue), or
stored in the service's ``dead_letters`` collection with the error. Input that
can never succeed is dead-lettered at once.

Nothing is retried at full speed while something is down. A consumer that
finds storage unreachable closes the container's storage gate: the messages
it holds wait there, unacked, while one ping at a time finds out when storage
is back (``mongo.StorageGate``); none of them counts a failed attempt, and a
message held ``HOLD_SECONDS`` goes back to its queue. A message that can be
neither handled nor settled (the broker refused its retry, storage refused its
dead letter) goes back to its queue only after a pause that grows with
consecutive failures.

Two entrypoints share this:

``consume_events``: another service's events. The handler writes its effect
in its unit of work, ``store.transaction(fn, handling=event)``, which records
the event as handled in the same transaction, so a redelivered event is acked
as a duplicate; events of one subject are handled one at a time, in arrival
order.

    class IdeasService(ServiceBase):
        @consume_events("members", "member.deactivated")
        def on_member_deactivated(self, event: Event):
            self.store.transaction(lambda tx: tx.forget_member(event.data["member_id"]), handling=event)

``consume_work``: the service's own delayed work, JSON objects sent with
``send(payload)`` (now) or ``send(payload, after_step=n)`` (after the n-th
delay of its retry schedule). Work handlers are idempotent by themselves.

    class NotifyService(ServiceBase):
        @consume_work(delays_setting="WEBHOOK_RETRY_DELAYS", default_delays=(60, 300))
        def deliver_webhook(self, payload: dict): ...
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable

import eventlet
from eventlet.semaphore import Semaphore
from kombu import Connection, Queue, binding
from kombu import Consumer as KombuConsumer
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint, SharedExtension
from nameko.messaging import QueueConsumer

from services.common.backoff import Backoff
from services.common.bus import (QUEUE_HEADER, ConfirmedPublisher, addressed_to, durable_queue_arguments,
                                 peer_exchange, require_queue, requeue_exchange, retry_exchange,
                                 retry_queue_arguments)
from services.common.contract import routing_key, spec_for
from services.common.events import Event, PoisonMessage, read_envelope, utc_now
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection, storage_unreachable
from services.common.trust import (PUBLISHER_HEADER, UntrustedPublisher, check_publisher, is_first_delivery,
                                   proven_publisher)

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
ATTEMPT_HEADER = "engage-attempt"
ERROR_HEADER = "engage-error"
# How long a delivery waits at a closed storage gate before it goes back to its queue: far inside
# RabbitMQ's consumer_timeout (30 minutes), which closes the channel of a consumer holding a delivery longer.
HOLD_SECONDS = 60.0
# Pauses before a message that could not be settled goes back to its queue: 0.5 s, doubling to 30 s.
UNSETTLED_FIRST_PAUSE = 0.5
UNSETTLED_LONGEST_PAUSE = 30.0


class EventRejected(Exception):
    """Raise from a handler for a message that can never be handled: dead-lettered without retries."""


def retry_delays(value: Any, default: Iterable[float] = DEFAULT_RETRY_DELAYS) -> tuple[float, ...]:
    """A retry schedule from config: ``"1,5,30"``, a list, or empty for ``default``."""
    if value in (None, "", [], ()):
        value = default
    if isinstance(value, (int, float)):
        value = (value,)
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    return tuple(float(delay) for delay in value)


@dataclass(frozen=True)
class RetrySchedule:
    """Where a consumer's failed messages wait: queue ``<prefix>.<n>`` holds them for the n-th delay."""

    service: str
    prefix: str
    delays: tuple[float, ...]
    arguments: tuple[tuple[str, Any], ...] = ()  # the queue type's (bus.retry_queue_arguments)

    def queue(self, step: int) -> Queue:
        name = f"{self.prefix}.{step}"
        return Queue(name, exchange=retry_exchange(self.service), routing_key=name, durable=True, queue_arguments={
            **dict(self.arguments),
            "x-message-ttl": int(self.delays[step - 1] * 1000),
            "x-dead-letter-exchange": requeue_exchange(self.service).name})


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
    """Sends messages to the service's own queues, now or through a retry queue, with confirms."""

    def setup(self) -> None:
        self.service = self.container.service_name
        self.publisher = ConfirmedPublisher(self.container.config["AMQP_URI"])
        self.lock = Semaphore()

    def stop(self) -> None:
        self.publisher.close()

    def prepare(self, schedule: RetrySchedule) -> None:
        """Declare ``schedule``'s retry queues now, so they exist (and are watched) before the first retry.

        Best effort: ``send_later`` declares its queue again with every message.
        """
        try:
            with Connection(self.container.config["AMQP_URI"], connect_timeout=5) as connection:
                channel = connection.channel()
                retry_exchange(self.service).bind(channel).declare()
                requeue_exchange(self.service).bind(channel).declare()
                for step in range(1, len(schedule.delays) + 1):
                    schedule.queue(step).bind(channel).declare()
        except Exception as exc:
            log.warning("could not declare the retry queues %s.* yet (%s: %s); the first retry will",
                        schedule.prefix, exc.__class__.__name__, exc)

    kill = stop

    def send_now(self, body: bytes, *, queue: str, message_id: str, content_type: str,
                 headers: dict | None = None) -> None:
        """Deliver to ``queue`` through the requeue exchange; raises unless the broker routed and confirmed it."""
        with self.lock:
            self.publisher.publish(body, exchange=requeue_exchange(self.service), routing_key="",
                                   message_id=message_id, content_type=content_type,
                                   headers={**(headers or {}), QUEUE_HEADER: queue},
                                   declare=[requeue_exchange(self.service)], mandatory=True)

    def send_later(self, body: bytes, *, queue: str, schedule: RetrySchedule, step: int, message_id: str,
                   content_type: str, headers: dict | None = None) -> None:
        """Park in ``schedule``'s retry queue ``step``; it reaches ``queue`` when that queue's TTL runs out."""
        retry_queue = schedule.queue(step)
        with self.lock:
            self.publisher.publish(body, exchange=retry_exchange(self.service), routing_key=retry_queue.name,
                                   message_id=message_id, content_type=content_type,
                                   headers={**(headers or {}), QUEUE_HEADER: queue},
                                   declare=[retry_exchange(self.service), requeue_exchange(self.service),
                                            retry_queue])


class ReliableConsumer(Entrypoint):
    """What both consumers share: the queue, acks, retries, dead letters, the storage gate and pauses."""

    queue_consumer = RawQueueConsumer()
    mongo = MongoConnection()
    metrics = ServiceMetrics()
    retries = RetryPublisher()

    def __init__(self, *, delays_setting: str = "EVENT_RETRY_DELAYS",
                 default_delays: Iterable[float] = DEFAULT_RETRY_DELAYS, **kwargs):
        self.delays_setting = delays_setting
        self.default_delays = tuple(default_delays)
        super().__init__(**kwargs)

    # -- what each kind of consumer says ------------------------------------

    def bindings(self) -> list:
        return []

    def retry_prefix(self) -> str:
        raise NotImplementedError

    def decode(self, body: bytes) -> Any:
        """The handler's argument; raises ``PoisonMessage`` for a body no retry can fix."""
        raise NotImplementedError

    def label(self, item: Any) -> str:
        """The ``type`` label of ``events_consumed`` (which the dead-letter alert watches) for this item."""
        raise NotImplementedError

    def ordering_key(self, item: Any) -> str | None:
        return None

    def already_handled(self, item: Any) -> bool:
        return False

    def context_data(self, item: Any, message) -> dict:
        return {}

    def dead_letter_fields(self, item: Any, message) -> dict:
        return {"event_id": (message.properties or {}).get("message_id"), "type": None, "source": None,
                "subject": None}

    def prove_publisher(self, message) -> str | None:
        """Who the broker says published this message; raises ``UntrustedPublisher``. None: nothing to prove."""
        return None

    def check_item(self, item: Any, publisher: str | None) -> None:
        """Raise ``UntrustedPublisher`` when the decoded item claims a publisher other than the proven one."""

    # -- set-up ---------------------------------------------------------------

    def setup(self) -> None:
        service = self.container.service_name
        self.queue_name = f"{service}.{self.method_name}"
        config = self.container.config
        self.schedule = RetrySchedule(service, self.retry_prefix(), retry_delays(
            config.get(self.delays_setting), self.default_delays),
            tuple(sorted(retry_queue_arguments(config).items())))
        self.queue = Queue(self.queue_name, durable=True, queue_arguments=durable_queue_arguments(config) or None,
                           bindings=self.bindings() + [
                               binding(requeue_exchange(service), arguments=addressed_to(self.queue_name))])
        self.subjects = SubjectLocks()
        self.unsettled = Backoff(UNSETTLED_FIRST_PAUSE, UNSETTLED_LONGEST_PAUSE)
        self.queue_consumer.register_provider(self)
        self.metrics.gauge("dead_letters", "Dead letters stored and not yet replayed.", [], self._dead_letter_count)

    def start(self) -> None:
        self.container.spawn_managed_thread(lambda: self.retries.prepare(self.schedule),
                                            identifier=f"{self.queue_name}-retry-queues")

    def _dead_letter_count(self):
        yield (), float(self.mongo.db.dead_letters.count_documents({"state": "dead"}))

    def stop(self) -> None:
        self.queue_consumer.unregister_provider(self)
        super().stop()

    @property
    def max_attempts(self) -> int:
        return len(self.schedule.delays) + 1

    # -- a delivery -------------------------------------------------------------

    def handle_message(self, body: bytes, message) -> None:
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        try:
            publisher = self.prove_publisher(message)
        except UntrustedPublisher as exc:
            self._dead_letter(body, message, self._readable(body), attempt + 1, f"untrusted publisher: {exc}",
                              refused=True)
            return
        if is_first_delivery(_exchange_of(message)):
            attempt = 0  # a first delivery: the attempt header is the sender's claim, not ours
        try:
            item = self.decode(body)
        except PoisonMessage as exc:
            self._dead_letter(body, message, None, attempt + 1, f"poison: {exc}", publisher=publisher)
            return
        try:
            self.check_item(item, publisher)
        except UntrustedPublisher as exc:
            self._dead_letter(body, message, item, attempt + 1, f"untrusted publisher: {exc}", refused=True)
            return
        # Messages of one aggregate are handled one at a time, in the order they arrived, so a
        # handler never sees a rating before the idea it rates when both came in that order.
        key = self.ordering_key(item)
        if key is not None:
            self.subjects.acquire(key)
        try:
            if not self.mongo.gate.wait(HOLD_SECONDS):
                self._release(key)
                self._hand_back(message, self.label(item))
                return
            # Only a repeat delivery is looked up before the handler runs; for anything else the
            # handler's unit of work finds the dedupe mark, which saves a read per event.
            repeat = attempt > 0 or bool((getattr(message, "delivery_info", None) or {}).get("redelivered"))
            if repeat and self.already_handled(item):
                self._release(key)
                self._settle(message, self.label(item), "deduplicated")
                return
            self.container.spawn_worker(
                self, (item,), {}, context_data=self.context_data(item, message),
                handle_result=partial(self._handle_result, body, message, item, attempt, publisher))
        except ContainerBeingKilled:
            self._release(key)
            self._requeue(message)
        except Exception as exc:
            self._release(key)
            if storage_unreachable(exc):
                self.mongo.gate.close()
                self._hand_back(message, self.label(item))
                return
            log.exception("could not start a worker for a message from %s", self.queue_name)
            self._requeue_after_pause(message)

    def _readable(self, body: bytes) -> Any:
        """The decoded item if it decodes (so a refused event is listed by its id and type), else None."""
        try:
            return self.decode(body)
        except PoisonMessage:
            return None

    def _release(self, key: str | None) -> None:
        if key is not None:
            self.subjects.release(key)

    def _handle_result(self, body, message, item, attempt: int, publisher, worker_ctx, result, exc_info):
        try:
            return self._conclude(body, message, item, attempt, publisher, result, exc_info)
        finally:
            self._release(self.ordering_key(item))

    def _conclude(self, body, message, item, attempt: int, publisher: str | None, result, exc_info):
        from services.common.storage import AlreadyHandled

        if exc_info is None:
            self.mongo.gate.succeeded()
            self._settle(message, self.label(item), "processed")
            return result, None
        error = exc_info[1]
        if isinstance(error, AlreadyHandled):
            self._settle(message, self.label(item), "deduplicated")
            return None, None
        if storage_unreachable(error):
            # Not the message's fault: no attempt is counted. Its redelivery waits at the closed gate.
            self.mongo.gate.close()
            self._hand_back(message, self.label(item))
            return result, exc_info
        reason = f"{error.__class__.__name__}: {error}"
        if isinstance(error, EventRejected) or attempt + 1 >= self.max_attempts:
            self._dead_letter(body, message, item, attempt + 1, reason, publisher=publisher)
            return result, exc_info
        headers = {**(message.headers or {}), ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: reason[:500]}
        if publisher is not None:
            # The retry is stamped with this service's own user_id; the publisher proven now rides along.
            headers[PUBLISHER_HEADER] = publisher
        try:
            self.retries.send_later(body, queue=self.queue_name, schedule=self.schedule, step=attempt + 1,
                                    message_id=(message.properties or {}).get("message_id") or "",
                                    content_type=message.content_type or "application/octet-stream",
                                    headers=headers)
        except Exception:
            log.exception("could not schedule a retry of a message from %s", self.queue_name)
            self._requeue_after_pause(message)
            return result, exc_info
        self._settle(message, self.label(item), "retried")
        return result, exc_info

    def _settle(self, message, label: str, outcome: str) -> None:
        self._ack(message)
        self.unsettled.succeeded()
        self.metrics.consumed.labels(label, outcome).inc()

    def _hand_back(self, message, label: str) -> None:
        """Storage is down: back to the queue at once; the redelivery waits at the closed gate, not in a loop."""
        self._requeue(message)
        self.metrics.consumed.labels(label, "held").inc()

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

    def _requeue_after_pause(self, message) -> None:
        """Back to the queue after a pause that grows while nothing settles, so a stuck message cannot spin."""
        pause = self.unsettled.failed()

        def later() -> None:
            eventlet.sleep(pause)
            self._requeue(message)

        self.container.spawn_managed_thread(later, identifier=f"requeue-later[{self.queue_name}]")

    def _dead_letter(self, body: bytes, message, item, attempts: int, reason: str, *, publisher: str | None = None,
                     refused: bool = False) -> None:
        """Store the message with its reason, then ack. If it cannot be stored, it goes back to the queue later.

        The record keeps the publisher proven at the first check, which a replay carries; one that failed
        the check is marked ``refused`` and is never replayed.
        """
        record = {
            "_id": uuid.uuid4().hex, "queue": self.queue_name, "service": self.container.service_name,
            **self.dead_letter_fields(item, message), "body": bytes(body), "content_type": message.content_type,
            "error": reason, "attempts": attempts, "dead_at": utc_now(), "state": "dead",
            "publisher": publisher, "refused": refused,
        }
        if not self.mongo.gate.wait(HOLD_SECONDS):
            self._hand_back(message, record["type"] or "unreadable")
            return
        try:
            self.mongo.db.dead_letters.insert_one(record)
        except Exception as exc:
            if storage_unreachable(exc):
                self.mongo.gate.close()
                self._hand_back(message, record["type"] or "unreadable")
                return
            log.exception("could not store a dead letter for queue %s; it goes back to the queue after a pause",
                          self.queue_name)
            self._requeue_after_pause(message)
            return
        log.error("dead-lettered a message from %s: %s", self.queue_name, reason,
                  extra={"event_id": record["event_id"], "event_type": record["type"]})
        self._ack(message)
        self.unsettled.succeeded()
        self.metrics.consumed.labels(record["type"] or "unreadable", "dead_lettered").inc()


class EventConsumer(ReliableConsumer):
    """Entrypoint: consume registered events of ``event_names`` from ``source_service``'s exchange."""

    def __init__(self, source_service: str, *event_names: str, version: int = 1, **kwargs):
        if not event_names:
            raise ValueError("consume_events needs at least one event type")
        self.source_service = source_service
        self.event_names = event_names
        self.event_version = version
        super().__init__(**kwargs)

    def bindings(self) -> list:
        declare = str(self.container.config.get("DECLARE_PEER_EXCHANGES", True)).lower() not in ("false", "0", "no")
        # Public types come on <service>.events, private ones on <service>.private (which the broker lets
        # only their readers bind to), of the service this consumer listens to, as its relay publishes them.
        def exchange_of(name: str) -> str:
            suffix = "private" if spec_for(name, self.event_version).private else "events"
            return f"{self.source_service}.{suffix}"

        return [binding(peer_exchange(exchange_of(name), declare), routing_key=routing_key(name, self.event_version))
                for name in self.event_names]

    def retry_prefix(self) -> str:
        return f"{self.container.service_name}.retry"

    def decode(self, body: bytes) -> Event:
        return read_envelope(body)

    def label(self, event: Event) -> str:
        return event.name

    def ordering_key(self, event: Event) -> str:
        return event.subject

    def already_handled(self, event: Event) -> bool:
        return self.mongo.db.processed_events.find_one({"_id": event.dedupe_key}, {"_id": 1}) is not None

    def context_data(self, event: Event, message) -> dict:
        return {"event_id": event.id, "event_type": event.name}

    def dead_letter_fields(self, event: Event | None, message) -> dict:
        if event is None:
            return super().dead_letter_fields(None, message)
        return {"event_id": event.id, "type": event.name, "source": event.source, "subject": event.subject}

    def prove_publisher(self, message) -> str:
        return proven_publisher(exchange=_exchange_of(message), user_id=(message.properties or {}).get("user_id"),
                                headers=message.headers, consumer=self.container.service_name)

    def check_item(self, event: Event, publisher: str | None) -> None:
        check_publisher(publisher or "", source=event.source, expected=self.source_service)
        # The handler is chosen by routing key; a body of another type must not reach it under that key.
        if event.name not in self.event_names or event.version != self.event_version:
            raise UntrustedPublisher(f"a {event.name} v{event.version} event arrived as "
                                     f"{' or '.join(self.event_names)} v{self.event_version}")


class WorkConsumer(ReliableConsumer):
    """Entrypoint: the service's own work items (JSON objects) on ``<service>.<method>``.

    Failed items are retried through ``<service>.<method>.retry.<n>`` queues
    with the delays of ``delays_setting``; ``send`` puts an item on the
    queue now or after one of those delays.
    """

    def retry_prefix(self) -> str:
        return f"{self.container.service_name}.{self.method_name}.retry"

    def decode(self, body: bytes) -> dict:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise PoisonMessage(f"not JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise PoisonMessage("a work item must be a JSON object")
        return payload

    def label(self, payload: dict) -> str:
        return self.method_name

    def dead_letter_fields(self, payload: dict | None, message) -> dict:
        fields = super().dead_letter_fields(payload, message)
        return {**fields, "type": self.method_name} if payload is not None else fields

    def send(self, payload: dict, *, message_id: str, after_step: int = 0) -> None:
        """Queue ``payload`` for this handler: now, or after delay ``after_step`` of its schedule (from 1).

        Returns once the broker has confirmed it; raises otherwise.
        """
        body = json.dumps(payload).encode()
        if after_step:
            self.retries.send_later(body, queue=self.queue_name, schedule=self.schedule, step=after_step,
                                    message_id=message_id, content_type="application/json")
        else:
            self.retries.send_now(body, queue=self.queue_name, message_id=message_id,
                                  content_type="application/json")


def _exchange_of(message) -> str:
    return str((getattr(message, "delivery_info", None) or {}).get("exchange") or "")


consume_events = EventConsumer.decorator
consume_work = WorkConsumer.decorator


def work_consumer(container, method_name: str) -> WorkConsumer:
    """The container's ``consume_work`` entrypoint on ``method_name`` (to send it work)."""
    for entrypoint in container.entrypoints:
        if isinstance(entrypoint, WorkConsumer) and entrypoint.method_name == method_name:
            return entrypoint
    raise LookupError(f"{container.service_name} has no consume_work entrypoint called {method_name}")


class RefusedReplay(ValueError):
    """A dead letter that failed the publisher check was asked for: such an event is never replayed."""


def replay_dead_letters(db, amqp_uri: str, ids: list[str] | None = None) -> int:
    """Send stored dead letters back to the queues they came from, as fresh deliveries.

    Used by ``engage dead-letters replay``. Each goes through its service's
    requeue exchange to a queue that must exist (checked first: a passive
    declare) and must be routed there (a mandatory publish), and a record is
    marked replayed only after the broker's confirm, so a failed replay leaves
    it to be replayed again. Each carries the publisher proven when it was
    first received; dead letters that failed that check are never sent
    (asking for one by id raises ``RefusedReplay`` before anything is sent).
    Raises ``QueueMissing`` before sending anything when a queue is gone.
    Returns how many were replayed.
    """
    query: dict = {"state": "dead", "refused": {"$ne": True}}
    if ids:
        refused = [record["_id"] for record in db.dead_letters.find(
            {"_id": {"$in": list(ids)}, "state": "dead", "refused": True}, {"_id": 1})]
        if refused:
            raise RefusedReplay(f"{', '.join(refused)} failed the publisher check when received and are never "
                                f"replayed; nothing was replayed")
        query["_id"] = {"$in": list(ids)}
    records = list(db.dead_letters.find(query, {"_id": 1, "queue": 1, "service": 1}))
    for queue in sorted({record["queue"] for record in records}):
        require_queue(amqp_uri, queue, "its service has not declared it (is the service running this version?); "
                                       "nothing was replayed")
    publisher = ConfirmedPublisher(amqp_uri)
    replayed = 0
    try:
        for record in db.dead_letters.find(query).sort("dead_at", 1):
            service = record.get("service") or record["queue"].split(".", 1)[0]
            headers = {ATTEMPT_HEADER: 0, QUEUE_HEADER: record["queue"]}
            if record.get("publisher"):
                headers[PUBLISHER_HEADER] = record["publisher"]
            publisher.publish(record["body"], exchange=requeue_exchange(service), routing_key="",
                              message_id=record.get("event_id") or record["_id"],
                              content_type=record.get("content_type") or "application/octet-stream",
                              headers=headers, declare=[requeue_exchange(service)], mandatory=True)
            db.dead_letters.update_one({"_id": record["_id"], "state": "dead"},
                                       {"$set": {"state": "replayed", "replayed_at": utc_now()}})
            replayed += 1
    finally:
        publisher.close()
    return replayed


def refused_dead_letters(db) -> int:
    """How many stored dead letters failed the publisher check (kept for operators to see, never replayed)."""
    return db.dead_letters.count_documents({"state": "dead", "refused": True})
