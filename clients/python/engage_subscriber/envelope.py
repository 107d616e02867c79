"""Reading the CloudEvents 1.0 envelope every Engagement Network event travels in.

``read_event`` accepts an envelope only when it has every required attribute
(``specversion`` 1.0, ``id``, ``source``, ``type``, ``time``, ``subject``,
``data``), its type is ``au.gov.engage.<noun>.<past-verb>.v<N>``, its time is
RFC 3339 and ``data`` is an object carrying the aggregate's integer
``version``. Attributes and data fields it does not know are kept: the
contract only ever grows by adding them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, Union

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "data")
_TYPE = re.compile(r"^au\.gov\.engage\.(?P<name>[a-z_]+\.[a-z_]+)\.v(?P<version>[1-9][0-9]*)$")
_SOURCE = re.compile(r"^urn:engage:(?P<agency>[^:\s]+):(?P<service>[a-z]+)$")


class InvalidEnvelope(ValueError):
    """The message is not a valid Engagement Network event; retrying cannot fix it."""


@dataclass(frozen=True)
class Event:
    """One received event. ``name`` is the event type (``idea.rated``), ``type`` the full CloudEvents type."""

    id: str
    source: str
    type: str
    name: str
    version: int
    subject: str
    time: datetime
    data: dict
    envelope: dict = field(repr=False)
    routing_key: str = ""
    exchange: str = ""
    redelivered: bool = False
    replayed: bool = False

    @property
    def agency(self) -> str:
        return _SOURCE.match(self.source)["agency"] if _SOURCE.match(self.source) else ""

    @property
    def publisher(self) -> str:
        return _SOURCE.match(self.source)["service"] if _SOURCE.match(self.source) else ""

    @property
    def dedupe_key(self) -> str:
        """The same for every delivery of one event (redeliveries and replays included)."""
        return f"{self.source}|{self.id}"

    @property
    def audience(self) -> str:
        """``public``, or ``network:<slug>`` for an event about an idea of a closed network: only that network's
        members may be told of it, so a system serving anyone else must not pass it on."""
        value = self.data.get("audience") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) and value else "public"

    @property
    def is_public(self) -> bool:
        return self.audience == "public"

    @property
    def aggregate_version(self) -> int:
        """``data.version``: ignore an event older than the state you already hold."""
        return self.data["version"]


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidEnvelope("time is not a string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEnvelope(f"time {value!r} is not RFC 3339") from None
    if moment.tzinfo is None:
        raise InvalidEnvelope(f"time {value!r} has no offset")
    return moment


def read_event(body: Union[bytes, str, dict], *, routing_key: str = "", exchange: str = "",
               redelivered: bool = False, replayed: bool = False) -> Event:
    """Decode and check an envelope, or raise ``InvalidEnvelope`` saying what is wrong."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEnvelope("body is not UTF-8 text") from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise InvalidEnvelope(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEnvelope("body is not a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in body]
    if missing:
        raise InvalidEnvelope(f"envelope lacks {', '.join(missing)}")
    if body["specversion"] != "1.0":
        raise InvalidEnvelope(f"specversion {body['specversion']!r} is not 1.0")
    for name in ("id", "source", "subject"):
        if not isinstance(body[name], str) or not body[name]:
            raise InvalidEnvelope(f"{name} is not a non-empty string")
    match = _TYPE.match(body["type"] if isinstance(body["type"], str) else "")
    if not match:
        raise InvalidEnvelope(f"type {body['type']!r} is not au.gov.engage.<noun>.<verb>.v<N>")
    data = body["data"]
    if not isinstance(data, dict):
        raise InvalidEnvelope("data is not a JSON object")
    version: Optional[Any] = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidEnvelope("data.version is not a positive whole number")
    return Event(
        id=body["id"], source=body["source"], type=body["type"], name=match["name"],
        version=int(match["version"]), subject=body["subject"], time=_parse_time(body["time"]), data=data,
        envelope=body, routing_key=routing_key, exchange=exchange, redelivered=redelivered, replayed=replayed,
    )
