"""The event path's producer: a service whose only job is state changes that each record one event.

``POST /produce?count=N`` makes N changes one after another, each in its own
transaction through the shared kit (a member document and its
``member.registered`` outbox row); the kit's relay publishes them with
publisher confirms as they commit. It answers once every change has committed.
"""
from __future__ import annotations

import uuid

from services.common import service_base
from services.common.events import utc_now
from services.common.http import api, json_response, query_int
from services.common.storage import Storage, Store

# The exchange (bench.events) and the broker user are named after it, as a service's are.
SERVICE_NAME = "bench"


class SourceStore(Store):
    def register(self, member_id: str, number: int) -> None:
        self.db.members.insert_one({"_id": member_id, "display_name": f"Bench member {number}",
                                    "agency": "bench", "version": 1, "created_at": utc_now()}, session=self.session)
        self.record("member.registered", subject=member_id,
                    data={"member_id": member_id, "display_name": f"Bench member {number}", "agency": "bench",
                          "version": 1})


class EventSourceService(service_base.ServiceBase):
    name = SERVICE_NAME
    store = Storage(SourceStore)

    @api("POST", "/produce")
    def produce(self, request):
        count = query_int(request, "count", 1, lo=1, hi=1_000_000)
        for number in range(count):
            member_id = uuid.uuid4().hex
            self.store.transaction(lambda tx: tx.register(member_id, number))
        return json_response({"produced": count})
