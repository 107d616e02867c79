"""Descriptions for developers: the OpenAPI document, a page that reads it, and a page of the published events.

Both documents are built from code when first asked for (the gateway's routes
with the contract's request schemas; the event registry) and kept for the life
of the process, so they always describe the running version.
"""
from __future__ import annotations

import json
from functools import lru_cache

from services.common import asyncapi
from services.common.http import json_response
from services.web import openapi
from services.web.gateway import api, page


@lru_cache(maxsize=4)
def _openapi_document(gateway_class: type) -> dict:
    return openapi.build_spec(gateway_class)


@lru_cache(maxsize=1)
def _asyncapi_document() -> dict:
    return asyncapi.build_document()


def _fields(schema: dict, components: dict) -> list[dict]:
    """Rows for a schema's properties: name, type, whether required, and its limits."""
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[1], {})
    required = set(schema.get("required", []))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        if "$ref" in prop:
            kind = prop["$ref"].rsplit("/", 1)[1]
        else:
            kind = prop.get("type", "any")
            kind = " or ".join(kind) if isinstance(kind, list) else kind
            if kind == "array" and isinstance(prop.get("items"), dict):
                kind = f"array of {prop['items'].get('type', 'object')}"
        limits = []
        for key, label in (("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
                           ("minimum", "from {}"), ("maximum", "to {}"), ("pattern", "matching {}")):
            if key in prop:
                limits.append(label.format(prop[key]))
        if "enum" in prop:
            limits.append("one of " + ", ".join(str(v) for v in prop["enum"] if v is not None))
        rows.append({"name": name, "type": kind, "required": name in required, "limits": "; ".join(limits)})
    return rows


def api_sections(document: dict) -> list[dict]:
    """The OpenAPI document grouped by tag, in the shape the API page shows."""
    components = document.get("components", {}).get("schemas", {})
    sections: dict[str, list] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {})
            media, content = next(iter(body.items()), (None, {}))
            sections.setdefault(operation["tags"][0], []).append({
                "method": method.upper(), "path": path, "summary": operation["summary"],
                "description": operation.get("description", ""), "id": operation["operationId"],
                "auth": "required" if operation.get("security") == [{"bearer": []}]
                        else ("none" if operation.get("security") == [] else "optional"),
                "media": media, "body": _fields(content.get("schema", {}), components) if content else [],
                "query": [p for p in operation.get("parameters", []) if p["in"] == "query"],
                "responses": sorted(operation["responses"]),
            })
    return [{"tag": tag, "operations": ops} for tag, ops in sections.items()]


def event_channels(document: dict) -> list[dict]:
    """Every channel of the AsyncAPI document with its message's data fields and example."""
    schemas = document["components"]["schemas"]
    rows = []
    for channel in document["channels"].values():
        message_id = next(iter(channel["messages"]))
        message = document["components"]["messages"][message_id]
        data_ref = message["payload"]["allOf"][1]["properties"]["data"]
        rows.append({
            "id": message_id, "exchange": channel["bindings"]["amqp"]["exchange"]["name"],
            "routing_key": channel["address"], "summary": message["summary"],
            "type": message["payload"]["allOf"][1]["properties"]["type"]["const"],
            "fields": _fields(data_ref, schemas),
            "example": json.dumps(message["examples"][0]["payload"], indent=2, ensure_ascii=False),
        })
    return sorted(rows, key=lambda r: (r["exchange"], r["routing_key"]))


class OpenApiRoutes:
    @api("GET", "/api/v1/openapi.json", kept=True)
    def api_openapi(self, request):
        return json_response(_openapi_document(type(self)))

    @page("GET", "/api/docs")
    def api_docs_page(self, request):
        document = _openapi_document(type(self))
        return self.web.render("docs/api.html", info=document["info"], sections=api_sections(document))

    @page("GET", "/docs/events")
    def event_docs_page(self, request):
        document = _asyncapi_document()
        return self.web.render("docs/events.html", info=document["info"], channels=event_channels(document))
