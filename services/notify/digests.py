"""Daily and weekly digests, and the hourly batches of ratings.

A digest is built once per member per period, even when the schedule runs
twice or the service restarts mid-run: the ``digests`` row (unique on member,
cadence and period start), the claim on the notifications it groups and the
email to send are written in one transaction.
"""
from __future__ import annotations

from datetime import datetime

from services.common.events import isoformat, utc_now
from services.notify import domain
from services.notify.fanout import FanoutSettings, deliver_notices
from services.notify.store import NotifyStore


def build_due_digests(store: NotifyStore, settings: FanoutSettings, time_zone: str, now: datetime) -> int:
    """Build every digest whose period has ended by ``now``; returns how many were built.

    ``now`` only chooses the periods; the emails are due at once.
    """
    built = 0
    for cadence in domain.DIGEST_CADENCES:
        start, end = domain.last_completed_period(cadence, now, time_zone)
        for member_id in store.members_awaiting_digest(cadence, end):
            if store.transaction(lambda tx: _build_one(tx, settings, member_id, cadence, start, end, now)):
                built += 1
    return built


def _build_one(tx: NotifyStore, settings: FanoutSettings, member_id: str, cadence: str, start: datetime,
               end: datetime, now: datetime) -> bool:
    items = tx.awaiting_digest(member_id, cadence, end)
    if not items:
        return False
    key = f"digest|{member_id}|{cadence}|{isoformat(start)}"
    digest = {"_id": key, "member_id": member_id, "cadence": cadence, "period_start": start, "period_end": end,
              "count": len(items), "created_at": utc_now(), "as_of": now}
    if not tx.add_digest(digest, [item["id"] for item in items]):
        return False
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["kind"], []).append(
            {"title": item["title"], "body": domain.readable(item.get("body", "")), "link": settings.public_url + item["link"],
             "created_at": isoformat(item["created_at"])})
    context = {"cadence": cadence, "subject": domain.digest_subject(cadence, len(items)),
               "groups": [{"kind": kind, "label": domain.KINDS[kind], "items": entries}
                          for kind, entries in groups.items()]}
    tx.queue_mail(key, member_id, "digest", context, kind=domain.EVERY_KIND,
                  message_id=domain.stable_message_id(key, settings.mail_domain), at=utc_now())
    return True


def flush_rating_batches(store: NotifyStore, settings: FanoutSettings, now: datetime) -> int:
    """Tell authors about ratings held back by the hourly limit, once the hour is over."""
    told = 0
    for batch in store.due_rating_batches(now - settings.rating_window):

        def write(tx: NotifyStore, batch=batch) -> bool:
            if not tx.take_rating_batch(batch["_id"], batch["pending"], now):
                return False
            notice = domain.ratings_notice(batch["author_id"], batch["_id"], batch["title"], batch["pending"],
                                           batch.get("average"), batch.get("count", 0))
            event_key = f"ratings:{batch['_id']}:{isoformat(batch['last_notified_at'])}"
            return deliver_notices(tx, event_key, [notice], settings, now) > 0

        if store.transaction(write):
            told += 1
    return told
