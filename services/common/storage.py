"""MongoDB storage for a service: one client per container, one store per worker.

A service declares a ``Store`` subclass (its collections, indexes and queries)
and gets it through ``Storage(MyStore)``. Writes that change state go through
``store.transaction(fn)``: ``fn`` receives a store bound to one MongoDB
transaction and records the events the change causes with ``tx.record(...)``
into the outbox in that same transaction. An event handler's unit of work is
``store.transaction(fn, handling=event)``: the "(source, id) handled" mark is
written in that transaction too. Either all of it commits or none of it does;
a duplicate delivery meets the mark's ``_id`` and raises ``AlreadyHandled``,
which the consumer treats as done. Marks are kept for
``DEDUPE_RETENTION_DAYS`` (30 by default), then deleted by the kit's sweep.
"""
from __future__ import annotations

import logging
import random
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, TypeVar

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider, SharedExtension
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common import config as settings
from services.common.events import Event, build_envelope, utc_now
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection, ensure_indexes, is_unreachable, raise_if_unreachable
from services.common.outbox import OUTBOX_INDEXES, OutboxRelay, outbox_row

T = TypeVar("T")
log = logging.getLogger(__name__)

# Collections every service has beside its own: its outbox (also its event
# log), the events it has handled, the dead letters of its consumers, the
# members it has seen deactivated, and each member's newest session version
# (``member_sessions``: older tokens, and deactivated members, are refused).
KIT_INDEXES: dict[str, list[IndexModel]] = {
    **OUTBOX_INDEXES,
    "dead_letters": [IndexModel([("state", ASCENDING), ("dead_at", ASCENDING)])],
    "processed_events": [IndexModel([("at", ASCENDING)])],  # the retention sweep deletes by it
}

# How long a "(source, id) seen" mark is kept (DEDUPE_RETENTION_DAYS). It must outlast every copy of
# the event that can still arrive: the broker's redeliveries end with the last retry (the retries of
# EVENT_RETRY_DELAYS span under 13 minutes by default), and a restore from backup can replay up to
# the age of the oldest backup kept, a month. A copy older than that relies on the handler's own
# idempotence (versions, unique keys).
DEFAULT_DEDUPE_RETENTION_DAYS = 30
# Marks are expired by a sweep here, not by a TTL index: the embedded storage server's TTL monitor
# reads and decodes every document of a TTL-indexed collection each minute under its global lock
# (a 15 s stall of every request at 100 000 marks, measured), while the sweep deletes a range of
# the ``at`` index a batch at a time, and works the same on MongoDB.
DEDUPE_SWEEP_SECONDS = 600
DEDUPE_SWEEP_BATCH = 1000


# How long a transaction that lost a write conflict is tried again (fifty
# members rating one idea at once conflict on the idea's document).
CONFLICT_RETRY_SECONDS = 30.0

# Transactions one service process runs at once (MAX_TRANSACTIONS); further
# workers wait their turn. The embedded storage server resolves every
# statement of every transaction under one lock, so many open transactions
# mostly wait on each other there: on two cores, four at a time per process
# answered 46 ratings a second where twenty answered 27 (bench/README.md).
DEFAULT_MAX_TRANSACTIONS = 4


class AlreadyHandled(Exception):
    """This event's effect is already stored; redelivery changes nothing."""


class Store:
    """Base for a service's storage wrapper. Subclasses declare ``indexes`` and query methods.

    Every method passes ``session=self.session`` so the same code runs inside
    and outside a transaction.
    """

    indexes: ClassVar[dict[str, list[IndexModel]]] = {}

    def __init__(self, db, *, source: str = "", service: str = "", session=None,
                 relay: OutboxRelay | None = None, turns: Semaphore | None = None):
        self.db = db
        self.source = source
        self.service = service
        self.session = session
        self._relay = relay
        self._turns = turns or nullcontext()
        self._recorded: list[dict] = []

    def gauges(self) -> list[tuple[str, str, list[str], Callable]]:
        """Domain gauges computed at scrape time: ``(name, help, label names, read)``."""
        return []

    def prepare(self) -> None:
        """Bring what an earlier release stored up to what this one reads (a field it lacks, say).

        Runs at every start of the service, after its indexes are declared and
        before it takes requests, so it must be idempotent and cost one indexed
        read when there is nothing left to do. Replicas starting together may
        both run it; each change must be safe to make twice.
        """

    # -- transactions -------------------------------------------------------

    def transaction(self, fn: Callable[["Store"], T], *, handling: Event | None = None) -> T:
        """Run ``fn(tx)`` in one MongoDB transaction, retried on transient conflicts.

        With ``handling=event`` this is an event handler's unit of work: the
        transaction also records ``event`` as handled, so its effect and that
        mark commit together, exactly once. If the event was handled before,
        nothing is written and ``AlreadyHandled`` is raised. Pass it to the
        one transaction that completes the handling; a transaction before it
        runs again when the event is redelivered, so it must be idempotent by
        itself.

        Raises ``Unavailable`` when storage cannot be reached.

        Any write error (a duplicate key included) aborts a MongoDB
        transaction, so ``fn`` must not catch one and carry on: read first, or
        let the error end the transaction.
        """
        recorded = []

        def body(session) -> T:
            tx = type(self)(self.db, source=self.source, service=self.service, session=session, relay=self._relay)
            if handling is not None:
                tx._mark_handled(handling)
            result = fn(tx)
            recorded.append(tx._recorded)
            return result

        try:
            with self._turns:
                result = self._run_transaction(body)
        except PyMongoError as exc:
            raise_if_unreachable(exc)
            raise
        if recorded and recorded[-1] and self._relay:
            # The committed rows go to the relay as they are, so it can publish them without reading them back.
            self._relay.wake(recorded[-1])
        return result

    def _run_transaction(self, body: Callable[[Any], T]) -> T:
        """pymongo's ``with_transaction`` loop, except that an unreachable server ends it at once.

        ``with_transaction`` retries anything labelled transient for two
        minutes, and a lost connection carries that label: requests would hang
        while storage is down instead of answering 503. Write conflicts are
        still retried (with a short jittered pause) for up to
        ``CONFLICT_RETRY_SECONDS``.
        """
        deadline = time.monotonic() + CONFLICT_RETRY_SECONDS
        pause = 0.005
        while True:
            with self.db.client.start_session() as session:
                try:
                    session.start_transaction()
                    result = body(session)
                except BaseException as exc:
                    # Aborting over a connection that just timed out would wait out another timeout;
                    # the server drops the transaction by itself.
                    if session.in_transaction and not is_unreachable(exc):
                        try:
                            session.abort_transaction()
                        except PyMongoError:
                            pass  # the server aborts it by itself
                    if (isinstance(exc, PyMongoError) and not is_unreachable(exc)
                            and exc.has_error_label("TransientTransactionError") and time.monotonic() < deadline):
                        time.sleep(pause * (1 + random.random()))
                        pause = min(pause * 2, 0.2)
                        continue
                    raise
                if not session.in_transaction:  # the body ended the transaction itself
                    return result
                while True:
                    try:
                        session.commit_transaction()
                        return result
                    except PyMongoError as exc:
                        if is_unreachable(exc) or time.monotonic() >= deadline:
                            raise
                        if exc.has_error_label("UnknownTransactionCommitResult"):
                            continue
                        if exc.has_error_label("TransientTransactionError"):
                            break  # run the whole transaction again
                        raise

    def update_and_get(self, collection: str, query: dict, update: dict, projection: dict | None = None) -> dict | None:
        """Update the one document ``query`` matches (it must name the ``_id``) and return it afterwards, or None.

        What ``find_one_and_update`` answers, without it: the embedded storage
        server runs findAndModify as a scan of the whole collection (about
        60 ms a call at 10 000 documents), while an update and a read by
        ``_id`` use the index on both servers. The update re-checks ``query``
        itself, so a conditional claim still succeeds exactly once.
        """
        if "_id" not in query:
            raise ValueError("update_and_get needs the document's _id in its query")
        target = self.db[collection]
        if not target.update_one(query, update, session=self.session).matched_count:
            return None
        return target.find_one({"_id": query["_id"]}, projection, session=self.session)

    def _mark_handled(self, event: Event) -> None:
        """Written before the handler's own writes, so a duplicate delivery stops before doing any work."""
        try:
            self.db.processed_events.insert_one(
                {"_id": event.dedupe_key, "type": event.name, "at": utc_now()}, session=self.session)
        except DuplicateKeyError:
            raise AlreadyHandled(event.dedupe_key) from None

    def record(self, name: str, *, subject: str, data: dict, version: int = 1) -> dict:
        """Add an event to the outbox inside the current transaction; the relay publishes it after commit."""
        if self.session is None:
            raise RuntimeError("record() belongs inside store.transaction(...)")
        envelope = build_envelope(name, data, subject=subject, source=self.source, version=version)
        row = outbox_row(envelope, self.service, name, version)
        if self._relay:  # leased to this process's relay, which publishes it once the transaction commits
            row.update(self._relay.lease_for_new_rows())
        self.db.outbox.insert_one(row, session=self.session)  # sets row["_id"]
        self._recorded.append(row)
        return envelope

    # -- members seen deactivated (for token checks) -----------------------

    def mark_member_deactivated(self, member_id: str) -> None:
        self.db.deactivated_members.update_one(
            {"_id": member_id}, {"$set": {"at": utc_now()}}, upsert=True, session=self.session)
        # Token checks read member_sessions alone, so each request costs one lookup by id.
        self.db.member_sessions.update_one(
            {"_id": member_id}, {"$set": {"deactivated": True}}, upsert=True, session=self.session)

    def note_session_version(self, member_id: str, session_version: int) -> None:
        """Tokens of ``member_id`` older than ``session_version`` are refused from now on.

        ``$max`` keeps the newest whatever order events arrive in.
        """
        self.db.member_sessions.update_one(
            {"_id": member_id}, {"$max": {"sv": int(session_version)}}, upsert=True, session=self.session)


def dedupe_retention(config: dict) -> timedelta:
    """``DEDUPE_RETENTION_DAYS`` (fractions allowed); ``ConfigError`` unless it outlasts the retries of ``EVENT_RETRY_DELAYS``."""
    from services.common.consumer import retry_delays

    value = config.get("DEDUPE_RETENTION_DAYS")
    if value in (None, ""):
        value = DEFAULT_DEDUPE_RETENTION_DAYS
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise settings.ConfigError(f"DEDUPE_RETENTION_DAYS must be a number of days, not {value!r}.") from None
    redelivery_span = sum(retry_delays(config.get("EVENT_RETRY_DELAYS")))
    if not days * 86400 > redelivery_span:
        raise settings.ConfigError(
            f"DEDUPE_RETENTION_DAYS is {value!r}, but the broker can still redeliver an event "
            f"{redelivery_span:.0f} s after it first arrived (the retries of EVENT_RETRY_DELAYS): keep the marks "
            f"longer than that, and longer than a restore from backup could replay "
            f"(default {DEFAULT_DEDUPE_RETENTION_DAYS}).")
    return timedelta(days=days)


def expire_dedupe_marks(db, before: datetime, batch: int = DEDUPE_SWEEP_BATCH) -> int:
    """Delete the marks made before ``before``, about ``batch`` at a time with a pause between; how many went."""
    marks = db.processed_events
    deleted = 0
    while True:
        edge = list(marks.find({"at": {"$lt": before}}, {"at": 1}).sort("at", ASCENDING).skip(batch - 1).limit(1))
        deleted += marks.delete_many({"at": {"$lte": edge[0]["at"]} if edge else {"$lt": before}}).deleted_count
        if not edge:
            return deleted
        eventlet.sleep(0.1)  # other work gets the storage server between batches


class DedupeExpiry(SharedExtension):
    """Deletes dedupe marks older than ``DEDUPE_RETENTION_DAYS``: at start, then every ``DEDUPE_SWEEP_SECONDS``.

    Every replica sweeps; deleting what another replica already deleted costs one indexed read.
    """

    mongo = MongoConnection()

    def setup(self) -> None:
        self.retention = dedupe_retention(self.container.config)

    def start(self) -> None:
        self.container.spawn_managed_thread(self._run, identifier="dedupe-expiry")

    def _run(self) -> None:
        while True:
            try:
                expired = expire_dedupe_marks(self.mongo.db, utc_now() - self.retention)
                if expired:
                    log.info("deleted %s dedupe marks older than %s days", expired, self.retention.days)
            except PyMongoError as exc:  # storage is down: the next sweep deletes them
                log.warning("could not delete old dedupe marks (%s: %s)", exc.__class__.__name__, exc)
            eventlet.sleep(DEDUPE_SWEEP_SECONDS)


class Storage(DependencyProvider):
    """Gives each worker a ``store_class`` instance bound to the container's database."""

    mongo = MongoConnection()
    relay = OutboxRelay()
    metrics = ServiceMetrics()
    dedupe_expiry = DedupeExpiry()

    def __init__(self, store_class: type[Store]):
        self.store_class = store_class

    def setup(self) -> None:
        limit = self.container.config.get("MAX_TRANSACTIONS") or DEFAULT_MAX_TRANSACTIONS
        if not str(limit).isdigit() or int(limit) < 1:
            raise settings.ConfigError(f"MAX_TRANSACTIONS must be a whole number of at least 1, not {limit!r}.")
        self.turns = Semaphore(int(limit))
        try:
            ensure_indexes(self.mongo.db, {**KIT_INDEXES, **self.store_class.indexes})
            self.store_class(self.mongo.db).prepare()
        except PyMongoError as exc:
            raise settings.ConfigError(
                f"Cannot reach storage at MONGO_URI to declare indexes ({exc.__class__.__name__}); "
                "start the storage server or fix MONGO_URI."
            ) from exc
        for name, doc, labels, read in self.store_class(self.mongo.db).gauges():
            self.metrics.gauge(name, doc, labels, read)

    def get_dependency(self, worker_ctx) -> Store:
        return self.store_class(
            self.mongo.db, source=self.mongo.source, service=self.container.service_name,
            relay=self.relay, turns=self.turns,
        )


def plain(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored document with ``_id`` renamed to ``id`` (what callers see)."""
    if doc is None:
        return None
    out = dict(doc)
    out["id"] = str(out.pop("_id"))
    return out
