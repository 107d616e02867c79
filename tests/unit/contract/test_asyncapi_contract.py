"""docs/asyncapi.yaml is the event contract other systems read: it must say what the code does."""
import dataclasses

import yaml
from marshmallow import fields

from services import cli
from services.common import asyncapi, contract
from tests.support.documents import dangling_references


def load_document() -> dict:
    return yaml.safe_load(asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8"))


def test_engage_contract_check_passes_for_the_checked_in_file(capsys):
    assert cli.main(["contract", "--check"]) == 0
    assert "matches the event registry" in capsys.readouterr().out


def test_changing_a_schema_without_regenerating_fails_the_check(monkeypatch, capsys):
    rated = contract.spec_for("idea.rated")

    class IdeaRatedWithComment(rated.schema):
        comment = fields.Str()

    monkeypatch.setitem(contract.REGISTRY, ("idea.rated", 1), dataclasses.replace(rated, schema=IdeaRatedWithComment))
    assert not asyncapi.is_current()
    assert cli.main(["contract", "--check"]) == 1
    assert "engage contract" in capsys.readouterr().err


def test_changing_an_example_without_regenerating_fails_the_check(monkeypatch):
    registered = contract.spec_for("member.registered")
    changed = dataclasses.replace(registered, example={**registered.example, "display_name": "Someone Else"})
    monkeypatch.setitem(contract.REGISTRY, ("member.registered", 1), changed)
    assert not asyncapi.is_current()


def test_generating_twice_gives_the_same_text():
    assert asyncapi.render() == asyncapi.render()


def test_the_document_is_asyncapi_3_with_a_channel_per_registered_type():
    document = load_document()
    assert document["asyncapi"] == "3.0.0"
    specs = contract.all_specs()
    assert len(document["channels"]) == len(specs) == len(document["operations"])
    for spec in specs:
        channel = document["channels"][asyncapi.channel_id(spec)]
        assert channel["address"] == spec.routing_key
        exchange = channel["bindings"]["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (spec.exchange, "topic", True)
        operation = document["operations"][f"publish_{asyncapi.channel_id(spec)}"]
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{asyncapi.channel_id(spec)}"}


def test_every_publishing_service_has_its_exchange_in_the_document():
    document = load_document()
    exchanges = {c["bindings"]["amqp"]["exchange"]["name"] for c in document["channels"].values()}
    assert exchanges == {spec.exchange for spec in contract.all_specs()}
    assert {"members.events", "ideas.events", "notify.events", "archive.events"} <= exchanges


def test_each_message_has_the_envelope_its_data_schema_and_the_registered_example():
    document = load_document()
    schemas = document["components"]["schemas"]
    assert set(schemas["CloudEventEnvelope"]["required"]) >= {"specversion", "id", "source", "type", "time", "data"}
    for spec in contract.all_specs():
        message = document["components"]["messages"][asyncapi.message_id(spec)]
        envelope_ref, specific = message["payload"]["allOf"]
        assert envelope_ref == {"$ref": "#/components/schemas/CloudEventEnvelope"}
        assert specific["properties"]["type"] == {"const": spec.ce_type}
        data_ref = specific["properties"]["data"]["$ref"].rsplit("/", 1)[1]
        data_schema = schemas[data_ref]
        declared = spec.schema().fields
        assert set(data_schema["properties"]) == {f.data_key or name for name, f in declared.items()}
        assert "version" in data_schema["required"]
        example = message["examples"][0]["payload"]
        assert example["data"] == spec.example
        assert example["type"] == spec.ce_type


def test_nested_references_point_at_schemas_in_the_document():
    text = asyncapi.ASYNCAPI_PATH.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert dangling_references(document) == []
