"""The container's MongoDB connection, shared by its storage, outbox relay and consumers."""
from __future__ import annotations

from nameko.extensions import SharedExtension
from pymongo import IndexModel, MongoClient
from pymongo.errors import AutoReconnect, ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from services.common import config as settings
from services.common.errors import Unavailable


def connect(uri: str) -> MongoClient:
    """A client with the settings every part of the platform uses (aware datetimes, short timeouts)."""
    return MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000,
                       uuidRepresentation="standard", appname="engage")


def ensure_indexes(db, indexes: dict[str, list[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            db[collection].create_indexes(models)


def raise_if_unreachable(exc: PyMongoError) -> None:
    """Turn "storage is down" into a 503 the caller can understand."""
    if isinstance(exc, (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError)):
        raise Unavailable("Storage is unavailable at the moment; nothing was changed. Please try again shortly.") from exc


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
