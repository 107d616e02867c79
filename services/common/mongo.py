"""The container's MongoDB connection, shared by its storage, outbox relay and consumers."""
from __future__ import annotations

from nameko.extensions import SharedExtension
from pymongo import IndexModel, MongoClient, uri_parser
from pymongo.errors import AutoReconnect, ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from services.common import config as settings
from services.common.errors import Unavailable


# Every storage call has a deadline, so a storage server that hangs (paused, overloaded, cut off)
# costs a caller seconds, not a worker for ever. ``MONGO_URI`` may set any of these itself. Requests
# have a tighter deadline for all their calls together (``STORAGE_DEADLINE_SECONDS``, in storage.py);
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

    def check_ready(self) -> str | None:
        try:
            self.client.admin.command("ping")
            return None
        except PyMongoError as exc:
            return f"storage unreachable: {exc.__class__.__name__}"

    def stop(self) -> None:
        self.client.close()

    kill = stop
