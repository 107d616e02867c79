"""The CloudEvents 1.0 envelope every event travels in, built and read in one place.

``build_envelope`` validates ``data`` against the registered schema before an
event can be stored in an outbox, so nothing malformed is ever published.
``read_envelope`` is the consumer's side: it raises ``PoisonMessage`` naming
the problem for anything that can never be handled (not JSON, missing
attributes, unknown type or version, data failing its schema).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from services.common import contract

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "data")


class PoisonMessage(ValueError):
    """A message that no retry can fix; it goes to dead letters at once with this reason."""


class InvalidEvent(ValueError):
    """A service tried to publish data that fails the event's registered schema."""


@dataclass(frozen=True)
class Event:
    """A received event: the envelope's attributes with ``data`` validated."""

    id: str
    source: str
    name: str
    version: int
    subject: str
    time: str
    data: dict

    @property
    def dedupe_key(self) -> str:
        return f"{self.source}|{self.id}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(moment: datetime) -> str:
    """RFC 3339 with its offset (UTC for everything the platform stamps)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def build_envelope(name: str, data: dict, *, subject: str, source: str, version: int = 1,
                   event_id: str | None = None, time: datetime | None = None) -> dict:
    """Return the structured CloudEvents envelope for a registered event type."""
    spec = contract.spec_for(name, version)
    errors = spec.schema().validate(data)
    if errors:
        raise InvalidEvent(f"{name} v{version} data fails its schema: {errors}")
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": spec.ce_type,
        "time": isoformat(time or utc_now()),
        "datacontenttype": "application/json",
        "subject": str(subject),
        "data": data,
    }


def encode(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def read_envelope(body: bytes | str | dict) -> Event:
    """Decode and validate a received envelope, or raise ``PoisonMessage`` saying why."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PoisonMessage(f"body is not UTF-8 text: {exc}") from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise PoisonMessage(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PoisonMessage("body is not a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in body]
    if missing:
        raise PoisonMessage(f"envelope lacks {', '.join(missing)}")
    if body["specversion"] != "1.0":
        raise PoisonMessage(f"specversion {body['specversion']!r} is not 1.0")
    try:
        name, version = contract.parse_ce_type(body["type"])
        spec = contract.spec_for(name, version)
    except contract.UnknownEventType as exc:
        raise PoisonMessage(str(exc)) from None
    if not isinstance(body["data"], dict):
        raise PoisonMessage("data is not a JSON object")
    errors = spec.schema().validate(body["data"])
    if errors:
        raise PoisonMessage(f"data fails the {name} v{version} schema: {errors}")
    return Event(
        id=str(body["id"]), source=str(body["source"]), name=name, version=version,
        subject=str(body["subject"]), time=str(body["time"]), data=body["data"],
    )


def as_json_safe(value: Any) -> Any:
    """Datetimes to RFC 3339 strings, recursively, for event data built from stored documents."""
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {k: as_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json_safe(v) for v in value]
    return value
