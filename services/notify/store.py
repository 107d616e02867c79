"""The notify service's storage: notifications, preferences, the people and ideas it must know about,
outgoing mail, digests, webhook subscriptions and their delivery log.

Projections kept from other services' events (members, network memberships,
ideas, followers) hold the ``version`` of the event that last changed them;
an older event changes nothing, so redelivery cannot put stale state back.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common.errors import NotFound, ValidationFailed
from services.common.events import utc_now
from services.common.storage import Store, plain
from services.notify import domain

EPOCH_LEASE = datetime(1970, 1, 1)


class NotifyStore(Store):
    indexes = {
        "notifications": [
            IndexModel([("event_id", ASCENDING), ("recipient", ASCENDING)], unique=True),
            IndexModel([("recipient", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("recipient", ASCENDING), ("read_at", ASCENDING)]),
            IndexModel([("digest", ASCENDING), ("digest_id", ASCENDING), ("created_at", ASCENDING)]),
            IndexModel([("comment_id", ASCENDING)]),
        ],
        "members": [IndexModel([("status", ASCENDING)])],
        "memberships": [IndexModel([("network_id", ASCENDING), ("active", ASCENDING)]),
                        IndexModel([("network_slug", ASCENDING), ("active", ASCENDING)]),
                        IndexModel([("member_id", ASCENDING)])],
        "followers": [IndexModel([("idea_id", ASCENDING), ("following", ASCENDING)]),
                      IndexModel([("member_id", ASCENDING)])],
        "rating_batches": [IndexModel([("pending", ASCENDING), ("last_notified_at", ASCENDING)])],
        "outgoing_mail": [IndexModel([("state", ASCENDING), ("due_at", ASCENDING)])],
        "digests": [IndexModel([("member_id", ASCENDING), ("cadence", ASCENDING), ("period_start", ASCENDING)],
                               unique=True)],
        "webhooks": [IndexModel([("owner_id", ASCENDING), ("_id", ASCENDING)]),
                     IndexModel([("state", ASCENDING), ("event_types", ASCENDING)])],
        "webhook_deliveries": [
            IndexModel([("webhook_id", ASCENDING), ("event_id", ASCENDING), ("round", ASCENDING)], unique=True),
            IndexModel([("webhook_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("state", ASCENDING), ("due_at", ASCENDING)]),
        ],
        "caught_mail": [IndexModel([("received_at", DESCENDING)])],
    }

    def gauges(self):
        return [("unread_notifications", "Notifications not yet read, over all members.", [],
                 lambda: [((), float(self.db.notifications.count_documents({"read_at": None})))])]

    # -- projections from members' events ------------------------------------

    def _apply_versioned(self, collection: str, key: str, fields: dict, version: int) -> bool:
        """Store ``fields`` under ``key`` unless the stored copy is as new or newer; True when stored.

        Read first rather than catching a duplicate key: an error inside a
        MongoDB transaction aborts the whole transaction.
        """
        stored = self.db[collection].find_one({"_id": key}, {"version": 1}, session=self.session)
        if stored is not None and stored.get("version", 0) >= version:
            return False
        self.db[collection].update_one({"_id": key}, {"$set": {**fields, "version": version}}, upsert=True,
                                       session=self.session)
        return True

    def apply_member(self, member_id: str, changes: dict, version: int) -> bool:
        """Keep what we know of a member unless we already hold a newer version."""
        return self._apply_versioned("members", member_id, changes, version)

    def apply_membership(self, data: dict, active: bool) -> None:
        self._apply_versioned("memberships", f"{data['network_id']}:{data['member_id']}",
                              {"network_id": data["network_id"], "network_slug": data["network_slug"],
                               "member_id": data["member_id"], "active": active}, data["version"])

    def forget_member(self, member_id: str) -> None:
        """A deactivated member: off every follower and network list; nothing waiting for them is sent."""
        self.db.followers.update_many({"member_id": member_id}, {"$set": {"following": False}}, session=self.session)
        self.db.memberships.update_many({"member_id": member_id}, {"$set": {"active": False}}, session=self.session)
        self.db.outgoing_mail.update_many({"recipient": member_id, "state": "pending"},
                                          {"$set": {"state": "dropped", "error": "member deactivated"}},
                                          session=self.session)
        self.db.members.update_one({"_id": member_id}, {"$set": {"status": "deactivated"}}, upsert=True,
                                   session=self.session)
        self.mark_member_deactivated(member_id)

    def network_members(self, network: str) -> list[str]:
        rows = self.db.memberships.find({"$or": [{"network_id": network}, {"network_slug": network}], "active": True},
                                        {"member_id": 1}, session=self.session)
        return sorted({row["member_id"] for row in rows})

    def deactivated_among(self, member_ids: Iterable[str]) -> set[str]:
        ids = list(set(member_ids))
        if not ids:
            return set()
        return {row["_id"] for row in self.db.deactivated_members.find({"_id": {"$in": ids}}, {"_id": 1},
                                                                        session=self.session)}

    # -- projections from ideas' events --------------------------------------

    def apply_idea(self, data: dict) -> dict | None:
        """Keep the idea's author, title, network and state; returns the stored copy before this event."""
        before = self.db.ideas.find_one({"_id": data["idea_id"]}, session=self.session)
        if before is not None and before.get("version", 0) >= data["version"]:
            return before
        fields = {"author_id": data["author_id"], "title": data["title"], "agency": data.get("agency"),
                  "network": data.get("network"), "state": data.get("state"), "version": data["version"]}
        self.db.ideas.update_one({"_id": data["idea_id"]}, {"$set": fields}, upsert=True, session=self.session)
        return before

    def mark_idea_announced(self, idea_id: str) -> bool:
        """True the first time only: a new idea is announced to its network once."""
        result = self.db.ideas.update_one({"_id": idea_id, "announced": {"$ne": True}}, {"$set": {"announced": True}},
                                          session=self.session)
        return result.modified_count == 1

    def idea(self, idea_id: str) -> dict | None:
        return self.db.ideas.find_one({"_id": idea_id}, session=self.session)

    def apply_follow(self, idea_id: str, member_id: str, following: bool, version: int) -> None:
        self._apply_versioned("followers", f"{idea_id}:{member_id}",
                              {"idea_id": idea_id, "member_id": member_id, "following": following}, version)

    def followers(self, idea_id: str) -> list[str]:
        rows = self.db.followers.find({"idea_id": idea_id, "following": True}, {"member_id": 1}, session=self.session)
        return sorted(row["member_id"] for row in rows)

    # -- rating batches -------------------------------------------------------

    def rating_batch(self, idea_id: str) -> dict | None:
        return self.db.rating_batches.find_one({"_id": idea_id}, session=self.session)

    def save_rating_batch(self, idea_id: str, changes: dict) -> None:
        self.db.rating_batches.update_one({"_id": idea_id}, {"$set": changes}, upsert=True, session=self.session)

    def count_rating(self, idea_id: str, changes: dict) -> None:
        self.db.rating_batches.update_one({"_id": idea_id}, {"$inc": {"pending": 1}, "$set": changes}, upsert=True,
                                          session=self.session)

    def due_rating_batches(self, before: datetime, limit: int = 200) -> list[dict]:
        return list(self.db.rating_batches.find({"pending": {"$gt": 0}, "last_notified_at": {"$lte": before}},
                                                session=self.session).limit(limit))

    def take_rating_batch(self, idea_id: str, pending: int, now: datetime) -> bool:
        """Claim a batch's pending count (only if nobody changed it meanwhile)."""
        result = self.db.rating_batches.update_one({"_id": idea_id, "pending": pending},
                                                   {"$set": {"pending": 0, "last_notified_at": now}},
                                                   session=self.session)
        return result.modified_count == 1

    # -- preferences ----------------------------------------------------------

    def preferences(self, member_id: str) -> dict[str, str]:
        found = self.db.preferences.find_one({"_id": member_id}, session=self.session) or {}
        return domain.preferences_with_defaults(found.get("kinds"))

    def preferences_of(self, member_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(set(member_ids))
        found = {row["_id"]: row.get("kinds") for row in self.db.preferences.find({"_id": {"$in": ids}},
                                                                                  session=self.session)}
        return {member: domain.preferences_with_defaults(found.get(member)) for member in ids}

    def set_preferences(self, member_id: str, changes: dict[str, str]) -> dict[str, str]:
        if changes:
            self.db.preferences.update_one({"_id": member_id},
                                           {"$set": {**{f"kinds.{k}": v for k, v in changes.items()},
                                                     "updated_at": utc_now()}},
                                           upsert=True, session=self.session)
        return self.preferences(member_id)

    # -- notifications --------------------------------------------------------

    def add_notification(self, event_id: str, notice: domain.Notice, digest: str | None, at: datetime) -> bool:
        """One notification per (event id, recipient), whatever happens; True when this call made it."""
        document = {"event_id": event_id, "recipient": notice.recipient, "kind": notice.kind, "title": notice.title,
                    "body": notice.body, "link": notice.link, "actor_name": notice.actor_name,
                    "idea_id": notice.idea_id, "comment_id": notice.comment_id,
                    "mention_links": dict(notice.mention_links), "created_at": at, "read_at": None,
                    "digest": digest, "digest_id": None}
        result = self.db.notifications.update_one({"event_id": event_id, "recipient": notice.recipient},
                                                  {"$setOnInsert": {"_id": ObjectId(), **document}},
                                                  upsert=True, session=self.session)
        return result.upserted_id is not None

    def notifications(self, member_id: str, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        query: dict = {"recipient": member_id}
        if cursor:
            try:
                query["_id"] = {"$lt": ObjectId(cursor)}
            except (InvalidId, TypeError):
                raise ValidationFailed("The cursor is not one this list gave out.", {"cursor": ["not valid"]}) from None
        rows = list(self.db.notifications.find(query, session=self.session).sort("_id", DESCENDING).limit(limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return [plain(row) for row in rows], (str(rows[-1]["_id"]) if more and rows else None)

    def notification(self, member_id: str, notification_id: str) -> dict:
        try:
            key = ObjectId(notification_id)
        except (InvalidId, TypeError):
            raise NotFound("There is no such notification.") from None
        found = self.db.notifications.find_one({"_id": key, "recipient": member_id}, session=self.session)
        if found is None:
            raise NotFound("There is no such notification.")
        return plain(found)

    def unread_count(self, member_id: str) -> int:
        return self.db.notifications.count_documents({"recipient": member_id, "read_at": None}, session=self.session)

    def mark_read(self, member_id: str, notification_id: str) -> dict:
        found = self.notification(member_id, notification_id)
        if found.get("read_at") is None:
            self.db.notifications.update_one({"_id": ObjectId(found["id"]), "read_at": None},
                                             {"$set": {"read_at": utc_now()}}, session=self.session)
        return self.notification(member_id, notification_id)

    def remove_comment_from_notifications(self, comment_id: str) -> None:
        """Blank the text every notification quotes from a removed comment and drop its emails not yet sent;
        remember the removal, so that notices of the comment handled later are not made at all."""
        self.db.removed_comments.update_one({"_id": comment_id}, {"$set": {"removed": True}}, upsert=True,
                                            session=self.session)
        quoting = list(self.db.notifications.find({"comment_id": comment_id}, {"event_id": 1, "recipient": 1},
                                                  session=self.session))
        self.db.notifications.update_many({"comment_id": comment_id}, {"$set": {"body": "", "comment_removed": True}},
                                          session=self.session)
        unsent = [domain.notice_mail_key(row["event_id"], row["recipient"]) for row in quoting]
        self.db.outgoing_mail.update_many({"_id": {"$in": unsent}, "state": "pending"},
                                          {"$set": {"state": "dropped", "error": "the comment was removed"}},
                                          session=self.session)

    def is_removed_comment(self, comment_id: str) -> bool:
        return self.db.removed_comments.find_one({"_id": comment_id}, {"_id": 1}, session=self.session) is not None

    def mark_all_read(self, member_id: str) -> int:
        result = self.db.notifications.update_many({"recipient": member_id, "read_at": None},
                                                   {"$set": {"read_at": utc_now()}}, session=self.session)
        return result.modified_count

    # -- digests --------------------------------------------------------------

    def members_awaiting_digest(self, cadence: str, before: datetime) -> list[str]:
        rows = self.db.notifications.find({"digest": cadence, "digest_id": None, "created_at": {"$lt": before}},
                                          {"recipient": 1}, session=self.session)
        return sorted({row["recipient"] for row in rows})

    def awaiting_digest(self, member_id: str, cadence: str, before: datetime) -> list[dict]:
        rows = self.db.notifications.find({"digest": cadence, "digest_id": None, "recipient": member_id,
                                           "created_at": {"$lt": before}}, session=self.session)
        return [plain(row) for row in rows.sort("created_at", ASCENDING)]

    def add_digest(self, digest: dict, notification_ids: list[str]) -> bool:
        """Record the digest and claim its notifications; False when this member's period already has one."""
        if self.has_digest(digest["member_id"], digest["cadence"], digest["period_start"]):
            return False
        self.db.digests.insert_one(digest, session=self.session)
        self.db.notifications.update_many({"_id": {"$in": [ObjectId(i) for i in notification_ids]}, "digest_id": None},
                                          {"$set": {"digest_id": digest["_id"]}}, session=self.session)
        return True

    def has_digest(self, member_id: str, cadence: str, period_start: datetime) -> bool:
        return self.db.digests.find_one({"member_id": member_id, "cadence": cadence, "period_start": period_start},
                                        {"_id": 1}, session=self.session) is not None

    # -- outgoing mail --------------------------------------------------------

    def queue_mail(self, key: str, recipient: str, template: str, context: dict, *, kind: str | None,
                   message_id: str, at: datetime) -> None:
        """Record an email to send; the same key is only ever queued once."""
        self.db.outgoing_mail.update_one(
            {"_id": key},
            {"$setOnInsert": {"recipient": recipient, "template": template, "context": context, "kind": kind,
                              "message_id": message_id, "state": "pending", "attempts": 0, "due_at": at,
                              "lease_until": EPOCH_LEASE, "created_at": at, "sent_at": None, "error": None}},
            upsert=True, session=self.session)

    def claim_mail(self, owner: str, now: datetime, lease: timedelta, limit: int = 50) -> list[dict]:
        due = {"state": "pending", "due_at": {"$lte": now}, "lease_until": {"$lt": now}}
        ids = [row["_id"] for row in self.db.outgoing_mail.find(due, {"_id": 1}).sort("due_at", ASCENDING).limit(limit)]
        if not ids:
            return []
        self.db.outgoing_mail.update_many({"_id": {"$in": ids}, **due},
                                          {"$set": {"lease_until": now + lease, "lease_owner": owner}})
        return list(self.db.outgoing_mail.find({"_id": {"$in": ids}, "lease_owner": owner, "state": "pending"}))

    def mail_sent(self, key: str, address: str) -> None:
        self.db.outgoing_mail.update_one({"_id": key}, {"$set": {"state": "sent", "sent_at": utc_now(),
                                                                 "address_used": address, "error": None}})

    def mail_failed(self, key: str, attempts: int, error: str, *, give_up: bool, retry_at: datetime) -> None:
        self.db.outgoing_mail.update_one({"_id": key}, {"$set": {
            "state": "failed" if give_up else "pending", "attempts": attempts, "error": error[:500],
            "due_at": retry_at, "lease_until": EPOCH_LEASE}})

    def mail_dropped(self, key: str, reason: str) -> None:
        self.db.outgoing_mail.update_one({"_id": key}, {"$set": {"state": "dropped", "error": reason}})

    def caught_mail(self, limit: int = 100) -> list[dict]:
        return [plain(row) for row in self.db.caught_mail.find({}, {"raw": 0}).sort("received_at", DESCENDING).limit(limit)]

    # -- webhooks -------------------------------------------------------------

    def add_webhook(self, webhook: dict) -> None:
        self.db.webhooks.insert_one(webhook, session=self.session)

    def webhook(self, webhook_id: str, owner_id: str | None = None) -> dict:
        query = {"_id": str(webhook_id), "state": {"$ne": "deleted"}}
        if owner_id is not None:
            query["owner_id"] = owner_id
        found = self.db.webhooks.find_one(query, session=self.session)
        if found is None:
            raise NotFound("There is no such webhook.")
        return plain(found)

    def webhooks_of(self, owner_id: str) -> list[dict]:
        rows = self.db.webhooks.find({"owner_id": owner_id, "state": {"$ne": "deleted"}}, session=self.session)
        return [plain(row) for row in rows.sort("created_at", ASCENDING).limit(200)]

    def webhooks_for(self, event_name: str) -> list[dict]:
        rows = self.db.webhooks.find({"state": "active", "event_types": event_name}, session=self.session)
        return [plain(row) for row in rows]

    def update_webhook(self, webhook_id: str, changes: dict, *, push_secret: dict | None = None) -> dict:
        update: dict = {"$set": changes, "$inc": {"version": 1}}
        if push_secret is not None:
            update["$push"] = {"secrets": push_secret}
        found = self.update_and_get("webhooks", {"_id": webhook_id}, update)
        if found is None:
            raise NotFound("There is no such webhook.")
        return plain(found)

    def add_delivery(self, delivery: dict) -> bool:
        """Record a delivery once per (webhook, event, round); True when this call recorded it."""
        key = {"webhook_id": delivery["webhook_id"], "event_id": delivery["event_id"], "round": delivery["round"]}
        result = self.db.webhook_deliveries.update_one(key, {"$setOnInsert": delivery}, upsert=True,
                                                       session=self.session)
        return result.upserted_id is not None

    def delivery(self, delivery_id: str) -> dict | None:
        return plain(self.db.webhook_deliveries.find_one({"_id": str(delivery_id)}, session=self.session))

    def deliveries(self, webhook_id: str, limit: int = 50, before: datetime | None = None) -> list[dict]:
        query: dict = {"webhook_id": webhook_id}
        if before is not None:
            query["created_at"] = {"$lt": before}
        rows = self.db.webhook_deliveries.find(query, {"body": 0}, session=self.session)
        return [plain(row) for row in rows.sort("created_at", DESCENDING).limit(limit)]

    def trim_deliveries(self, webhook_id: str, keep: int) -> int:
        """Delete the webhook's finished deliveries beyond its ``keep`` newest; how many went.

        Pending deliveries are never deleted, however many there are.
        """
        older = self.db.webhook_deliveries.find({"webhook_id": webhook_id}, {"state": 1}, session=self.session) \
            .sort("created_at", DESCENDING).skip(keep)
        finished = [row["_id"] for row in older if row.get("state") != "pending"]
        if not finished:
            return 0
        return self.db.webhook_deliveries.delete_many({"_id": {"$in": finished}, "state": {"$ne": "pending"}},
                                                      session=self.session).deleted_count

    def last_round(self, webhook_id: str, event_id: str) -> int:
        found = self.db.webhook_deliveries.find_one({"webhook_id": webhook_id, "event_id": event_id},
                                                    sort=[("round", DESCENDING)], session=self.session)
        return found["round"] if found else 0

    def claim_try(self, delivery_id: str, attempt: int, now: datetime, lease: timedelta) -> dict | None:
        """Take the delivery for try ``attempt``; None when that try is already made or being made (a duplicate)."""
        return plain(self.update_and_get(
            "webhook_deliveries",
            {"_id": delivery_id, "state": "pending", "tries_made": attempt - 1, "lease_until": {"$lt": now}},
            {"$set": {"lease_until": now + lease}}))

    def record_try(self, delivery_id: str, attempt: int, record: dict, changes: dict) -> None:
        self.db.webhook_deliveries.update_one(
            {"_id": delivery_id, "tries_made": attempt - 1},
            {"$set": {**changes, "tries_made": attempt, "lease_until": EPOCH_LEASE}, "$push": {"tries": record}},
            session=self.session)

    def stuck_deliveries(self, now: datetime, limit: int = 100) -> list[dict]:
        rows = self.db.webhook_deliveries.find({"state": "pending", "due_at": {"$lte": now},
                                                "lease_until": {"$lt": now}}, {"body": 0})
        return [plain(row) for row in rows.sort("due_at", ASCENDING).limit(limit)]

    def push_due(self, delivery_id: str, tries_made: int, due_at: datetime) -> bool:
        result = self.db.webhook_deliveries.update_one({"_id": delivery_id, "tries_made": tries_made, "state": "pending"},
                                                       {"$set": {"due_at": due_at}})
        return result.modified_count == 1

    def cancel_deliveries(self, webhook_id: str, reason: str) -> None:
        self.db.webhook_deliveries.update_many({"webhook_id": webhook_id, "state": "pending"},
                                               {"$set": {"state": "cancelled", "error": reason}}, session=self.session)
