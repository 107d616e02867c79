"""The container's MongoDB connection, shared by its storage, outbox relay and consumers.

It also keeps the container's storage gate: once something finds storage
unreachable, consumers wait at the gate instead of trying storage message by
message, and one ping at a time, at growing intervals, finds out when it is
back.
"""
from __future__ import annotations

import time
from typing import Callable

import eventlet
import pymongo
from eventlet.semaphore import Semaphore
from nameko.extensions import SharedExtension
from pymongo import IndexModel, MongoClient, uri_parser
from pymongo.errors import AutoReconnect, ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from services.common import config as settings
from services.common.backoff import Backoff
from services.common.errors import Unavailable

# While storage is unreachable it is pinged first after half a second, then at doubling intervals up to
# five seconds: one ping at a time per process, however many messages wait. Five seconds is also the
# longest a returning server waits to be noticed.
GATE_FIRST_PAUSE = 0.5
GATE_LONGEST_PAUSE = 5.0
# A ping to a paused (SIGSTOPped) server would otherwise wait for the driver to give up on the connection.
PING_SECONDS = 3.0


# Every storage call has a deadline, so a storage server that hangs (paused, overloaded, cut off)
# costs a caller seconds, not a worker for ever. ``MONGO_URI`` may set any of these itself. Requests
# have a tighter deadline for all their calls together (``STORAGE_DEADLINE_SECONDS``, set by container.py);
# these bound everything else: event handlers, timers, the relay, the CLI's bulk work.
STORAGE_DEADLINES_MS = {
    "serverSelectionTimeoutMS": 3000,  # no reachable server
    "connectTimeoutMS": 3000,  # a new connection
    "socketTimeoutMS": 10000,  # one round trip (a bulk insert of thousands of documents included)
    "waitQueueTimeoutMS": 10000,  # a free connection from the pool
}


def connect(uri: str) -> MongoClient:
    """A client with the settings every part of the platform uses (aware datetimes, deadlines)."""
    in_uri = {name.lower() for name in uri_parser.parse_uri(uri)["options"]}
    deadlines = {name: ms for name, ms in STORAGE_DEADLINES_MS.items() if name.lower() not in in_uri}
    return MongoClient(uri, tz_aware=True, uuidRepresentation="standard", appname="engage", **deadlines)


def ensure_indexes(db, indexes: dict[str, list[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            db[collection].create_indexes(models)


UNAVAILABLE_MESSAGE = "Storage is unavailable at the moment; nothing was changed. Please try again shortly."


def is_unreachable(exc: BaseException) -> bool:
    """True for the errors that mean "the storage server cannot be reached" (down, restarting, no primary)."""
    return isinstance(exc, (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError)) or (
        isinstance(exc, PyMongoError) and exc.timeout)


def storage_unreachable(exc: BaseException) -> bool:
    """True for an unreachable-storage error, raw or already turned into ``Unavailable``."""
    return is_unreachable(exc) or (isinstance(exc, Unavailable) and is_unreachable(exc.__cause__))


def raise_if_unreachable(exc: PyMongoError) -> None:
    """Turn "storage is down" into a 503 the caller can understand."""
    if is_unreachable(exc):
        raise Unavailable(UNAVAILABLE_MESSAGE) from exc


def as_domain_error(exc: BaseException) -> BaseException:
    """``exc`` itself, or ``Unavailable`` when it says storage cannot be reached (for entrypoints' error mapping)."""
    if is_unreachable(exc):
        replacement = Unavailable(UNAVAILABLE_MESSAGE)
        replacement.__cause__ = exc
        return replacement
    return exc


class StorageGate:
    """Closed from the moment storage is found unreachable until a ping answers again.

    ``wait(limit)`` returns True at once while the gate is open. While it is
    closed, one waiter at a time sleeps the current pause and pings; the
    others wait their turn, so the number of waiters never multiplies the
    pings. Pauses grow while pings fail, and keep growing when storage is
    found unreachable again soon after a ping answered; ``succeeded()`` (real
    work done) starts them again from the first.
    """

    def __init__(self, ping: Callable[[], bool]):
        self._ping = ping
        self._open = True
        self._backoff = Backoff(GATE_FIRST_PAUSE, GATE_LONGEST_PAUSE)
        self._turn = Semaphore(1)
        self.pings = 0

    @property
    def is_open(self) -> bool:
        return self._open

    def close(self) -> None:
        self._open = False

    def succeeded(self) -> None:
        self._backoff.succeeded()

    def wait(self, limit: float) -> bool:
        """True once storage answers (at once while the gate is open); False after ``limit`` seconds without."""
        deadline = time.monotonic() + limit
        while not self._open:
            left = deadline - time.monotonic()
            if left <= 0 or not self._turn.acquire(timeout=left):
                return self._open
            try:
                if self._open:
                    break
                pause = self._backoff.failed()
                left = deadline - time.monotonic()
                if pause > left:
                    eventlet.sleep(max(left, 0))
                    return self._open
                eventlet.sleep(pause)
                self.pings += 1
                if self._ping():
                    self._open = True
            finally:
                self._turn.release()
        return True


class MongoConnection(SharedExtension):
    """The container's MongoDB client and database (``MONGO_URI``, ``MONGO_DATABASE``).

    Opened when bound to its container, so dependencies may use it in their own
    ``setup`` (nameko sets extensions up concurrently). The client connects lazily.
    """

    def bind(self, container):
        instance = super().bind(container)
        if not hasattr(instance, "db"):
            instance.open()
        return instance

    def open(self) -> None:
        config = self.container.config
        settings.check_settings(config, ("MONGO_URI", "MONGO_DATABASE"))
        self.client = connect(config["MONGO_URI"])
        self.db = self.client[config["MONGO_DATABASE"]]
        self.service_name = self.container.service_name
        self.source = settings.agency_source(config, self.service_name)
        self.gate = StorageGate(self.answers)

    def answers(self) -> bool:
        """True when the server answers a ping within ``PING_SECONDS``."""
        try:
            with pymongo.timeout(PING_SECONDS):
                self.client.admin.command("ping")
            return True
        except PyMongoError:
            return False

    def check_ready(self) -> str | None:
        try:
            self.client.admin.command("ping")
            return None
        except PyMongoError as exc:
            return f"storage unreachable: {exc.__class__.__name__}"

    def stop(self) -> None:
        self.client.close()

    kill = stop
