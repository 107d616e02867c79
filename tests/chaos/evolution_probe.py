"""A consumer built for version 2 of ``member.registered``, and the v2 schema it reads (registered for the test)."""
from __future__ import annotations

from marshmallow import fields
from pymongo import ASCENDING, IndexModel

from services.common import contract, service_base
from services.common.consumer import consume_events
from services.common.contract import EventData
from services.common.events import Event
from services.common.storage import Storage, Store

V2_EXAMPLE = {"member_id": "m-1", "name": {"display": "Rosa Nguyen", "sort": "Nguyen, Rosa"}, "agency": "dta",
              "version": 1}


class MemberRegisteredV2(EventData):
    """v2 splits the display name into a display and a sort form: a breaking change, so a new version."""

    member_id = fields.String(required=True)
    name = fields.Dict(required=True)
    agency = fields.String(required=True)
    version = fields.Integer(required=True)


def register_v2() -> None:
    if ("member.registered", 2) not in contract.REGISTRY:
        contract.register("members", "member.registered", version=2, summary="A member registered (names split).",
                          example=V2_EXAMPLE)(MemberRegisteredV2)


def unregister_v2() -> None:
    contract.REGISTRY.pop(("member.registered", 2), None)


class EvolvedStore(Store):
    indexes = {"effects": [IndexModel([("member_id", ASCENDING)])]}

    def add_effect(self, event: Event) -> None:
        self.db.effects.insert_one({"member_id": event.data["member_id"], "event_id": event.id,
                                    "version": event.version, "sort_name": event.data["name"]["sort"]},
                                   session=self.session)


class EvolvedProbeService(service_base.ServiceBase):
    name = "probe2"
    store = Storage(EvolvedStore)

    @consume_events("members", "member.registered", version=2)
    def on_member_registered_v2(self, event: Event) -> None:
        self.store.transaction(lambda tx: tx.add_effect(event), handling=event)
