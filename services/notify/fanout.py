"""What one received event turns into, written inside the handler's transaction.

The notifications, the emails to send, the webhook deliveries to make and the
projections the rules need (members, networks, ideas, followers) are all
written in the same transaction as the event's dedupe mark, so a redelivered
event changes nothing and a crash leaves either all of it or none of it.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common import contract
from services.common.contract import ideas as ideas_contract
from services.common.events import Event
from services.notify import domain
from services.notify.store import EPOCH_LEASE, NotifyStore


@dataclass(frozen=True)
class FanoutSettings:
    public_url: str
    mail_domain: str
    rating_window: timedelta
    stuck_after: timedelta


def handle(tx: NotifyStore, event: Event, settings: FanoutSettings, now: datetime) -> list[str]:
    """Apply ``event``; returns the ids of the webhook deliveries it created (to be queued after commit)."""
    data = event.data
    notices = _notices(tx, event.name, data, event.id, settings, now)
    audience = _audience(tx, data)
    if audience is not None:
        notices = [notice for notice in notices if notice.recipient in audience]
    deliver_notices(tx, event.id, notices, settings, now)
    return queue_webhooks(tx, event, settings, now, audience)


def _audience(tx: NotifyStore, data: dict) -> set[str] | None:
    """Who alone may be told of an event about a closed network's idea (its members); None when anyone may."""
    network = ideas_contract.network_of_audience(data)
    return None if network is None else set(tx.network_members(network))


def _notices(tx: NotifyStore, name: str, data: dict, event_id: str, settings: FanoutSettings,
             now: datetime) -> list[domain.Notice]:
    if name == "member.registered":
        tx.apply_member(data["member_id"], {"display_name": data["display_name"], "agency": data["agency"],
                                            "status": "active"}, data["version"])
    elif name in ("member.joined_network", "member.left_network"):
        tx.apply_membership(data, active=name == "member.joined_network")
    elif name == "member.deactivated":
        tx.forget_member(data["member_id"])
    elif name == "member.password_reset_requested":
        key = f"{event_id}|{data['member_id']}|password_reset"
        tx.queue_mail(key, data["member_id"], "password_reset",
                      {"reset_url": data["reset_url"], "expires_at": str(data["expires_at"])}, kind=None,
                      message_id=domain.stable_message_id(key, settings.mail_domain), at=now)
    elif name == "member.verification_requested":
        key = f"{event_id}|{data['member_id']}|verify_email"
        tx.queue_mail(key, data["member_id"], "verify_email",
                      {"verify_url": data["verify_url"], "expires_at": str(data["expires_at"])}, kind=None,
                      message_id=domain.stable_message_id(key, settings.mail_domain), at=now)
    elif name in ("idea.submitted", "idea.updated", "idea.state_changed"):
        return _idea_notices(tx, name, data)
    elif name in ("idea.followed", "idea.unfollowed"):
        tx.apply_follow(data["idea_id"], data["member_id"], name == "idea.followed", data["version"])
    elif name in ("comment.posted", "member.mentioned"):
        if data.get("started_following"):
            tx.apply_follow(data["idea_id"], data["author_id"], True, data["version"])
        if tx.is_removed_comment(data["comment_id"]):
            return []  # removed before this event was handled: events may be handled out of order
        if name == "member.mentioned":
            return domain.notices_for_mention(data)
        return domain.notices_for_comment(data, tx.followers(data["idea_id"]))
    elif name == "comment.removed":
        # What its author or a moderator took down must not live on in others' notifications.
        tx.remove_comment_from_notifications(data["comment_id"])
    elif name == "idea.rated":
        if data.get("started_following"):
            tx.apply_follow(data["idea_id"], data["member_id"], True, data["version"])
        return _rating_notices(tx, data, settings, now)
    return []


def _idea_notices(tx: NotifyStore, name: str, data: dict) -> list[domain.Notice]:
    before = tx.apply_idea(data)
    if before is not None and before.get("version", 0) >= data["version"]:
        return []  # a late copy of something already applied
    if name == "idea.submitted" or (name == "idea.state_changed" and data.get("from_state") == "draft"):
        # Authors follow their own ideas; the ideas service says so too, and either order ends the same.
        # A draft is published by its state change alone: nothing about it went out before.
        tx.apply_follow(data["idea_id"], data["author_id"], True, data["version"])
    notices: list[domain.Notice] = []
    if name == "idea.state_changed":
        notices += domain.notices_for_state_change(data, tx.followers(data["idea_id"]))
    if domain.is_first_opening(data, name) and data.get("network") and tx.mark_idea_announced(data["idea_id"]):
        notices += domain.notices_for_new_idea(data, tx.network_members(data["network"]))
    return notices


class IdeaNotSeenYet(RuntimeError):
    """A rating overtook its idea's ``idea.submitted``; the consumer retries it after a back-off."""


def _rating_notices(tx: NotifyStore, data: dict, settings: FanoutSettings, now: datetime) -> list[domain.Notice]:
    """The author hears of new ratings at most once per window; the rest wait for the batch sweep."""
    idea = tx.idea(data["idea_id"])
    if idea is None:
        # Events of one idea can be handled out of order; dropping this one would lose the author's notice.
        raise IdeaNotSeenYet(f"idea {data['idea_id']} is not known here yet; retrying once idea.submitted is in")
    if data.get("previous_stars") is not None or data["member_id"] == idea["author_id"]:
        return []  # a changed rating, or the author's own
    batch = tx.rating_batch(data["idea_id"]) or {}
    # Ratings may be handled out of order: the summary shown is the one of the newest version seen.
    latest = data if data["version"] >= batch.get("version", 0) else batch
    summary = {"author_id": idea["author_id"], "title": idea["title"], "average": latest["average"],
               "count": latest["count"], "version": latest["version"]}
    if domain.rating_notice_due(batch.get("last_notified_at"), now, settings.rating_window):
        new_ratings = int(batch.get("pending", 0)) + 1
        tx.save_rating_batch(data["idea_id"], {**summary, "pending": 0, "last_notified_at": now})
        return [domain.ratings_notice(idea["author_id"], data["idea_id"], idea["title"], new_ratings,
                                      summary["average"], summary["count"])]
    tx.count_rating(data["idea_id"], summary)
    return []


def deliver_notices(tx: NotifyStore, event_id: str, notices: list[domain.Notice], settings: FanoutSettings,
                    now: datetime) -> int:
    """Store each notice as its recipient wants it (in-app, email now, or a digest); returns how many were stored."""
    if not notices:
        return 0
    gone = tx.deactivated_among(n.recipient for n in notices)
    preferences = tx.preferences_of(n.recipient for n in notices)
    stored = 0
    for notice in notices:
        if notice.recipient in gone:
            continue
        plan = domain.plan_delivery(preferences[notice.recipient][notice.kind])
        if not plan.in_app:
            continue
        if not tx.add_notification(event_id, notice, plan.digest, now):
            continue
        stored += 1
        if plan.email_now:
            key = domain.notice_mail_key(event_id, notice.recipient)
            tx.queue_mail(key, notice.recipient, "notice",
                          {"title": notice.title, "body": domain.readable(notice.body),
                           "link": settings.public_url + notice.link},
                          kind=notice.kind, message_id=domain.stable_message_id(key, settings.mail_domain), at=now)
    return stored


def envelope_body(event: Event) -> str:
    """The CloudEvents envelope as it travels to a webhook receiver (signed byte for byte)."""
    envelope = {"specversion": "1.0", "id": event.id, "source": event.source,
                "type": contract.spec_for(event.name, event.version).ce_type, "time": event.time,
                "datacontenttype": "application/json", "subject": event.subject, "data": event.data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def new_delivery(webhook: dict, event_id: str, event_type: str, body: str, round_: int, now: datetime,
                 stuck_after: timedelta) -> dict:
    # due_at is when the sweep takes it up if the queue message never arrives.
    return {"_id": str(uuid.uuid4()), "webhook_id": webhook["id"], "owner_id": webhook["owner_id"],
            "event_id": event_id, "event_type": event_type, "round": round_, "body": body, "url": webhook["url"],
            "state": "pending", "tries_made": 0, "tries": [], "due_at": now + stuck_after,
            "lease_until": EPOCH_LEASE, "created_at": now, "finished_at": None}


def queue_webhooks(tx: NotifyStore, event: Event, settings: FanoutSettings, now: datetime,
                   audience: set[str] | None = None) -> list[str]:
    """Deliveries to the subscriptions that want ``event``; of a closed network's idea, only to subscriptions
    whose owners are members of it (``audience``)."""
    created = []
    body = None
    for webhook in tx.webhooks_for(event.name):
        if not domain.subscription_matches(webhook, event.name, event.data):
            continue
        if audience is not None and webhook["owner_id"] not in audience:
            continue
        body = body or envelope_body(event)
        delivery = new_delivery(webhook, event.id, event.name, body, 0, now, settings.stuck_after)
        if tx.add_delivery(delivery):
            created.append(delivery["_id"])
    return created
