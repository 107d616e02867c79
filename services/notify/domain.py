"""The notify service's rules: who is told what, how each member wants to hear it, digests, webhooks.

Plain functions and small classes with no nameko, pymongo or network imports,
so every rule is tested on its own. The service feeds them what it knows from
events (followers, network memberships, the ideas' authors) and stores what
they decide.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Sequence
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer

from services.common import contract, mentions
from services.common.contract.api.notify import KINDS, MODES
from services.common.rules import RuleBroken

# -- kinds of notification and how a member wants each ------------------------

DEFAULT_MODES: dict[str, str] = {
    "comments": "in_app", "replies": "email", "mentions": "email", "idea_updates": "in_app",
    "new_ideas": "off", "ratings": "in_app", "webhooks": "email",
}
DIGEST_CADENCES = ("daily", "weekly")


def preferences_with_defaults(stored: dict[str, str] | None) -> dict[str, str]:
    """Every kind with its mode: the member's choice where made, the default elsewhere."""
    chosen = stored or {}
    return {kind: chosen.get(kind, DEFAULT_MODES[kind]) for kind in KINDS}


def changed_preferences(requested: dict) -> dict[str, str]:
    """The requested changes, checked: every key a known kind, every value a known mode."""
    for kind, mode in requested.items():
        if kind not in KINDS:
            raise RuleBroken(f"There is no kind of notification called {kind}.", field=kind)
        if mode not in MODES:
            raise RuleBroken(f"{mode} is not a way of being told; use one of {', '.join(MODES)}.", field=kind)
    return dict(requested)


@dataclass(frozen=True)
class DeliveryPlan:
    """What one notification turns into for its recipient."""

    in_app: bool
    email_now: bool
    digest: str | None


def plan_delivery(mode: str) -> DeliveryPlan:
    if mode == "off":
        return DeliveryPlan(False, False, None)
    if mode == "email":
        return DeliveryPlan(True, True, None)
    if mode in DIGEST_CADENCES:
        return DeliveryPlan(True, False, mode)
    return DeliveryPlan(True, False, None)


# -- who is told what ---------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """One thing to tell one member; ``comment_id`` names the comment it quotes, whose removal blanks it."""

    recipient: str
    kind: str
    title: str
    body: str = ""
    link: str = "/notifications"
    actor_name: str = ""
    idea_id: str | None = None
    comment_id: str | None = None
    #: (name key, member id) of each mention the quoted text makes, so the notice can link it.
    mention_links: tuple[tuple[str, str], ...] = ()


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a member's text, cut at a word boundary, on one line."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def readable(text: str) -> str:
    """Members' text as a mail shows it: mentions as "@Name", without their markup (mail has no links to make)."""
    return "".join(part["text"] for part in mentions.parts(text, {}))


def idea_link(idea_id: str, comment_id: str | None = None) -> str:
    """The idea's page, scrolled to the comment when there is one (the page gives each comment this anchor)."""
    return f"/ideas/{idea_id}" + (f"#comment-{comment_id}" if comment_id else "")


def notices_for_comment(data: dict, followers: Iterable[str]) -> list[Notice]:
    """A reply tells the parent comment's author; a comment tells the idea's author and followers.

    The commenter is never told about their own comment, and nobody is told twice: members the
    comment mentions hear of it once, by the notice of their mention (``member.mentioned``).
    """
    commenter = data["author_id"]
    title_of_idea = data.get("idea_title", "")
    comment_id = data["comment_id"]
    link = idea_link(data["idea_id"], comment_id)
    body = excerpt(data.get("body", ""))
    links = _links(data)
    notices: list[Notice] = []
    told = {commenter, *data.get("mentioned_member_ids", ())}
    parent_author = data.get("parent_author_id")
    if data.get("parent_id") and parent_author and parent_author not in told:
        notices.append(Notice(parent_author, "replies", f"{data['author_name']} replied to your comment on “{title_of_idea}”",
                              body, link, data["author_name"], data["idea_id"], comment_id, links))
        told.add(parent_author)
    idea_author = data.get("idea_author_id")
    if idea_author and idea_author not in told:
        notices.append(Notice(idea_author, "comments", f"{data['author_name']} commented on your idea “{title_of_idea}”",
                              body, link, data["author_name"], data["idea_id"], comment_id, links))
        told.add(idea_author)
    for follower in sorted(set(followers) - told):
        notices.append(Notice(follower, "comments", f"{data['author_name']} commented on “{title_of_idea}”, which you follow",
                              body, link, data["author_name"], data["idea_id"], comment_id, links))
    return notices


def notices_for_mention(data: dict) -> list[Notice]:
    if data["member_id"] == data["by_member_id"]:
        return []
    return [Notice(data["member_id"], "mentions", f"{data['by_name']} mentioned you in “{data['idea_title']}”",
                   excerpt(data.get("excerpt", "")), idea_link(data["idea_id"], data["comment_id"]),
                   data["by_name"], data["idea_id"], data["comment_id"], _links(data))]


def _links(data: dict) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((data.get("mention_links") or {}).items()))


STATE_WORDS = {"draft": "a draft", "open": "open for discussion", "under_review": "under review",
               "adopted": "adopted", "declined": "declined", "archived": "archived"}


def notices_for_state_change(data: dict, followers: Iterable[str]) -> list[Notice]:
    """The idea's author and followers, except whoever made the change."""
    recipients = ({data["author_id"]} | set(followers)) - {data.get("changed_by")}
    words = STATE_WORDS.get(data["to_state"], data["to_state"])
    body = excerpt(data.get("official_response") or "")
    return [Notice(member, "idea_updates", f"“{data['title']}” is now {words}", body, idea_link(data["idea_id"]),
                   "", data["idea_id"]) for member in sorted(recipients)]


def notices_for_new_idea(idea: dict, network_members: Iterable[str]) -> list[Notice]:
    """Members of the idea's network hear of it (if they asked to); its author does not."""
    recipients = set(network_members) - {idea["author_id"]}
    return [Notice(member, "new_ideas", f"New idea in your network: “{idea['title']}”",
                   excerpt(idea.get("description", "")), idea_link(idea["idea_id"]), idea.get("author_name", ""),
                   idea["idea_id"]) for member in sorted(recipients)]


def is_first_opening(data: dict, event_name: str) -> bool:
    """True when this event makes an idea visible to others for the first time."""
    if event_name == "idea.submitted":
        return data.get("state") == "open"
    return event_name == "idea.state_changed" and data.get("from_state") == "draft" and data.get("to_state") == "open"


def ratings_notice(author_id: str, idea_id: str, idea_title: str, new_ratings: int, average: float | None,
                   count: int) -> Notice:
    plural = "rating" if new_ratings == 1 else "ratings"
    summary = f"Average {average:.1f} from {count}." if average is not None else ""
    return Notice(author_id, "ratings", f"Your idea “{idea_title}” got {new_ratings} new {plural}", summary,
                  idea_link(idea_id), "", idea_id)


def rating_notice_due(last_notified_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """At most one ratings notice per idea per ``window``: true when the last one is that old (or none)."""
    return last_notified_at is None or now - last_notified_at >= window


def webhook_disabled_notice(owner_id: str, url: str) -> Notice:
    return Notice(owner_id, "webhooks", "A webhook of yours was switched off after failing for days",
                  f"Deliveries to {url} kept failing. Fix the receiver, then create the webhook again.",
                  "/notifications", "", None)


# -- digests ------------------------------------------------------------------

def period_start(cadence: str, moment: datetime, time_zone: str) -> datetime:
    """Start (UTC) of the day, or the week from Monday, holding ``moment`` in ``time_zone``."""
    local = moment.astimezone(ZoneInfo(time_zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if cadence == "weekly":
        start -= timedelta(days=start.weekday())
    elif cadence != "daily":
        raise ValueError(f"unknown digest cadence {cadence}")
    return start.astimezone(timezone.utc)


def last_completed_period(cadence: str, now: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """``(start, end)`` in UTC of the latest whole day or week that has ended by ``now``."""
    end = period_start(cadence, now, time_zone)
    step = timedelta(days=7 if cadence == "weekly" else 1)
    start = period_start(cadence, end - step + timedelta(hours=12), time_zone)
    return start, end


def digest_subject(cadence: str, count: int) -> str:
    what = "day" if cadence == "daily" else "week"
    return f"Your {what} on Engagement Network: {count} update{'s' if count != 1 else ''}"


# -- unsubscribing without logging in ------------------------------------------

EVERY_KIND = "all"


def unsubscribe_changes(kind: str, current: dict[str, str]) -> dict[str, str]:
    """One kind's link turns that kind off; the every-kind link (the List-Unsubscribe header) stops all email."""
    if kind != EVERY_KIND:
        return {kind: "off"}
    return {k: "in_app" for k, mode in current.items() if mode in ("email", *DIGEST_CADENCES)}


class UnsubscribeTokens:
    """Signed ``(member, kind)`` tokens for the link in every email. They do not expire:
    an unsubscribe link in an old email must still work."""

    def __init__(self, secret: str):
        self.serializer = URLSafeSerializer(secret, salt="engage-unsubscribe")

    def make(self, member_id: str, kind: str) -> str:
        return self.serializer.dumps({"m": member_id, "k": kind})

    def read(self, token: str) -> tuple[str, str]:
        """``(member_id, kind)``; ``RuleBroken`` on ``token`` when it was not made here."""
        try:
            payload = self.serializer.loads(token)
            member_id, kind = str(payload["m"]), str(payload["k"])
        except (BadSignature, KeyError, TypeError):
            raise RuleBroken("This unsubscribe link is not valid; open the link from the email again.",
                             field="token") from None
        if kind not in KINDS and kind != EVERY_KIND:
            raise RuleBroken("This unsubscribe link names a kind of message that no longer exists.", field="token")
        return member_id, kind


# -- email --------------------------------------------------------------------

def notice_mail_key(event_id: str, recipient: str) -> str:
    """The outgoing mail of one notification: queued once, and found again to drop it if its comment is removed."""
    return f"{event_id}|{recipient}|notice"


def stable_message_id(key: str, mail_domain: str) -> str:
    """The same Message-ID for every sending attempt of one email (event id + recipient + purpose)."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}@{mail_domain}>"


def next_mail_attempt(attempts: int, now: datetime) -> datetime:
    """Back off after an SMTP failure: 10 s, 20 s, 40 s … capped at 30 minutes."""
    return now + timedelta(seconds=min(1800, 10 * 2 ** max(attempts - 1, 0)))


MAX_MAIL_ATTEMPTS = 12


# -- webhooks -----------------------------------------------------------------

# Events a webhook may ask for: what anyone may read (ideas, discussions, the
# archive, agencies and networks). Never member.password_reset_requested or
# member.verification_requested, which carry one-time links.
WEBHOOK_PUBLISHERS = ("ideas", "archive")
WEBHOOK_EXTRA_TYPES = ("agency.created", "network.created")


def webhook_event_types() -> list[str]:
    names = {spec.name for spec in contract.all_specs()
             if spec.publisher in WEBHOOK_PUBLISHERS or spec.name in WEBHOOK_EXTRA_TYPES}
    return sorted(names)


def check_event_types(requested: Sequence[str]) -> list[str]:
    allowed = set(webhook_event_types())
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        raise RuleBroken(f"Unknown event type{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                         f"Choose from {', '.join(sorted(allowed))}.", field="event_types")
    return sorted(set(requested))


# Ranges that embed an IPv4 address the network may translate and reach: the embedded one is checked too.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")


def address_refusal(address: str) -> str | None:
    """Why an IP address may not receive webhooks by default, or None when it may.

    Only globally routable unicast addresses pass. IPv6 forms that carry an
    IPv4 address a gateway would reach (IPv4-mapped, 6to4, NAT64) pass only
    when that IPv4 address would; Teredo is refused outright, since its
    relay, not the receiver, is what the address names.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return address_refusal(str(ip.ipv4_mapped))
        if ip.teredo:
            return "a Teredo tunnel address"
        if ip.sixtofour:
            return address_refusal(str(ip.sixtofour))
        if ip in NAT64:
            return address_refusal(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CARRIER_GRADE_NAT:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private or reserved address"
    return None


def webhook_addresses(url: str, resolve: Callable[[str], list[str]], allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, each checked; deliveries connect to these and no others.

    Resolving once and connecting to what was checked is what stops DNS
    rebinding: a second lookup could answer differently. Raises ``RuleBroken``
    on ``url`` as ``check_webhook_target`` does.
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https"):
        raise RuleBroken("Webhook URLs must start with http:// or https://.", field="url")
    host = parts.hostname
    if not host:
        raise RuleBroken("The webhook URL has no usable host name.", field="url")
    try:
        parts.port
    except ValueError:
        raise RuleBroken("The webhook URL's port is not a number from 1 to 65535.", field="url") from None
    if parts.username or parts.password:
        raise RuleBroken("Put no user name or password in a webhook URL; deliveries are signed instead.", field="url")
    try:
        addresses = [host] if _is_ip(host) else list(resolve(host))
    except OSError:
        raise RuleBroken(f"The host {host} cannot be found.", field="url") from None
    if not addresses:
        raise RuleBroken(f"The host {host} cannot be found.", field="url")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise RuleBroken(f"The host {host} is {reason}; webhooks go only to public addresses here.",
                                 field="url")
    return addresses


def check_webhook_target(url: str, resolve: Callable[[str], list[str]], allow_private: bool) -> str:
    """Return ``url`` when it may receive webhooks, else raise ``RuleBroken`` on ``url``.

    Only http and https; the host must resolve, and every address it resolves
    to must be public (``address_refusal``) unless ``allow_private``.
    ``resolve(host)`` returns the host's IP addresses (raises ``OSError`` when none).
    """
    webhook_addresses(url, resolve, allow_private)
    return url


def check_webhook_count(existing: int, limit: int) -> None:
    """Refuse a member's webhook beyond ``limit``: each one is outgoing traffic the platform makes for them."""
    if existing >= limit:
        raise RuleBroken(f"You have {existing} webhooks, the most one member may have; delete one first.", field="url")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def subscription_matches(subscription: dict, event_name: str, data: dict) -> bool:
    """Whether an active subscription wants this event: its type, then the optional agency and network filters."""
    if subscription.get("state") != "active" or event_name not in subscription.get("event_types", []):
        return False
    agency = subscription.get("agency")
    if agency and data.get("agency") not in (None, agency):
        return False
    network = subscription.get("network")
    if network and data.get("network") != network and data.get("network_id") != network \
            and data.get("network_slug") != network:
        return False
    return True


@dataclass(frozen=True)
class TryOutcome:
    """What to do after one delivery try."""

    state: str  # delivered | retrying | dead
    retry_after: float | None = None


def after_try(succeeded: bool, tries_made: int, delays: Sequence[float]) -> TryOutcome:
    """2xx delivers; otherwise retry after ``delays[tries_made - 1]`` until ``len(delays) + 1`` tries are used."""
    if succeeded:
        return TryOutcome("delivered")
    if tries_made <= len(delays):
        return TryOutcome("retrying", float(delays[tries_made - 1]))
    return TryOutcome("dead")


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def should_disable(failing_since: datetime | None, now: datetime, after: timedelta) -> bool:
    """A subscription failing without a single success for ``after`` is switched off."""
    return failing_since is not None and now - failing_since >= after


def signing_secrets(secrets: list[dict], now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one first, then any still in their overlap."""
    valid = [s for s in secrets if s.get("expires_at") is None or _aware(s["expires_at"]) > now]
    valid.sort(key=lambda s: _aware(s["created_at"]), reverse=True)
    return [s["value"] for s in valid]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


MAX_WEBHOOK_TRIES = 8


def parse_delays(value, default: Sequence[float]) -> tuple[float, ...]:
    """Retry delays from config (``"60,300"`` or a list); at most ``MAX_WEBHOOK_TRIES - 1`` of them."""
    if value in (None, ""):
        delays = tuple(float(d) for d in default)
    elif isinstance(value, str):
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    elif isinstance(value, (int, float)):
        delays = (float(value),)
    else:
        delays = tuple(float(d) for d in value)
    if not delays or len(delays) > MAX_WEBHOOK_TRIES - 1 or any(d <= 0 for d in delays):
        raise ValueError(f"WEBHOOK_RETRY_DELAYS must hold 1 to {MAX_WEBHOOK_TRIES - 1} positive numbers of seconds")
    return delays


DEFAULT_WEBHOOK_RETRY_DELAYS = (60, 300, 1800, 3600, 7200, 21600, 43200)  # 8 tries over about 21.6 hours


def as_flag(value) -> bool:
    """A config flag that may arrive as a bool or as text."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class TrySummary:
    """One delivery try as the log shows it."""

    number: int
    at: datetime
    outcome: str
    response_code: int | None
    duration_ms: int
    error: str | None = None

    def as_record(self) -> dict:
        return {"number": self.number, "at": self.at, "outcome": self.outcome, "response_code": self.response_code,
                "duration_ms": self.duration_ms, "error": self.error}
