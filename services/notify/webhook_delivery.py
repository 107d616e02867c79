"""Webhook deliveries: one POST per try, back-off through the kit's retry queues, a bounded log of tries.

A delivery row (written in the same transaction as the event's dedupe mark)
is the truth; a work item on ``notify.deliver_webhook`` (the kit's
``consume_work`` queue) only says "make try n now". After a failed try the
row is updated first and then "make try n+1" is parked in
``notify.deliver_webhook.retry.<n>``, a kit retry queue whose TTL is the n-th
delay of ``WEBHOOK_RETRY_DELAYS``: no worker sleeps while it waits. The kit's
consumer acks, retries a handler that failed, keeps dead letters, and holds
the items while storage is unreachable, as for every other handler. A message
that is lost (a crash between a commit and the publish) is made up by the
sweep, which takes rows whose ``due_at`` has passed. A duplicate message
finds its try already made and does nothing. Receivers drop repeats by the
``Engage-Delivery`` header or the event id in the body.

Each try resolves the URL's host once, checks every address against the
public-only rule, and connects to a checked address (the host name rides
only in ``Host`` and the TLS server name), so a name that answers
differently the second time cannot steer a delivery inside the network.
Each POST has one deadline, ``WEBHOOK_TIMEOUT_SECONDS``, for connecting,
sending and the answer's status line and headers together (the body is not
read), so a receiver that accepts and then stalls or trickles bytes costs at
most that. Each webhook's log keeps its newest ``DELIVERY_LOG_SIZE``
deliveries; older finished ones are deleted as new ones finish.
"""
from __future__ import annotations

import logging
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import certifi
import eventlet
import urllib3
from nameko.extensions import DependencyProvider, SharedExtension

from services.common.consumer import EventRejected, WorkConsumer, work_consumer
from services.common.errors import NotFound
from services.common.events import isoformat, utc_now
from services.common.metrics import ServiceMetrics
from services.common.rules import RuleBroken
from services.common.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from services.notify import domain
from services.notify.fanout import FanoutSettings, deliver_notices
from services.notify.store import NotifyStore

log = logging.getLogger(__name__)

USER_AGENT = "EngagementNetwork-Webhooks/1"
# The notify service's consume_work handler that makes the tries.
DELIVERY_HANDLER = "deliver_webhook"
# Deliveries kept per webhook for its log (newest first); pending ones are never deleted.
DELIVERY_LOG_SIZE = 100


def resolve_host(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


def read_try(payload: dict) -> tuple[str, int]:
    """``(delivery id, try number)`` of a "make try n" work item; ``EventRejected`` for one that names neither."""
    try:
        delivery_id, attempt = str(payload["delivery_id"]), int(payload["attempt"])
    except (KeyError, TypeError, ValueError):
        raise EventRejected(f"not a webhook try: {str(payload)[:200]}") from None
    if not delivery_id or attempt < 1:
        raise EventRejected(f"not a webhook try: {str(payload)[:200]}")
    return delivery_id, attempt


class WebhookQueues(SharedExtension):
    """Sends "make try n" work items to ``deliver_webhook``: now, or after the delay that follows try n-1."""

    metrics = ServiceMetrics()

    def setup(self) -> None:
        self.outcomes = self.metrics.counter("webhook_deliveries", "Webhook delivery tries by outcome "
                                             "(delivered, retried, failed).", ["outcome"])
        for outcome in ("delivered", "retried", "failed"):  # each series exists, at zero, before the first try
            self.outcomes.labels(outcome)

    # Methods, not properties: nameko reads every attribute of an extension while it builds the container.
    def consumer(self) -> WorkConsumer:
        return work_consumer(self.container, DELIVERY_HANDLER)

    def delays(self) -> tuple[float, ...]:
        return self.consumer().schedule.delays

    def send_now(self, delivery_id: str, attempt: int) -> None:
        self.consumer().send({"delivery_id": delivery_id, "attempt": attempt}, message_id=f"{delivery_id}:{attempt}")

    def send_after_delay(self, delivery_id: str, tries_made: int) -> None:
        self.consumer().send({"delivery_id": delivery_id, "attempt": tries_made + 1},
                             message_id=f"{delivery_id}:{tries_made + 1}", after_step=tries_made)


class WebhookSettings(DependencyProvider):
    """Delivery settings fixed for the container's life, and the queues."""

    queues = WebhookQueues()

    def setup(self) -> None:
        config = self.container.config
        # Fails fast on a schedule the delivery rules cannot use; the kit's consumer reads the same setting.
        domain.parse_delays(config.get("WEBHOOK_RETRY_DELAYS"), domain.DEFAULT_WEBHOOK_RETRY_DELAYS)
        self.timeout = float(config.get("WEBHOOK_TIMEOUT_SECONDS") or 10)
        self.allow_private = domain.as_flag(config.get("ALLOW_PRIVATE_WEBHOOK_TARGETS"))
        self.disable_after = timedelta(seconds=float(config.get("WEBHOOK_DISABLE_AFTER_SECONDS") or 3 * 86400))
        self.secret_overlap = timedelta(seconds=float(config.get("WEBHOOK_SECRET_OVERLAP_SECONDS") or 86400))
        self.stuck_after = timedelta(seconds=float(config.get("WEBHOOK_STUCK_SECONDS") or 120))
        self.max_per_member = int(config.get("MAX_WEBHOOKS_PER_MEMBER") or 10)

    def get_dependency(self, worker_ctx) -> "WebhookSettings":
        return self

    def delays(self) -> tuple[float, ...]:
        return self.queues.delays()

    def check_target(self, url: str) -> str:
        return domain.check_webhook_target(url, self.resolve, self.allow_private)

    def target_addresses(self, url: str) -> list[str]:
        """``url``'s host resolved once and checked: the only addresses a delivery may connect to."""
        return domain.webhook_addresses(url, self.resolve, self.allow_private)

    def resolve(self, host: str) -> list[str]:
        return resolve_host(host)


def post(url: str, address: str, body: str, headers: dict, timeout: float) -> tuple[int | None, str | None, int]:
    """``(status code or None, short reason or None, duration in ms)`` of one POST to ``address``; never raises.

    The connection goes to ``address`` (one that was checked) and nowhere
    else: the URL's host name is sent only as ``Host`` and as the TLS server
    name, whose certificate must match it. Redirects are not followed. The
    reason is one of a few fixed phrases, so the delivery log cannot be used
    to map what answers inside the network. ``timeout`` bounds the whole
    call: connecting, sending, and the status line and headers of the answer.
    """
    started = time.perf_counter()
    deadline = eventlet.Timeout(timeout)
    try:
        code, error = _post_pinned(url, address, body, headers, timeout), None
        if not domain.is_success(code):
            error = f"HTTP {code}"
    except eventlet.Timeout as expired:
        if expired is not deadline:
            raise
        code, error = None, f"no answer within {timeout:g} s"
    except urllib3.exceptions.SSLError:
        code, error = None, "TLS handshake failed"
    except urllib3.exceptions.NewConnectionError:  # before TimeoutError: urllib3 2 derives it from that
        code, error = None, "could not connect"
    except (urllib3.exceptions.TimeoutError, socket.timeout):
        code, error = None, f"no answer within {timeout:g} s"
    except (urllib3.exceptions.HTTPError, OSError):
        code, error = None, "could not connect"
    finally:
        deadline.cancel()
    return code, error, int((time.perf_counter() - started) * 1000)


def _post_pinned(url: str, address: str, body: str, headers: dict, timeout: float) -> int:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    options: dict = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if https:
        pool = urllib3.HTTPSConnectionPool(address, port, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                           server_hostname=host, assert_hostname=host, **options)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **options)
    shown_host = f"[{host}]" if ":" in host else host
    default_port = port == (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        # preload_content=False: the answer's body is never read, so a large or endless one cannot hold the worker.
        response = pool.urlopen("POST", path, body=body.encode("utf-8"), redirect=False, assert_same_host=False,
                                preload_content=False, release_conn=False,
                                headers={**headers, "Host": shown_host if default_port else f"{shown_host}:{port}"})
        status = response.status
        response.release_conn()
        return status
    finally:
        pool.close()


def make_try(store: NotifyStore, settings: WebhookSettings, fanout: FanoutSettings, delivery_id: str,
             attempt: int) -> str | None:
    """Make try ``attempt`` of a delivery and record it; returns its outcome, or None for a duplicate message."""
    now = utc_now()
    delivery = store.claim_try(delivery_id, attempt, now, timedelta(seconds=settings.timeout * 3 + 30))
    if delivery is None:
        return None
    try:
        webhook = store.webhook(delivery["webhook_id"])
    except NotFound:
        webhook = None
    if webhook is None or webhook["state"] != "active":
        store.record_try(delivery_id, attempt, {"number": attempt, "at": now, "outcome": "cancelled",
                                                "response_code": None, "duration_ms": 0,
                                                "error": "the webhook is no longer active"},
                         {"state": "cancelled", "finished_at": now})
        store.trim_deliveries(delivery["webhook_id"], DELIVERY_LOG_SIZE)
        return "cancelled"
    try:
        address = settings.target_addresses(webhook["url"])[0]
        stamp = int(time.time())
        headers = {"Content-Type": "application/cloudevents+json; charset=utf-8", "User-Agent": USER_AGENT,
                   DELIVERY_HEADER: delivery_id,
                   SIGNATURE_HEADER: sign(domain.signing_secrets(webhook["secrets"], now), delivery["body"], stamp)}
        code, error, duration = post(webhook["url"], address, delivery["body"], headers, settings.timeout)
    except RuleBroken:
        code, error, duration = None, "refused: the host is not a public address or cannot be found", 0
    outcome = domain.after_try(domain.is_success(code), attempt, settings.delays())
    record = domain.TrySummary(attempt, now, "delivered" if outcome.state == "delivered" else "failed", code,
                               duration, error).as_record()

    def write(tx: NotifyStore) -> None:
        changes: dict = {"state": "pending" if outcome.state == "retrying" else outcome.state,
                         "last_response_code": code, "last_error": error}
        if outcome.state == "retrying":
            changes["due_at"] = now + timedelta(seconds=outcome.retry_after) + settings.stuck_after
        else:
            changes["finished_at"] = now
        tx.record_try(delivery_id, attempt, record, changes)
        current = tx.webhook(webhook["id"])
        if outcome.state == "delivered":
            tx.update_webhook(current["id"], {"failing_since": None, "last_delivered_at": now})
            return
        failing_since = current.get("failing_since") or now
        if current.get("failing_since") is None:
            current = tx.update_webhook(current["id"], {"failing_since": now})
        if outcome.state == "dead":
            tx.record("webhook.failed", subject=current["id"], data={
                "webhook_id": current["id"], "delivery_id": delivery_id, "event_id": delivery["event_id"],
                "event_type": delivery["event_type"], "url": current["url"], "tries": attempt,
                "last_response_code": code, "last_error": error, "owner_id": current["owner_id"],
                "version": current["version"]})
        if domain.should_disable(failing_since, now, settings.disable_after):
            disabled = tx.update_webhook(current["id"], {"state": "disabled", "disabled_at": now})
            tx.record("webhook.disabled", subject=current["id"], data={
                "webhook_id": current["id"], "url": current["url"], "owner_id": current["owner_id"],
                "failing_since": isoformat(failing_since), "version": disabled["version"]})
            tx.cancel_deliveries(current["id"], "the webhook was switched off")
            deliver_notices(tx, f"webhook-disabled:{current['id']}:{disabled['version']}",
                            [domain.webhook_disabled_notice(current["owner_id"], current["url"])], fanout, now)

    store.transaction(write)
    if outcome.state == "retrying":
        try:
            settings.queues.send_after_delay(delivery_id, attempt)
        except Exception:  # the sweep sends it when due_at passes
            log.warning("could not queue try %s of delivery %s; the sweep will", attempt + 1, delivery_id, exc_info=True)
    else:
        store.trim_deliveries(webhook["id"], DELIVERY_LOG_SIZE)
    settings.queues.outcomes.labels({"delivered": "delivered", "retrying": "retried", "dead": "failed"}[outcome.state]).inc()
    return outcome.state


def sweep(store: NotifyStore, settings: WebhookSettings, now: datetime) -> int:
    """Send the next try of deliveries whose message was lost; returns how many were sent."""
    sent = 0
    for delivery in store.stuck_deliveries(now):
        if store.push_due(delivery["id"], delivery["tries_made"], now + settings.stuck_after):
            try:
                settings.queues.send_now(delivery["id"], delivery["tries_made"] + 1)
                sent += 1
            except Exception:
                log.warning("could not queue delivery %s; the next sweep tries again", delivery["id"], exc_info=True)
                break
    return sent


def delivery_view(delivery: dict) -> dict:
    """A delivery as its webhook's log shows it."""
    return {"id": delivery["id"], "event_id": delivery["event_id"], "event_type": delivery["event_type"],
            "state": delivery["state"], "tries": len(delivery.get("tries", [])),
            "response_code": delivery.get("last_response_code"), "error": delivery.get("last_error"),
            "round": delivery.get("round", 0), "created_at": isoformat(delivery["created_at"]),
            "finished_at": isoformat(delivery["finished_at"]) if delivery.get("finished_at") else None,
            "log": [{"try": t["number"], "at": isoformat(t["at"]), "outcome": t["outcome"],
                     "response_code": t["response_code"], "duration_ms": t["duration_ms"], "error": t.get("error")}
                    for t in delivery.get("tries", [])]}
