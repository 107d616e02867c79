"""What the delivery scenarios share: a burst of events in a publisher's outbox, and counting effects."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import requests

from services.common.events import build_envelope
from services.common.outbox import outbox_row

SOURCE = "urn:engage:chaos:members"


def fill_outbox(db, count: int, batch: int = 500) -> list[str]:
    """Commit ``count`` ``member.registered`` rows to a members outbox, as committed writes leave them; their ids."""
    ids = []
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(count, start + batch)):
            member_id = str(uuid.uuid4())
            envelope = build_envelope("member.registered", {
                "member_id": member_id, "display_name": f"Member {n:05d}", "agency": "dta", "version": 1},
                subject=member_id, source=SOURCE)
            rows.append(outbox_row(envelope, "members", "member.registered", 1))
            ids.append(envelope["id"])
        db.outbox.insert_many(rows, ordered=True)
    return ids


@dataclass
class Tally:
    sent: int
    effects: int
    distinct: int

    @property
    def duplicates(self) -> int:
        return self.effects - self.distinct

    @property
    def lost(self) -> int:
        return self.sent - self.distinct


def tally(effects_collection, sent_ids: list[str]) -> Tally:
    """Effects of the probe consumer: how many, how many distinct events, against what was sent."""
    rows = list(effects_collection.aggregate([{"$group": {"_id": "$event_id", "n": {"$sum": 1}}}]))
    sent = set(sent_ids)
    distinct = sum(1 for row in rows if row["_id"] in sent)
    return Tally(sent=len(sent_ids), effects=sum(row["n"] for row in rows), distinct=distinct)


def wait_for_all(effects_collection, sent_ids: list[str], timeout: float) -> Tally:
    deadline = time.monotonic() + timeout
    while True:
        counted = effects_collection.count_documents({})
        if counted >= len(sent_ids) or time.monotonic() > deadline:
            return tally(effects_collection, sent_ids)
        time.sleep(0.5)


def queue_depth(management_url: str, vhost_uri: str, queue: str) -> int:
    vhost = vhost_uri.rsplit("/", 1)[1]
    answer = requests.get(f"{management_url}/api/queues/{vhost}/{queue}", timeout=5)
    return int(answer.json().get("messages", 0)) if answer.status_code == 200 else 0
