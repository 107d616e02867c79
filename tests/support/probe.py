"""A small consuming service used to test the shared kit's consumer against the real broker and storage."""
from __future__ import annotations

from pymongo import ASCENDING, IndexModel

from services.common import service_base
from services.common.consumer import EventRejected, consume_events
from services.common.events import Event
from services.common.storage import Storage, Store


class ProbeStore(Store):
    indexes = {"effects": [IndexModel([("member_id", ASCENDING)])]}

    def add_effect(self, event: Event) -> None:
        self.db.effects.insert_one({"member_id": event.data["member_id"], "event_id": event.id},
                                   session=self.session)

    def note_arrival(self, event: Event) -> None:
        """Idempotent by itself (keyed by the event's id), as a write before the handling transaction must be."""
        self.db.arrivals.update_one({"_id": event.id}, {"$setOnInsert": {"member_id": event.data["member_id"]}},
                                    upsert=True, session=self.session)

    def failures_wanted(self) -> int:
        switch = self.db.switches.find_one({"_id": "fail"}) or {}
        return switch.get("remaining", 0)

    def spend_failure(self) -> None:
        self.db.switches.update_one({"_id": "fail"}, {"$inc": {"remaining": -1}})


class ProbeService(service_base.ServiceBase):
    """Records one effect per ``member.registered``; fails on demand (``switches.fail``) or rejects names 'poison'.

    ``member.joined_network`` is handled in two transactions, with a failure on demand between them.
    """

    name = "probe"
    store = Storage(ProbeStore)

    @consume_events("members", "member.registered")
    def on_member_registered(self, event: Event) -> None:
        if event.data["display_name"] == "poison":
            raise EventRejected("this member can never be handled")
        if self.store.failures_wanted() > 0:
            self.store.spend_failure()
            raise RuntimeError("the probe was told to fail")
        self.store.transaction(lambda tx: tx.add_effect(event), handling=event)

    @consume_events("members", "member.joined_network")
    def on_member_joined_network(self, event: Event) -> None:
        self.store.transaction(lambda tx: tx.note_arrival(event))
        if self.store.failures_wanted() > 0:
            self.store.spend_failure()
            raise RuntimeError("the probe was told to fail between its two transactions")
        self.store.transaction(lambda tx: tx.add_effect(event), handling=event)
