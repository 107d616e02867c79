"""The OpenAPI description covers every /api/v1 route of the gateway, with the services' own request schemas."""
import importlib
import json
import re

import pytest

from services.common import asyncapi, contract
from services.web import openapi
from services.web.openapi_routes import api_sections, event_channels
from services.web.service import WebGateway
from tests.support.documents import dangling_references

ROUTES = openapi.api_routes(WebGateway)


@pytest.fixture(scope="module")
def document():
    return openapi.build_spec(WebGateway)


def test_the_gateway_has_api_routes_to_describe():
    assert len(ROUTES) > 40
    assert ("PUT", "/api/v1/ideas/<string:idea_id>/rating") in {(r.method, r.rule) for r in ROUTES}


def test_every_api_route_of_the_gateway_is_described(document):
    assert list(openapi.undescribed(WebGateway, document)) == []
    paths = {(r.method, openapi.openapi_path(r.rule)[0]) for r in ROUTES}
    assert openapi.described_routes(document) == paths


def test_every_description_belongs_to_a_route_that_exists():
    assert set(openapi.OPERATIONS) == {r.handler for r in ROUTES}


def test_a_route_without_a_description_stops_the_build(monkeypatch):
    monkeypatch.delitem(openapi.OPERATIONS, "api_rate")
    with pytest.raises(LookupError, match="/api/v1/ideas/<string:idea_id>/rating"):
        openapi.build_spec(WebGateway)


def test_the_document_is_openapi_3_and_serialises_as_json(document):
    assert document["openapi"].startswith("3.")
    assert json.loads(json.dumps(document)) == document
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_path_parameters_are_declared_for_every_placeholder(document):
    for path, item in document["paths"].items():
        placeholders = set(re.findall(r"{(\w+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == placeholders, path


def test_request_bodies_come_from_the_services_schemas(document):
    schemas = document["components"]["schemas"]
    rate = document["paths"]["/api/v1/ideas/{idea_id}/rating"]["put"]
    ref = rate["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schemas[ref]["required"] == ["stars"]
    assert (schemas[ref]["properties"]["stars"]["minimum"], schemas[ref]["properties"]["stars"]["maximum"]) == (1, 5)
    register = document["paths"]["/api/v1/members"]["post"]
    ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"email", "display_name", "password", "agency"} <= set(schemas[ref]["properties"])
    assert "201" in register["responses"] and "422" in register["responses"]


def test_the_services_validate_with_the_very_schemas_the_description_is_built_from():
    described = {schema for operation in openapi.OPERATIONS.values()
                 for schema in (operation.body, operation.query) if schema is not None}
    found = set()
    # Each contract module and the services that validate with it (the site's search is answered by two).
    validated_by = {"members": ("members",), "ideas": ("ideas",), "notify": ("notify",), "archive": ("archive",),
                    "search": ("ideas", "archive")}
    for module, services in validated_by.items():
        public = vars(importlib.import_module(f"services.common.contract.api.{module}"))
        for service in services:
            own = importlib.import_module(f"services.{service}.schemas")
            for name, schema in public.items():
                if isinstance(schema, type) and schema in described:
                    assert getattr(own, name, None) is schema, f"services.{service}.schemas.{name}"
                    found.add(schema)
    assert found == described, "every schema the description uses is in the contract"


def test_the_site_search_is_described_with_its_answer_from_the_contract(document):
    search = document["paths"]["/api/v1/search"]["get"]
    assert {"q", "kind", "state", "agency", "network", "cursor", "limit"} <= {
        p["name"] for p in search["parameters"] if p["in"] == "query"}
    answer = search["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schemas = document["components"]["schemas"]
    assert {"items", "total", "facets", "did_you_mean", "next_cursor"} <= set(schemas[answer]["properties"])
    hit = schemas[answer]["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]
    assert {"title", "snippet", "url", "kind", "state", "agency", "network"} <= set(schemas[hit]["properties"])


def test_query_schemas_become_query_parameters(document):
    names = {p["name"] for p in document["paths"]["/api/v1/ideas"]["get"]["parameters"] if p["in"] == "query"}
    assert {"state", "tag", "cursor", "limit"} <= names
    diff = document["paths"]["/api/v1/archive/resources/{resource_id}/diff"]["get"]["parameters"]
    assert {"from", "to"} <= {p["name"] for p in diff if p["in"] == "query"}


def test_calls_that_need_a_member_say_so_and_open_reads_do_not(document):
    assert document["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert "401" in document["paths"]["/api/v1/me"]["get"]["responses"]
    assert {} in document["paths"]["/api/v1/ideas/{idea_id}"]["get"]["security"]
    assert document["paths"]["/api/v1/tokens"]["post"]["security"] == []


def test_every_reference_resolves(document):
    assert dangling_references(document) == []


def test_the_api_page_lists_every_operation(document):
    sections = api_sections(document)
    shown = {(op["method"], op["path"]) for section in sections for op in section["operations"]}
    assert shown == openapi.described_routes(document)
    rate = next(op for s in sections for op in s["operations"] if op["id"] == "api_rate")
    assert rate["auth"] == "required" and [f["name"] for f in rate["body"]] == ["stars"]


def test_the_events_page_lists_every_registered_type_with_its_fields():
    channels = event_channels(asyncapi.build_document())
    assert {(c["exchange"], c["routing_key"]) for c in channels} == {
        (s.exchange, s.routing_key) for s in contract.all_specs()}
    rated = next(c for c in channels if c["routing_key"] == "idea.rated")
    assert {"idea_id", "stars", "version"} <= {f["name"] for f in rated["fields"]}
    assert '"type": "au.gov.engage.idea.rated.v1"' in rated["example"]
