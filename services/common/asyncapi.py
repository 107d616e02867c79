"""``docs/asyncapi.yaml``: the published event contract (AsyncAPI 3.0), generated from the registry.

Everything in the document comes from ``services.common.contract.REGISTRY``:
one channel per event type and version on its publisher's ``<service>.events``
topic exchange, or ``<service>.private`` for a type private to named readers
(the channel's address is the routing key; ``x-engage-visibility`` says
``public`` or ``private``, and a private one names its readers), the CloudEvents
1.0 envelope every message travels in, each type's ``data`` as JSON Schema
derived from its marshmallow fields, and the registered example wrapped in
an envelope. The output is deterministic, so ``engage contract --check`` can
compare the checked-in file with the code byte for byte.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.common import contract
from services.common.events import CONTENT_TYPE, build_envelope

ASYNCAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
ENVELOPE_SCHEMA = "CloudEventEnvelope"
EXAMPLE_AGENCY = "dta"
EXAMPLE_TIME = datetime(2026, 11, 23, 3, 15, tzinfo=timezone.utc)
# Example ids are derived from the type's name so regenerating never changes them.
_EXAMPLE_NAMESPACE = uuid.UUID("6d1c2f0e-8a4b-4e7c-9f3a-2b5d7e9c1a40")
AMQP_BINDING_VERSION = "0.3.0"

ENVELOPE = {
    "type": "object",
    "description": "A CloudEvents 1.0 structured-mode envelope in JSON. Consumers accept attributes they do "
                   "not know; a subscriber that has already handled an event (same source and id) drops the repeat.",
    "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
    "properties": {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "format": "uuid",
               "description": "Unique per event; redeliveries and replays keep it."},
        "source": {"type": "string", "pattern": r"^urn:engage:[^:\s]+:[a-z]+$",
                   "description": "urn:engage:<agency>:<publishing service>."},
        "type": {"type": "string", "pattern": r"^au\.gov\.engage\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$",
                 "description": "au.gov.engage.<noun>.<past-verb>.v<version>."},
        "time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC."},
        "datacontenttype": {"type": "string", "const": "application/json"},
        "subject": {"type": "string", "description": "The id of the aggregate the event is about."},
        "data": {"type": "object", "description": "The type's data; always carries the aggregate's version."},
    },
}


def channel_id(spec: contract.EventSpec) -> str:
    """A channel key AsyncAPI accepts (letters, digits, ``_`` and ``-``): ``ideas_idea_rated_v1``."""
    return f"{spec.publisher}_{spec.name}_v{spec.version}".replace(".", "_")


def message_id(spec: contract.EventSpec) -> str:
    return f"{spec.name}.v{spec.version}"


def example_subject(spec: contract.EventSpec) -> str:
    """The aggregate id in the example: ``<noun>_id`` when the data has it, else its first ``*_id``."""
    data = spec.example
    noun = spec.name.split(".")[0]
    if isinstance(data.get(f"{noun}_id"), str):
        return data[f"{noun}_id"]
    for key, value in data.items():
        if key.endswith("_id") and isinstance(value, str):
            return value
    return str(uuid.uuid5(_EXAMPLE_NAMESPACE, f"subject:{spec.name}"))


def example_envelope(spec: contract.EventSpec) -> dict:
    """The registered example in its envelope, exactly as a subscriber would receive it."""
    return build_envelope(
        spec.name, spec.example, version=spec.version, subject=example_subject(spec),
        source=f"urn:engage:{EXAMPLE_AGENCY}:{spec.publisher}",
        event_id=str(uuid.uuid5(_EXAMPLE_NAMESPACE, message_id(spec))), time=EXAMPLE_TIME,
    )


def data_schemas(specs: list[contract.EventSpec]) -> dict:
    """JSON Schema of every type's data (named ``<type>.v<N>.data``) plus the nested schemas they use."""
    spec = APISpec("Engagement Network events", "1", "3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=nested_schema_name)])
    for event in specs:
        spec.components.schema(f"{message_id(event)}.data", schema=event.schema)
    return spec.to_dict().get("components", {}).get("schemas", {})


def nested_schema_name(schema) -> str:
    """Nested schemas are named by publisher and class (``ideas.RatingSummary``): two publishers may reuse a class name."""
    cls = schema if isinstance(schema, type) else type(schema)
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def _message(spec: contract.EventSpec) -> dict:
    return {
        "name": spec.name,
        "title": f"{spec.name} (version {spec.version})",
        "summary": spec.summary,
        "contentType": CONTENT_TYPE,
        "payload": {"allOf": [
            {"$ref": f"#/components/schemas/{ENVELOPE_SCHEMA}"},
            {"type": "object", "properties": {
                "type": {"const": spec.ce_type},
                "data": {"$ref": f"#/components/schemas/{message_id(spec)}.data"},
            }},
        ]},
        "bindings": {"amqp": {"messageType": spec.name, "bindingVersion": AMQP_BINDING_VERSION}},
        "examples": [{"name": spec.name, "summary": spec.summary, "payload": example_envelope(spec)}],
    }


def _channel(spec: contract.EventSpec) -> dict:
    if spec.private:
        visibility = {"x-engage-visibility": "private", "x-engage-readers": list(spec.private_to)}
        reach = (f"Private: only {', '.join(spec.private_to)} may read {spec.exchange}; it carries a secret and is "
                 f"never replayed from the event log. ")
    else:
        visibility = {"x-engage-visibility": "public"}
        reach = "Public: any subscriber may bind to it. "
    return {
        "address": spec.routing_key,
        "title": f"{spec.exchange} / {spec.routing_key}",
        "description": f"Published by the {spec.publisher} service on the {spec.exchange} topic exchange "
                       f"with routing key {spec.routing_key}. {reach}{spec.summary}",
        **visibility,
        "messages": {message_id(spec): {"$ref": f"#/components/messages/{message_id(spec)}"}},
        "bindings": {"amqp": {
            "is": "routingKey",
            "exchange": {"name": spec.exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
            "bindingVersion": AMQP_BINDING_VERSION,
        }},
    }


def build_document(specs: list[contract.EventSpec] | None = None) -> dict:
    """The AsyncAPI 3.0 document for ``specs`` (every registered type by default)."""
    specs = contract.all_specs() if specs is None else specs
    exchanges = sorted({spec.exchange for spec in specs if not spec.private})
    channels, operations, messages = {}, {}, {}
    for spec in specs:
        key = channel_id(spec)
        channels[key] = _channel(spec)
        messages[message_id(spec)] = _message(spec)
        operations[f"publish_{key}"] = {
            "action": "send",
            "title": f"{spec.publisher} publishes {spec.name}",
            "summary": spec.summary,
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_id(spec)}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Engagement Network events",
            "version": "1.0.0",
            "description": (
                "Every event the platform publishes, for systems that subscribe to them.\n\n"
                "Each publishing service has one durable topic exchange, `<service>.events` ("
                + ", ".join(f"`{name}`" for name in exchanges) + "). The routing key is the event type, "
                "`<noun>.<past-verb>`; version 2 and later of a type travel as `<noun>.<past-verb>.v<N>`, "
                "beside the old version for a release. Bind a durable queue of your own to the routing keys "
                "you want. Bodies are CloudEvents 1.0 structured envelopes in JSON; `data` always carries the "
                "aggregate's `version`, which rises by one per change, so a consumer can ignore an event older "
                "than the state it holds. Delivery is at least once: drop repeats by `source` and `id`.\n\n"
                "Channels marked `x-engage-visibility: private` travel on a `<service>.private` exchange that "
                "only the services named in `x-engage-readers` may read: they carry secrets (one-time links) "
                "and are listed so the platform's own contract is whole, not for outside subscribers.\n\n"
                "Events about ideas and their discussion carry `data.audience`: `public`, or `network:<slug>` "
                "for an idea of a closed network, which only that network's members may be told of. A system "
                "that passes events on to people must keep those to the network's members or drop them (the "
                "subscriber client drops them unless made with `include_restricted=True`); an event without "
                "the field is public.\n\n"
                "Generated from the schema registry by `engage contract`; do not edit by hand."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "pathname": "/",
                "description": "The broker of a local run (`make run`); in production, the operator's AMQP_URI.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {ENVELOPE_SCHEMA: ENVELOPE, **data_schemas(specs)},
            "messages": messages,
        },
    }


def render(document: dict | None = None) -> str:
    """The document as YAML text, stable from one run to the next."""
    document = build_document() if document is None else document
    header = "# Generated by `engage contract` from services/common/contract; do not edit by hand.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)


def write(path: Path = ASYNCAPI_PATH) -> bool:
    """Write the document; True when the file changed."""
    text = render()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def is_current(path: Path = ASYNCAPI_PATH) -> bool:
    """True when the file on disk is exactly what the registry generates now."""
    return path.exists() and path.read_text(encoding="utf-8") == render()
