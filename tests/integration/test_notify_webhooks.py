"""Signed webhooks to a local HTTP receiver, with back-off through the kit's retry queues."""
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest
import requests

from deploy.local.broker import management_request
from services.common.events import utc_now
from services.common.webhooks import SignatureInvalid, parse_header, verify
from services.notify.webhook_delivery import DELIVERY_LOG_SIZE
from tests.integration.notify_world import World
from tests.support.bus import Subscriber
from tests.support.platform import free_port, wait_for

SHORT_BACK_OFF = "0.3,0.6,1.2"  # 4 tries in about 2 seconds instead of 8 over a day


class Receiver:
    """An HTTP endpoint answering scripted status codes (then 200) after ``pause`` seconds, keeping every request."""

    def __init__(self, answers=(), pause=0.0):
        self.answers = list(answers)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                status = receiver.answers.pop(0) if receiver.answers else 200
                time.sleep(pause)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/engage"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Trickler:
    """Accepts a connection, reads the request, then sends its status line one byte every 0.3 s, never finishing."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/engage"
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 200:
                if self.stopped.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    def close(self):
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def receiver():
    made = []

    def make(answers=(), pause=0.0):
        made.append(Receiver(answers, pause))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def world(platform):
    platform.overrides["notify"] = {"WEBHOOK_RETRY_DELAYS": SHORT_BACK_OFF, "WEBHOOK_SWEEP_SECONDS": 0.5,
                                    "MAIL_SEND_SECONDS": 0.2, "SMTP_URL": "smtp://127.0.0.1:9"}
    platform.start("members", "notify", "web")
    world = World(platform)
    for name in ("Rosa", "Tariq", "Ops"):
        world.member(name)
    return world


def gateway(platform, world, name="Ops"):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {world.tokens[name]}"
    base = platform.url("web")

    class Client:
        def post(self, path, **kw):
            return session.post(base + path, timeout=10, **kw)

        def get(self, path, **kw):
            return session.get(base + path, timeout=10, **kw)

    return Client()


def subscribe(platform, world, url, event_types=("comment.posted",)):
    created = gateway(platform, world).post("/api/v1/webhooks", json={"url": url, "event_types": list(event_types)})
    assert created.status_code == 201, created.text
    return created.json()


def deliveries(platform, world, webhook_id):
    return gateway(platform, world).get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["items"]


def test_a_delivery_is_signed_so_the_verifier_accepts_it_and_refuses_any_change(world, platform, receiver):
    hook = receiver()
    webhook = subscribe(platform, world, hook.url)
    assert webhook["secret"].startswith("whsec_")
    listed = gateway(platform, world).get(f"/api/v1/webhooks/{webhook['id']}").json()
    assert "secret" not in listed and "secrets" not in listed  # shown once only

    world.submit_idea("idea-1", "Rosa")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa")
    request = wait_for(lambda: hook.requests, message="the delivery")[0]
    header, body = request["headers"]["Engage-Signature"], request["body"]

    assert verify(webhook["secret"], header, body)
    envelope = json.loads(body)
    assert envelope["id"] == comment["id"] and envelope["type"] == "au.gov.engage.comment.posted.v1"
    assert envelope["specversion"] == "1.0" and envelope["data"]["comment_id"] == "c-1"
    assert request["headers"]["Engage-Delivery"]
    assert request["headers"]["Content-Type"].startswith("application/cloudevents+json")

    stamp, _ = parse_header(header)
    with pytest.raises(SignatureInvalid):
        verify(webhook["secret"], header.replace(f"t={stamp}", f"t={stamp - 1}"), body)
    with pytest.raises(SignatureInvalid):
        verify(webhook["secret"], header, body.replace(b"c-1", b"c-2"))
    with pytest.raises(SignatureInvalid):
        verify(webhook["secret"], header, body + b" ")
    with pytest.raises(SignatureInvalid):
        verify(webhook["secret"], header, body, now=stamp + 301)  # older than 300 seconds


def test_a_receiver_answering_500_twice_then_200_is_delivered_on_try_three_all_logged(world, platform, receiver,
                                                                                      infrastructure):
    hook = receiver([500, 500], pause=0.05)
    webhook = subscribe(platform, world, hook.url)
    world.submit_idea("idea-1", "Rosa")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa")

    delivered = wait_for(lambda: [d for d in deliveries(platform, world, webhook["id"]) if d["state"] == "delivered"],
                         timeout=15, message="the delivery on try 3")[0]
    assert delivered["event_id"] == comment["id"] and delivered["tries"] == 3
    assert [t["response_code"] for t in delivered["log"]] == [500, 500, 200]
    assert [t["outcome"] for t in delivered["log"]] == ["failed", "failed", "delivered"]
    # Each try is timed from the POST to the answer: at least the receiver's pause, within the 10 s deadline.
    assert all(50 <= t["duration_ms"] < 10_000 and t["at"] for t in delivered["log"]), delivered["log"]
    assert len(hook.requests) == 3
    assert {r["headers"]["Engage-Delivery"] for r in hook.requests} == {delivered["id"]}  # one stable id
    gaps = [b["at"] - a["at"] for a, b in zip(hook.requests, hook.requests[1:])]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5  # the delay queues held them back

    metrics = requests.get(f"{platform.url('notify')}/metrics", timeout=10).text
    assert 'engage_notify_webhook_deliveries_total{outcome="retried"} 2.0' in metrics
    assert 'engage_notify_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics
    # The waits were the kit's retry queues: the n-th delay as TTL, dead-lettering back through notify.requeue.
    vhost = quote(urlsplit(platform.amqp_uri).path.lstrip("/"), safe="")
    for step, delay_ms in ((1, 300), (2, 600)):
        queue = management_request(infrastructure[1], "GET", f"/api/queues/{vhost}/notify.deliver_webhook.retry.{step}")
        assert queue["arguments"] == {"x-message-ttl": delay_ms, "x-dead-letter-exchange": "notify.requeue"}

    again = gateway(platform, world).post(f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivered['id']}/redeliver")
    assert again.status_code == 202
    wait_for(lambda: len(hook.requests) == 4, message="the manual redelivery")
    assert json.loads(hook.requests[3]["body"])["id"] == comment["id"]
    assert hook.requests[3]["headers"]["Engage-Delivery"] == again.json()["id"] != delivered["id"]


def test_a_receiver_down_for_good_ends_in_webhook_failed_and_a_long_failing_subscription_is_switched_off(
        world, platform, receiver):
    platform.stop_service("notify")
    # Tries at about 0, 0.3, 0.9 and 2.1 s: failing for 1.5 s is first reached on the last one.
    platform.start("notify", WEBHOOK_DISABLE_AFTER_SECONDS=1.5)
    failed_events = Subscriber(platform.amqp_uri, "notify.events", "webhook.failed", "webhook.disabled")
    down = f"http://127.0.0.1:{free_port()}/hooks/engage"  # nothing listens here
    webhook = subscribe(platform, world, down)
    world.submit_idea("idea-1", "Rosa")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa")

    failed, _ = failed_events.next(timeout=20)
    assert failed["type"] == "au.gov.engage.webhook.failed.v1"
    assert failed["data"]["webhook_id"] == webhook["id"] and failed["data"]["event_id"] == comment["id"]
    assert failed["data"]["tries"] == 4 and failed["data"]["owner_id"] == world.ids["Ops"]
    disabled, _ = failed_events.next(timeout=10)
    failed_events.close()
    assert disabled["type"] == "au.gov.engage.webhook.disabled.v1"

    dead = deliveries(platform, world, webhook["id"])[0]
    assert dead["state"] == "dead" and dead["tries"] == 4 and dead["response_code"] is None
    assert all(t["outcome"] == "failed" and t["error"] for t in dead["log"])
    assert gateway(platform, world).get(f"/api/v1/webhooks/{webhook['id']}").json()["state"] == "disabled"
    with world.rpc("Ops") as rpc:
        told = wait_for(lambda: rpc.notify.list_notifications()["items"], message="the owner to be told")
    assert told[0]["kind"] == "webhooks" and "switched off" in told[0]["title"]
    metrics = requests.get(f"{platform.url('notify')}/metrics", timeout=10).text
    assert 'engage_notify_webhook_deliveries_total{outcome="failed"} 1.0' in metrics


def test_a_receiver_that_trickles_its_answer_costs_one_deadline_per_try(world, platform):
    platform.stop_service("notify")
    platform.start("notify", WEBHOOK_TIMEOUT_SECONDS=1)
    trickler = Trickler()
    try:
        webhook = subscribe(platform, world, trickler.url)
        world.submit_idea("idea-1", "Rosa")
        world.comment("idea-1", "Tariq", idea_author="Rosa")
        logged = wait_for(lambda: [d for d in deliveries(platform, world, webhook["id"]) if d["log"]], timeout=15,
                          message="the first try in the log")[0]["log"][0]
    finally:
        trickler.close()
    print(f"try ended after {logged['duration_ms']} ms: {logged['error']}")
    # A byte every 0.3 s never trips a per-read timeout of 1 s; the deadline for the whole call does.
    assert logged["outcome"] == "failed" and logged["error"] == "no answer within 1 s"
    assert 900 <= logged["duration_ms"] < 2500


def test_a_webhook_log_keeps_its_newest_deliveries_and_every_pending_one(world, platform, receiver):
    hook = receiver()
    webhook = subscribe(platform, world, hook.url)
    now, never = utc_now(), datetime(2999, 1, 1, tzinfo=timezone.utc)
    older = DELIVERY_LOG_SIZE + 20

    def delivery(key: str, state: str, minutes_ago: int) -> dict:
        return {"_id": key, "webhook_id": webhook["id"], "owner_id": world.ids["Ops"], "event_id": key,
                "event_type": "comment.posted", "round": 0, "body": "{}", "url": hook.url, "state": state,
                "tries_made": 1, "tries": [], "due_at": never, "lease_until": never,
                "created_at": now - timedelta(minutes=minutes_ago), "finished_at": None}

    log = platform.db("notify").webhook_deliveries
    log.insert_many([delivery(f"old-{n:03d}", "delivered", older - n) for n in range(older)]
                    + [delivery("still-pending", "pending", older + 10)])
    world.submit_idea("idea-1", "Rosa")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa")
    wait_for(lambda: log.find_one({"event_id": comment["id"], "state": "delivered"}), message="the new delivery")
    wait_for(lambda: log.count_documents({"webhook_id": webhook["id"]}) <= DELIVERY_LOG_SIZE + 1, timeout=5,
             message="the log to be trimmed once the delivery finished")
    kept = {row["_id"] for row in log.find({"webhook_id": webhook["id"]}, {"_id": 1})}
    print(f"log size {DELIVERY_LOG_SIZE}: {older + 2} deliveries, {len(kept)} kept")
    assert "still-pending" in kept
    assert {f"old-{n:03d}" for n in range(older - DELIVERY_LOG_SIZE + 1, older)} < kept
    assert not kept & {f"old-{n:03d}" for n in range(older - DELIVERY_LOG_SIZE + 1)}
    assert len(kept - {"still-pending"}) == DELIVERY_LOG_SIZE


def test_a_rotated_secret_overlaps_with_the_old_one_so_both_signatures_are_sent(world, platform, receiver):
    hook = receiver()
    webhook = subscribe(platform, world, hook.url)
    rotated = gateway(platform, world).post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret",
                                            json={"overlap_seconds": 3600})
    assert rotated.status_code == 200 and rotated.json()["secret"] != webhook["secret"]
    world.submit_idea("idea-1", "Rosa")
    world.comment("idea-1", "Tariq", idea_author="Rosa")
    request = wait_for(lambda: hook.requests, message="the delivery")[0]
    header = request["headers"]["Engage-Signature"]
    assert header.count("v1=") == 2
    assert verify(rotated.json()["secret"], header, request["body"])
    assert verify(webhook["secret"], header, request["body"])


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.org/hook", "event_types": ["comment.posted"]}, "url"),
    ({"url": "javascript:alert(1)", "event_types": ["comment.posted"]}, "url"),
    ({"url": "https://example.org/hook", "event_types": ["idea.exploded"]}, "event_types"),
    ({"url": "https://example.org/hook", "event_types": []}, "event_types"),
    ({"url": "https://example.org/hook"}, "event_types"),
])
def test_bad_webhook_input_is_refused_with_422_naming_the_field(world, platform, body, field):
    answer = gateway(platform, world).post("/api/v1/webhooks", json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["fields"]


def test_private_targets_are_refused_unless_the_operator_allows_them(platform):
    platform.start("members", "notify", "web", ALLOW_PRIVATE_WEBHOOK_TARGETS=False)
    world = World(platform)
    world.member("Ops")
    for url in ("http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://10.0.0.8/hook",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/hook"):
        answer = gateway(platform, world).post("/api/v1/webhooks", json={"url": url, "event_types": ["idea.submitted"]})
        assert answer.status_code == 422, url
        assert list(answer.json()["error"]["fields"]) == ["url"]
