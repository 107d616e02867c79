"""The event contract: one registry of every event type, its version and data schema.

Publishing and consuming both validate ``data`` against the schema registered
here. Changes to a version are additive (consumers accept unknown fields); a
breaking change is registered as a new version and published beside the old
one for a release. ``docs/asyncapi.yaml`` is generated from this registry.

Most types are public: they travel on ``<publisher>.events``, which any
subscriber may read. A type registered ``private_to`` some services carries a
secret (a one-time link, an address) and travels on ``<publisher>.private``,
which the broker lets only those services read; it is never replayed from
the event log.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from marshmallow import INCLUDE, Schema

CE_TYPE_PREFIX = "au.gov.engage."
_CE_TYPE = re.compile(r"^au\.gov\.engage\.(?P<name>[a-z_]+\.[a-z_]+)\.v(?P<version>[1-9][0-9]*)$")


class EventData(Schema):
    """Base for event data schemas: unknown fields pass through (additive evolution)."""

    class Meta:
        unknown = INCLUDE


@dataclass(frozen=True)
class EventSpec:
    name: str
    version: int
    publisher: str
    schema: type[Schema]
    summary: str
    example: dict = field(default_factory=dict)
    private_to: tuple[str, ...] = ()

    @property
    def private(self) -> bool:
        return bool(self.private_to)

    @property
    def routing_key(self) -> str:
        return routing_key(self.name, self.version)

    @property
    def ce_type(self) -> str:
        return f"{CE_TYPE_PREFIX}{self.name}.v{self.version}"

    @property
    def exchange(self) -> str:
        return f"{self.publisher}.private" if self.private else f"{self.publisher}.events"


REGISTRY: dict[tuple[str, int], EventSpec] = {}


class UnknownEventType(LookupError):
    pass


def register(publisher: str, name: str, *, version: int = 1, summary: str, example: dict,
             private_to: tuple[str, ...] = ()) -> Callable:
    """Class decorator: register ``schema`` as the data of ``name`` version ``version``.

    ``private_to`` names the only services that may read it (on ``<publisher>.private``).
    """

    def decorate(schema: type[Schema]) -> type[Schema]:
        key = (name, version)
        if key in REGISTRY:
            raise ValueError(f"event {name} v{version} is registered twice")
        errors = schema().validate(example)
        if errors:
            raise ValueError(f"the example of {name} v{version} fails its own schema: {errors}")
        REGISTRY[key] = EventSpec(name, version, publisher, schema, summary, example, tuple(private_to))
        return schema

    return decorate


def routing_key(name: str, version: int = 1) -> str:
    """Version 1 travels as ``noun.verb``; later versions as ``noun.verb.vN`` so old consumers never see them."""
    return name if version == 1 else f"{name}.v{version}"


def spec_for(name: str, version: int = 1) -> EventSpec:
    try:
        return REGISTRY[(name, version)]
    except KeyError:
        raise UnknownEventType(f"event type {name} v{version} is not in the registry") from None


def parse_ce_type(ce_type: str) -> tuple[str, int]:
    match = _CE_TYPE.match(ce_type or "")
    if not match:
        raise UnknownEventType(f"'{ce_type}' is not an au.gov.engage.<noun>.<verb>.v<N> type")
    return match["name"], int(match["version"])


def all_specs() -> list[EventSpec]:
    return sorted(REGISTRY.values(), key=lambda s: (s.publisher, s.name, s.version))


# Each publisher's schemas register themselves on import.
from services.common.contract import members as _members  # noqa: E402,F401
from services.common.contract import archive as _archive  # noqa: E402,F401
from services.common.contract import ideas as _ideas  # noqa: E402,F401
from services.common.contract import notify as _notify  # noqa: E402,F401
