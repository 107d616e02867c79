"""The event path's consumer: one write per event, through the shared kit's reliable consumer.

Each ``member.registered`` from the bench producer becomes one ``effects``
document, written in the same transaction as the event's dedupe mark.
"""
from __future__ import annotations

from services.common import service_base
from services.common.consumer import consume_events
from services.common.events import Event, utc_now
from services.common.storage import Storage, Store

from bench.event_source import SERVICE_NAME as SOURCE


class SinkStore(Store):
    def add_effect(self, event: Event) -> None:
        self.db.effects.insert_one({"_id": event.id, "member_id": event.data["member_id"], "at": utc_now()},
                                   session=self.session)


class EventSinkService(service_base.ServiceBase):
    name = "bench_sink"
    store = Storage(SinkStore)

    @consume_events(SOURCE, "member.registered")
    def on_member_registered(self, event: Event) -> None:
        self.store.transaction(lambda tx: tx.add_effect(event), handling=event)
