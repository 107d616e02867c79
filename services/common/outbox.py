"""The transactional outbox and its relay.

A state change and the outbox rows of the events it causes commit in one
MongoDB transaction (``Store.record``). Each row is written already leased to
the relay of the process that wrote it, which publishes it right after the
commit, with publisher confirms, and marks it sent: the rows published within
``MARK_SENT_SECONDS`` of each other share one update (a row whose mark is lost
with its process is published again when its lease runs out, with its one
event id, and consumers drop the repeat). Rows
whose lease ran out (their process crashed or lost the broker) are swept every
``OUTBOX_SWEEP_SECONDS`` by one relay of the service at a time, the one
holding the sweep lease (a document in ``outbox_sweeper``, renewed with each
batch and left to run out when its relay stops), so two relays never publish
the same row at once and a sweep costs one extra update per batch, not per
row. A row published twice after a lease expiry keeps its event id, so
consumers drop the repeat. Sent rows are kept: they are the service's event
log for replay.

A private row (a type the registry makes private, published on
``<service>.private``) keeps its secret only until the broker confirms it:
the "sent" mark erases its ``data`` in the same update, and the event log
never replays it.

While the broker or storage is down the relay tries again after growing
pauses (0.5 s doubling to ``MAX_BACKOFF_SECONDS``), however many commits wake
it meanwhile, and it holds at most ``MAX_FRESH_ROWS`` committed rows in
memory: past that, its rows are given back to the sweep, which reads them
from the outbox in order.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone

import eventlet
from nameko.extensions import SharedExtension
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.common.backoff import Backoff
from services.common import contract
from services.common.bus import ConfirmedPublisher, events_exchange, private_exchange
from services.common.events import CONTENT_TYPE, encode, utc_now
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# After failures the relay retries at growing intervals, but never further apart than this, so a
# returning broker gets the backlog within seconds.
MAX_BACKOFF_SECONDS = 2.0
# Committed rows held in memory for publishing (ten batches, a few megabytes of envelopes). A burst
# beyond this while the relay is behind is published by the sweep instead.
MAX_FRESH_ROWS = 2000
# Rows published from memory are marked sent together, at most this long after the first of them was
# published: under load one update marks several rows instead of one each.
MARK_SENT_SECONDS = 0.05
# Only what the relay's sweep (state, _id) and the event log's history (created_at) read by: every
# index is written on each insert and each "sent" update, which is most of the outbox's storage cost.
OUTBOX_INDEXES = {
    "outbox": [
        IndexModel([("state", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("created_at", ASCENDING)]),
    ],
}


def outbox_row(envelope: dict, service: str, name: str, version: int) -> dict:
    """The stored form of one event waiting to be published (and, once sent, its log entry)."""
    spec = contract.spec_for(name, version)
    return {
        "event_id": envelope["id"],
        # The writer's own exchange: the only ones its relay (and its broker user) may publish to.
        "exchange": (private_exchange(service) if spec.private else events_exchange(service)).name,
        "private": spec.private,
        "routing_key": spec.routing_key,
        "type": name,
        "version": version,
        "subject": envelope["subject"],
        "envelope": envelope,
        "state": "pending",
        "lease_until": EPOCH,
        "created_at": utc_now(),
        "published_at": None,
    }


class OutboxRelay(SharedExtension):
    """Publishes the container's outbox rows: on commit, and on a sweep for leftovers."""

    mongo = MongoConnection()
    metrics = ServiceMetrics()

    batch_size = 200
    lease = timedelta(seconds=10)  # far longer than publishing one batch takes

    def setup(self) -> None:
        config = self.container.config
        self.service = self.container.service_name
        self.sweep_seconds = float(config.get("OUTBOX_SWEEP_SECONDS") or 1.0)
        self.publisher = ConfirmedPublisher(config["AMQP_URI"])
        self.exchange = events_exchange(self.service)
        self.exchanges = {self.exchange.name: self.exchange}
        if any(spec.private and spec.publisher == self.service for spec in contract.all_specs()):
            self.exchanges[f"{self.service}.private"] = private_exchange(self.service)
        self._wakeup = threading.Event()
        # Rows just committed (leased to this relay), handed over by Store.transaction: publishing them
        # from memory costs one storage round trip per batch, the "sent" mark.
        self._fresh: deque[dict] = deque()
        self._overflowed = False  # rows were left out of _fresh: its leased rows go back to the sweep
        self._unmarked: dict[str, list] = {"published": [], "private": []}  # published from memory, not yet marked
        self._mark_due: float | None = None
        self._running = False
        self.last_error: str | None = None
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.metrics.gauge("outbox_backlog", "Outbox rows not yet published.", [], self._backlog)
        self.metrics.gauge("outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished outbox row.", [],
                           self._oldest_age)

    def start(self) -> None:
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def stop(self) -> None:
        # The sweep lease is left to run out (10 s): on a shutdown the storage connection, or the
        # storage server itself, is often already gone.
        self._running = False
        self._wakeup.set()
        self.publisher.close()

    kill = stop

    def check_ready(self) -> str | None:
        return f"outbox relay cannot publish: {self.last_error}" if self.last_error else None

    def lease_for_new_rows(self) -> dict:
        """Lease fields for rows being written now: they are this relay's to publish, with no claim to make."""
        return {"lease_until": utc_now() + self.lease, "lease_owner": self.owner}

    def wake(self, rows: list[dict] = ()) -> None:
        """Called after a commit that recorded ``rows`` (leased to this relay): publish them now.

        Past ``MAX_FRESH_ROWS`` waiting rows, ``rows`` stay in the outbox only:
        the relay gives all its leased rows back to the sweep.
        """
        if self._overflowed or len(self._fresh) + len(rows) > MAX_FRESH_ROWS:
            self._overflowed = True
        else:
            self._fresh.extend(rows)
        self._wakeup.set()

    def declare_exchange(self) -> None:
        """Declare ``<service>.events`` (and ``.private``) so consumers can bind before the first event is published."""
        try:
            self.publisher.declare(list(self.exchanges.values()))
        except Exception:
            self.publisher.close()
            raise

    def _run(self) -> None:
        try:
            self.declare_exchange()
        except Exception as exc:  # the first publish declares it again
            log.warning("could not declare %s at start (%s: %s)", ", ".join(self.exchanges), exc.__class__.__name__,
                        exc)
        backoff = Backoff(0.5, MAX_BACKOFF_SECONDS)
        last_sweep = 0.0
        while self._running:
            if backoff.failures:
                # Commits keep waking the relay; while something is down only the pause decides.
                resume_at = time.monotonic() + backoff.pause
                while self._running and time.monotonic() < resume_at:
                    self._wakeup.wait(resume_at - time.monotonic())
                    self._wakeup.clear()
            else:
                self._wakeup.wait(self._until_next_duty())
            self._wakeup.clear()
            try:
                if backoff.failures or self._overflowed:
                    self.mark_sent()
                    self._give_back_fresh()  # the sweep reads them from the outbox
                else:
                    self.publish_fresh()
                    if self._mark_due is not None and time.monotonic() >= self._mark_due:
                        self.mark_sent()
                    if time.monotonic() - last_sweep < self.sweep_seconds:
                        continue
                last_sweep = time.monotonic()
                while self._running and self.publish_pending() >= self.batch_size:
                    eventlet.sleep(0)
                backoff.succeeded()
                self.last_error = None
            except Exception as exc:
                backoff.failed()
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.warning("outbox relay could not publish (%s: %s); the rows stay and are retried",
                            exc.__class__.__name__, exc)
        try:
            self.mark_sent()
        except Exception as exc:  # storage already gone: the rows are published again once their lease runs out
            log.warning("outbox relay could not mark its last rows sent (%s)", exc.__class__.__name__)

    def _until_next_duty(self) -> float:
        if self._mark_due is None:
            return self.sweep_seconds
        return max(0.0, min(self.sweep_seconds, self._mark_due - time.monotonic()))

    def mark_sent(self) -> None:
        """Mark the rows published from memory so far as sent, in one update (two with private rows)."""
        published, private = self._unmarked["published"], self._unmarked["private"]
        if not published and not private:
            self._mark_due = None
            return
        outbox = self.mongo.db.outbox
        sent_mark = {"state": "sent", "published_at": utc_now()}
        if published:
            outbox.update_many({"_id": {"$in": published}}, {"$set": sent_mark})
            self._unmarked["published"] = []
        if private:
            # The reader has it now; the row keeps what happened and when, not the secret.
            outbox.update_many({"_id": {"$in": private}}, {"$set": sent_mark, "$unset": {"envelope.data": ""}})
            self._unmarked["private"] = []
        self._mark_due = None

    def publish_fresh(self) -> None:
        """Publish the rows handed over since the last call, oldest first.

        They were leased to this relay as they were written, so there is
        nothing to claim. A row with less than half its lease left (the relay
        fell that far behind, say while the broker was away) is given back to
        the sweep at once, so the two never race for it and it does not wait
        out its lease.
        """
        while self._fresh:
            rows = [self._fresh.popleft() for _ in range(min(self.batch_size, len(self._fresh)))]
            keep_until = utc_now() + self.lease / 2
            stale = [row["_id"] for row in rows if row["lease_until"] <= keep_until]
            if stale:
                self._give_back(stale, self.owner)
            self._publish(rows=[row for row in rows if row["lease_until"] > keep_until], leased_to=self.owner)

    def _give_back_fresh(self) -> None:
        """Drop the handed-over rows and end their lease, so the next sweep (ours or a replica's) takes them.

        After an overflow that means every pending row leased to this relay,
        including those never held in memory.
        """
        if self._overflowed:
            # Memory takes rows again from here on; one committed meanwhile may be both held and given
            # back, and so published twice, with its one event id.
            self._overflowed = False
            self._fresh.clear()
            self.mongo.db.outbox.update_many({"state": "pending", "lease_owner": self.owner},
                                             {"$set": {"lease_until": EPOCH}})
            return
        ids = [row["_id"] for row in self._fresh]
        self._fresh.clear()
        if ids:
            self._give_back(ids, self.owner)

    def _give_back(self, ids: list, owner: str) -> None:
        self.mongo.db.outbox.update_many({"_id": {"$in": ids}, "lease_owner": owner, "state": "pending"},
                                         {"$set": {"lease_until": EPOCH}})

    def _publish(self, rows: list[dict], leased_to: str | None = None) -> None:
        """Publish ``rows`` in order and mark them sent; rows ``leased_to`` us that failed are given back."""
        published, private = [], []
        try:
            for row in rows:
                exchange = self.exchanges[row.get("exchange") or self.exchange.name]
                self.publisher.publish(
                    encode(row["envelope"]), exchange=exchange, routing_key=row["routing_key"],
                    message_id=row["event_id"], content_type=CONTENT_TYPE, declare=[exchange])
                (private if row.get("private") else published).append(row["_id"])
                self.metrics.published.labels(row["type"]).inc()
        finally:
            self._unmarked["published"] += published
            self._unmarked["private"] += private
            if self._mark_due is None and (published or private):
                self._mark_due = time.monotonic() + MARK_SENT_SECONDS
            if not leased_to or len(self._unmarked["published"]) >= self.batch_size:
                # A swept row is marked at once: its lease has run out, so the next sweep would take it again.
                self.mark_sent()
            sent = set(published) | set(private)
            left = [row["_id"] for row in rows if row["_id"] not in sent]
            if left and leased_to:  # let the next sweep (ours or a replica's) take them at once
                self._give_back(left, leased_to)

    def publish_pending(self) -> int:
        """Publish up to one batch of rows whose lease ran out, in order, if this relay holds the sweep lease.

        Returns how many rows it found (0 when another relay is sweeping).
        """
        outbox = self.mongo.db.outbox
        now = utc_now()
        due = {"state": "pending", "lease_until": {"$lt": now}}
        if outbox.find_one(due, {"_id": 1}) is None or not self._hold_sweep_lease(now):
            return 0
        rows = list(outbox.find(due).sort("_id", ASCENDING).limit(self.batch_size))
        self._publish(rows)
        return len(rows)

    def _hold_sweep_lease(self, now: datetime) -> bool:
        """Take or renew this service's sweep lease; False while another relay holds it."""
        try:
            self.mongo.db.outbox_sweeper.update_one(
                {"_id": "sweep", "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": now + self.lease}}, upsert=True)
        except DuplicateKeyError:  # the document exists and names another relay whose lease has not run out
            return False
        return True

    def _backlog(self):
        yield (), float(self.mongo.db.outbox.count_documents({"state": "pending"}))

    def _oldest_age(self):
        oldest = self.mongo.db.outbox.find_one({"state": "pending"}, {"created_at": 1}, sort=[("_id", ASCENDING)])
        age = (utc_now() - oldest["created_at"]).total_seconds() if oldest else 0.0
        yield (), max(age, 0.0)
