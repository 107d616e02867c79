"""The notify service: in-app notifications, email and digests, preferences, and signed webhooks.

It only listens to events and keeps its own data. Entrypoints only: event
handlers hand the event to ``fanout`` inside one transaction with the dedupe
mark; a work queue of the kit's makes webhook delivery tries; schedules send
mail, build digests, release held-back ratings and sweep lost webhook
messages; RPC methods serve the gateway.
"""
from __future__ import annotations

import secrets
import socket
import uuid
from datetime import timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from services.common import contract, mentions, service_base, sessions
from services.common.config import check_settings, environment
from services.common.consumer import consume_events, consume_work
from services.common.errors import Forbidden, NotFound, ValidationFailed, refusal
from services.common.events import Event, isoformat, utc_now
from services.common.http import load
from services.common.rpc import ANYONE, MEMBER, OPERATOR, RpcProxy, rpc, service
from services.common.rules import RuleBroken
from services.common.storage import Storage
from services.notify import digests, domain, fanout, mail, schemas, webhook_delivery
from services.notify.store import NotifyStore
from services.notify.webhook_delivery import WebhookSettings

MEMBERS_EVENTS = ("member.registered", "member.joined_network", "member.left_network", "member.deactivated",
                  "member.password_reset_requested", "member.verification_requested", "agency.created", "network.created")
IDEAS_EVENTS = tuple(sorted(spec.name for spec in contract.all_specs() if spec.publisher == "ideas"))
ARCHIVE_EVENTS = tuple(sorted(spec.name for spec in contract.all_specs() if spec.publisher == "archive"))


class Every(Timer):
    """nameko's timer with its interval read from a config setting at start-up."""

    def __init__(self, setting: str, default: float, **kwargs):
        self.setting = setting
        self.default = default
        super().__init__(interval=default, **kwargs)

    def setup(self) -> None:
        self.interval = float(self.container.config.get(self.setting) or self.default)
        super().setup()


every = Every.decorator


class NotifySettings(DependencyProvider):
    """Mail, links, digests and rating batches: settings fixed for the container's life."""

    def setup(self) -> None:
        config = self.container.config
        check_settings(config, ("SMTP_URL", "MAIL_FROM", "UNSUBSCRIBE_SECRET"), secrets=("UNSUBSCRIBE_SECRET",))
        self.public_url = str(config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.site_name = str(config.get("SITE_NAME") or "Engagement Network")
        self.mail_from = str(config["MAIL_FROM"])
        self.mail_domain = self.mail_from.rsplit("@", 1)[-1].strip("> ") or "engage.local"
        self.smtp = mail.SmtpSender(str(config["SMTP_URL"]), timeout=float(config.get("SMTP_TIMEOUT_SECONDS") or 10))
        self.templates = mail.MailTemplates()
        self.tokens = domain.UnsubscribeTokens(str(config["UNSUBSCRIBE_SECRET"]))
        self.digest_time_zone = str(config.get("DIGEST_TIME_ZONE") or "Australia/Sydney")
        self.dev_mail_page = environment(config) == "development"  # everyone's mail, so never where others can reach it
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.fanout = fanout.FanoutSettings(
            public_url=self.public_url, mail_domain=self.mail_domain,
            rating_window=timedelta(seconds=float(config.get("RATING_BATCH_SECONDS") or 3600)),
            stuck_after=timedelta(seconds=float(config.get("WEBHOOK_STUCK_SECONDS") or 120)))

    def get_dependency(self, worker_ctx) -> "NotifySettings":
        return self

    def unsubscribe_url(self, member_id: str, kind: str) -> str:
        return f"{self.public_url}/unsubscribe/{self.tokens.make(member_id, kind)}"


def notification_view(row: dict) -> dict:
    """A notification as its recipient sees it; ``comment_removed`` says why a comment's notice quotes nothing."""
    body = row.get("body", "")
    return {"id": row["id"], "kind": row["kind"], "title": row["title"], "body": body,
            "body_parts": mentions.parts(body, row.get("mention_links") or {}),
            "link": row.get("link") or "/notifications", "actor_name": row.get("actor_name", ""),
            "idea_id": row.get("idea_id"), "comment_removed": row.get("comment_removed", False),
            "read": row.get("read_at") is not None,
            "read_at": isoformat(row["read_at"]) if row.get("read_at") else None,
            "created_at": isoformat(row["created_at"])}


def webhook_view(row: dict) -> dict:
    """A subscription as its owner sees it; secrets never appear after creation or rotation."""
    return {"id": row["id"], "url": row["url"], "event_types": row["event_types"], "agency": row.get("agency"),
            "network": row.get("network"), "description": row.get("description", ""), "state": row["state"],
            "created_at": isoformat(row["created_at"]),
            "failing_since": isoformat(row["failing_since"]) if row.get("failing_since") else None,
            "last_delivered_at": isoformat(row["last_delivered_at"]) if row.get("last_delivered_at") else None}


class NotifyService(service_base.ServiceBase, sessions.KeepsSessionVersions):
    name = "notify"

    store = Storage(NotifyStore)
    settings = NotifySettings()
    webhooks = WebhookSettings()
    members = RpcProxy("members")

    # -- events -------------------------------------------------------------

    @consume_events("members", *MEMBERS_EVENTS)
    def on_members_event(self, event: Event) -> None:
        self._handle(event)

    @consume_events("ideas", *IDEAS_EVENTS)
    def on_ideas_event(self, event: Event) -> None:
        self._handle(event)

    @consume_events("archive", *ARCHIVE_EVENTS)
    def on_archive_event(self, event: Event) -> None:
        self._handle(event)

    def _handle(self, event: Event) -> None:
        created = self.store.transaction(lambda tx: fanout.handle(tx, event, self.settings.fanout, utc_now()),
                                         handling=event)
        for delivery_id in created:
            try:
                self.webhooks.queues.send_now(delivery_id, 1)
            except Exception:  # the sweep sends it when its due_at passes
                break

    # -- schedules ----------------------------------------------------------

    @every("MAIL_SEND_SECONDS", 2.0)
    def send_mail(self) -> None:
        mail.send_pending(self.store, self.members.contact_addresses, self.settings, self.settings.owner, utc_now())

    @every("DIGEST_CHECK_SECONDS", 300.0)
    def build_digests_on_schedule(self) -> None:
        digests.build_due_digests(self.store, self.settings.fanout, self.settings.digest_time_zone, utc_now())

    @every("RATING_FLUSH_SECONDS", 60.0)
    def release_held_ratings(self) -> None:
        digests.flush_rating_batches(self.store, self.settings.fanout, utc_now())

    @every("WEBHOOK_SWEEP_SECONDS", 30.0)
    def sweep_webhook_deliveries(self) -> None:
        webhook_delivery.sweep(self.store, self.webhooks, utc_now())

    @consume_work(delays_setting="WEBHOOK_RETRY_DELAYS", default_delays=domain.DEFAULT_WEBHOOK_RETRY_DELAYS)
    def deliver_webhook(self, payload: dict) -> None:
        delivery_id, attempt = webhook_delivery.read_try(payload)
        webhook_delivery.make_try(self.store, self.webhooks, self.settings.fanout, delivery_id, attempt)

    # -- notifications ------------------------------------------------------

    @rpc(allow=MEMBER)
    def list_notifications(self, cursor: str | None = None, limit: int = 20) -> dict:
        """The caller's notifications, newest first, with their unread count."""
        principal = self.caller.required("notifications:read")
        items, next_cursor = self.store.notifications(principal.member_id, cursor or None, max(1, min(int(limit), 100)))
        return {"items": [notification_view(row) for row in items], "unread": self.store.unread_count(principal.member_id),
                "next_cursor": next_cursor}

    @rpc(allow=MEMBER)
    def unread_count(self) -> int:
        return self.store.unread_count(self.caller.required("notifications:read").member_id)

    @rpc(allow=MEMBER)
    def mark_read(self, notification_id: str) -> dict:
        principal = self.caller.required("notifications:read")
        return notification_view(self.store.mark_read(principal.member_id, str(notification_id)))

    @rpc(allow=MEMBER)
    def mark_all_read(self) -> dict:
        principal = self.caller.required("notifications:read")
        return {"marked": self.store.mark_all_read(principal.member_id), "unread": 0}

    # -- preferences --------------------------------------------------------

    @rpc(allow=MEMBER)
    def get_preferences(self) -> dict:
        return self._preferences_view(self.store.preferences(self.caller.required("notifications:read").member_id))

    @rpc(allow=MEMBER)
    def set_preferences(self, payload: dict) -> dict:
        principal = self.caller.required()
        changes = load(schemas.PreferenceChange(), payload)
        return self._preferences_view(self.store.set_preferences(principal.member_id, changes))

    @staticmethod
    def _preferences_view(preferences: dict) -> dict:
        return {"kinds": preferences,
                "choices": [{"kind": kind, "label": label, "mode": preferences[kind]} for kind, label in domain.KINDS.items()],
                "modes": domain.MODES}

    @rpc(allow=ANYONE)
    def describe_unsubscribe(self, token: str) -> dict:
        """What an unsubscribe link would switch off; no log-in needed, the signed token is the permission."""
        try:
            member_id, kind = self.settings.tokens.read(str(token))
        except RuleBroken as error:
            raise refusal(error) from None
        return {"kind": kind, "label": domain.KINDS.get(kind, "Every email from us")}

    @rpc(allow=ANYONE)
    def unsubscribe(self, token: str) -> dict:
        try:
            member_id, kind = self.settings.tokens.read(str(token))
        except RuleBroken as error:
            raise refusal(error) from None
        changes = domain.unsubscribe_changes(kind, self.store.preferences(member_id))
        preferences = self.store.set_preferences(member_id, changes)
        return {"kind": kind, "label": domain.KINDS.get(kind, "Every email from us"), "kinds": preferences}

    # -- digests (schedule, or an operator asking for a given moment) --------

    @rpc(allow=OPERATOR)
    def build_digests(self, payload: dict | None = None) -> dict:
        """Build the digests due at ``at`` (default now). Internal callers and operators only."""
        principal = self.caller.optional()
        if principal is not None and not principal.is_operator:
            raise Forbidden("Only the platform operator runs digests by hand.")
        data = load(schemas.DigestRun(), payload or {})
        at = data.get("at") or utc_now()
        return {"built": digests.build_due_digests(self.store, self.settings.fanout, self.settings.digest_time_zone, at)}

    @rpc(allow=service("web") | OPERATOR)
    def caught_mail(self) -> list[dict]:
        """Mail the local run's catch-all SMTP server received (``ENGAGE_ENV=development`` only)."""
        if not self.settings.dev_mail_page:
            raise NotFound("The caught-mail page exists only in development.")
        return [{**row, "received_at": isoformat(row["received_at"])} for row in self.store.caught_mail()]

    # -- webhooks -----------------------------------------------------------

    @rpc(allow=ANYONE)
    def webhook_event_types(self) -> list[str]:
        return domain.webhook_event_types()

    @rpc(allow=MEMBER)
    def create_webhook(self, payload: dict) -> dict:
        """A subscription for the caller; the answer holds the signing secret, which is never shown again."""
        principal = self.caller.required("webhooks:write")
        data = load(schemas.WebhookCreation(), payload)
        problems: dict[str, list[str]] = {}
        for check in (lambda: self.webhooks.check_target(data["url"]), lambda: domain.check_event_types(data["event_types"]),
                      lambda: domain.check_webhook_count(len(self.store.webhooks_of(principal.member_id)),
                                                         self.webhooks.max_per_member)):
            try:
                check()
            except RuleBroken as error:
                problems[error.field] = [str(error)]
        if problems:
            raise ValidationFailed(f"Please correct these fields: {', '.join(sorted(problems))}.", problems)
        now = utc_now()
        secret = _new_secret()
        webhook = {"_id": str(uuid.uuid4()), "owner_id": principal.member_id, "owner_agency": principal.agency,
                   "url": data["url"], "event_types": domain.check_event_types(data["event_types"]),
                   "agency": data.get("agency"), "network": data.get("network"), "description": data["description"],
                   "secrets": [{"value": secret, "created_at": now, "expires_at": None}], "state": "active",
                   "failing_since": None, "last_delivered_at": None, "created_at": now, "version": 1}
        self.store.add_webhook(webhook)
        webhook["id"] = webhook.pop("_id")
        return {**webhook_view(webhook), "secret": secret}

    @rpc(allow=MEMBER)
    def list_webhooks(self) -> dict:
        principal = self.caller.required("webhooks:write")
        return {"items": [webhook_view(w) for w in self.store.webhooks_of(principal.member_id)], "next_cursor": None}

    @rpc(allow=MEMBER)
    def get_webhook(self, webhook_id: str) -> dict:
        return webhook_view(self._own_webhook(webhook_id))

    @rpc(allow=MEMBER)
    def rotate_webhook_secret(self, webhook_id: str, payload: dict | None = None) -> dict:
        """A new secret; the old ones keep signing beside it for the overlap (default ``WEBHOOK_SECRET_OVERLAP_SECONDS``)."""
        webhook = self._own_webhook(webhook_id)
        data = load(schemas.SecretRotation(), payload or {})
        overlap = timedelta(seconds=data["overlap_seconds"]) if data.get("overlap_seconds") is not None \
            else self.webhooks.secret_overlap
        now = utc_now()
        secret = _new_secret()

        def write(tx: NotifyStore) -> dict:
            current = tx.webhook(webhook["id"])
            kept = [{**s, "expires_at": min(s["expires_at"], now + overlap) if s.get("expires_at") else now + overlap}
                    for s in current["secrets"] if s.get("expires_at") is None or s["expires_at"] > now]
            return tx.update_webhook(webhook["id"], {"secrets": kept + [{"value": secret, "created_at": now,
                                                                          "expires_at": None}]})

        updated = self.store.transaction(write)
        return {**webhook_view(updated), "secret": secret, "previous_secrets_expire_at": isoformat(now + overlap)}

    @rpc(allow=MEMBER)
    def delete_webhook(self, webhook_id: str) -> dict:
        webhook = self._own_webhook(webhook_id)

        def write(tx: NotifyStore) -> None:
            tx.update_webhook(webhook["id"], {"state": "deleted", "deleted_at": utc_now(), "secrets": []})
            tx.cancel_deliveries(webhook["id"], "the webhook was deleted")

        self.store.transaction(write)
        return {"id": webhook["id"], "deleted": True}

    @rpc(allow=MEMBER)
    def webhook_deliveries(self, webhook_id: str, limit: int = 50) -> dict:
        webhook = self._own_webhook(webhook_id)
        rows = self.store.deliveries(webhook["id"], max(1, min(int(limit), 200)))
        return {"items": [webhook_delivery.delivery_view(row) for row in rows], "next_cursor": None}

    @rpc(allow=MEMBER)
    def redeliver(self, webhook_id: str, delivery_id: str) -> dict:
        """Send a delivery's event again as a new delivery (a new ``Engage-Delivery`` id, the same event id)."""
        webhook = self._own_webhook(webhook_id)
        if webhook["state"] != "active":
            raise ValidationFailed("This webhook is switched off; create it again to receive deliveries.",
                                   {"webhook": ["not active"]})
        original = self.store.delivery(delivery_id)
        if original is None or original["webhook_id"] != webhook["id"]:
            raise NotFound("This webhook has no such delivery.")
        now = utc_now()

        def write(tx: NotifyStore) -> dict:
            delivery = fanout.new_delivery(webhook, original["event_id"], original["event_type"], original["body"],
                                           tx.last_round(webhook["id"], original["event_id"]) + 1, now,
                                           self.settings.fanout.stuck_after)
            delivery["redelivery_of"] = original["id"]
            tx.add_delivery(delivery)
            return delivery

        delivery = self.store.transaction(write)
        try:
            self.webhooks.queues.send_now(delivery["_id"], 1)
        except Exception:  # the sweep sends it when its due_at passes
            pass
        return webhook_delivery.delivery_view({**delivery, "id": delivery["_id"]})

    def _own_webhook(self, webhook_id: str) -> dict:
        principal = self.caller.required("webhooks:write")
        webhook = self.store.webhook(str(webhook_id))
        if webhook["owner_id"] != principal.member_id and not principal.is_operator:
            raise NotFound("There is no such webhook.")
        return webhook


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
