"""Every service's /metrics counts exactly the work done: scrape, do a known amount of work, scrape again.

The work: three members register and log in; a member who earlier
subscribed a webhook to ``idea.rated`` submits an idea; the three rate it and
one changes their mind (four ratings, three raters, each following the idea
from their first rating); one rating is refused (stars out of range). The
webhook answers 500 to its first delivery and 200 afterwards.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services import cli
from tests.integration.ideas_support import start_world
from tests.support.platform import free_port
from tests.support.platform import wait_for
from tests.support.shared_platform import shared_platform

SERVICES = ("members", "ideas", "notify", "archive", "web")
RATERS = ("Rita Rater", "Sam Scorer", "Tess Tester")


class Scrape(dict):
    """``{(sample name, frozenset(labels)): value}`` from one service's exposition."""

    def value(self, name: str, **labels) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)


def scrape(platform, service: str) -> Scrape:
    answer = requests.get(f"{platform.url(service)}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    found = Scrape()
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


class FlakyReceiver:
    """A webhook endpoint that answers 500 to the first delivery and 200 to the rest."""

    def __init__(self):
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 500 if not receiver.statuses else 200
                receiver.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def measured(infrastructure):
    """(before, after) scrapes of every service around the known work, once everything has settled."""
    with shared_platform(infrastructure) as platform:
        platform.overrides["notify"] = {"WEBHOOK_RETRY_DELAYS": "0.3,0.6", "WEBHOOK_SWEEP_SECONDS": 0.5,
                                        "MAIL_SEND_SECONDS": 0.2, "SMTP_URL": "smtp://127.0.0.1:9"}
        world = start_world(platform)
        platform.start("notify", "archive")
        receiver = FlakyReceiver()
        try:
            owner = world.member("Webhook Owner")
            hook = world.call("POST", "/api/v1/webhooks", owner, json={"url": receiver.url, "event_types": ["idea.rated"]})
            assert hook.status_code == 201, hook.text
            settle(platform)
            before = {service: scrape(platform, service) for service in SERVICES}

            tokens = [world.member(name) for name in RATERS]  # registers and logs in each
            idea = world.submit(owner)  # an author may not rate their own idea
            for token, stars in zip(tokens, (5, 3, 4)):
                assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", token, json={"stars": stars}).ok
            assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tokens[1], json={"stars": 2}).ok
            refused = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tokens[2], json={"stars": 9})
            assert refused.status_code == 422

            wait_for(lambda: len(receiver.statuses) == 5, timeout=15, message="four deliveries and one retry")
            settle(platform)
            after = {service: scrape(platform, service) for service in SERVICES}
            yield before, after, platform
        finally:
            receiver.close()


def settle(platform, quiet: float = 0.5) -> None:
    """Wait until no outbox holds a pending row and every event queue is empty, then a little longer."""
    import pika

    def queues_empty() -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(platform.amqp_uri))
        try:
            channel = connection.channel()
            for name in ("ideas.keep_member_names", "notify.on_members_event", "notify.on_ideas_event",
                         "archive.on_idea_event"):
                declared = channel.queue_declare(name, passive=True).method
                if declared.message_count:
                    return False
            return True
        finally:
            connection.close()

    def outboxes_empty() -> bool:
        return all(platform.db(s).outbox.count_documents({"state": "pending"}) == 0 for s in ("members", "ideas"))

    wait_for(lambda: outboxes_empty() and queues_empty(), timeout=15, message="the platform to settle")
    time.sleep(quiet)
    wait_for(lambda: outboxes_empty() and queues_empty(), timeout=15, message="the platform to settle")


def moved(measured, service: str, name: str, **labels) -> float:
    before, after, _ = measured
    return after[service].value(name, **labels) - before[service].value(name, **labels)


CALLS = "_entrypoint_calls_total"
DURATIONS = "_entrypoint_duration_seconds_count"
PUBLISHED = "_events_published_total"
CONSUMED = "_events_consumed_total"


@pytest.mark.parametrize("entrypoint, calls, refused", [
    ("api_register", 3, 0), ("api_token", 3, 0), ("api_submit_idea", 1, 0), ("api_rate", 5, 1),
])
def test_the_gateway_counts_each_api_call_and_times_it_with_a_refusal_as_refused(measured, entrypoint, calls, refused):
    assert moved(measured, "web", f"engage_web{CALLS}", entrypoint=entrypoint, outcome="success") == calls - refused
    assert moved(measured, "web", f"engage_web{CALLS}", entrypoint=entrypoint, outcome="refused") == refused
    assert moved(measured, "web", f"engage_web{CALLS}", entrypoint=entrypoint, outcome="error") == 0
    assert moved(measured, "web", f"engage_web{DURATIONS}", entrypoint=entrypoint) == calls


def test_every_service_exports_its_process_figures(measured):
    _, after, _ = measured
    for service in SERVICES:
        assert after[service].value("process_resident_memory_bytes") > 0
        assert after[service].value("process_open_fds") > 0
        assert after[service].value("process_cpu_seconds_total") > 0


def test_the_scrape_itself_is_not_counted(measured):
    assert moved(measured, "web", f"engage_web{CALLS}", entrypoint="metrics_endpoint", outcome="success") == 0


@pytest.mark.parametrize("service, entrypoint, calls", [
    ("members", "register", 3), ("members", "log_in", 3), ("ideas", "submit_idea", 1), ("ideas", "rate", 5),
])
def test_services_count_their_rpc_calls_and_none_is_an_error(measured, service, entrypoint, calls):
    answered = sum(moved(measured, service, f"engage_{service}{CALLS}", entrypoint=entrypoint, outcome=outcome)
                   for outcome in ("success", "refused"))
    assert answered == calls
    assert moved(measured, service, f"engage_{service}{CALLS}", entrypoint=entrypoint, outcome="error") == 0
    assert moved(measured, service, f"engage_{service}{DURATIONS}", entrypoint=entrypoint) == calls


@pytest.mark.parametrize("service, event_type, count", [
    ("members", "member.registered", 3), ("ideas", "idea.submitted", 1), ("ideas", "idea.rated", 4),
    ("ideas", "idea.followed", 1),  # the author; each rater's follow is told by their idea.rated
])
def test_publishers_count_each_event_they_publish(measured, service, event_type, count):
    assert moved(measured, service, f"engage_{service}{PUBLISHED}", type=event_type) == count


@pytest.mark.parametrize("service, event_type, count", [
    ("ideas", "member.registered", 3), ("notify", "member.registered", 3), ("notify", "idea.submitted", 1),
    ("notify", "idea.rated", 4), ("archive", "idea.submitted", 1),
    ("archive", "idea.rated", 0),  # the archive takes ratings from the state change that concludes an idea
])
def test_consumers_count_each_event_they_process_and_nothing_else(measured, service, event_type, count):
    name = f"engage_{service}{CONSUMED}"
    assert moved(measured, service, name, type=event_type, outcome="processed") == count
    for outcome in ("deduplicated", "retried", "dead_lettered"):
        assert moved(measured, service, name, type=event_type, outcome=outcome) == 0


def test_domain_gauges_moved_by_the_work(measured):
    assert moved(measured, "members", "engage_members_members") == 3
    assert moved(measured, "members", "engage_members_agencies") == 0
    assert moved(measured, "ideas", "engage_ideas_ratings") == 3  # four ratings, one replaced
    assert moved(measured, "ideas", "engage_ideas_ideas", state="open") == 1
    assert moved(measured, "archive", "engage_archive_items", kind="idea") == 0  # only concluded ideas are archived


def test_outboxes_are_empty_and_nothing_is_dead_lettered_after_the_work(measured):
    _, after, _ = measured
    for service in ("members", "ideas", "notify", "archive"):
        assert after[service].value(f"engage_{service}_outbox_backlog") == 0
        assert after[service].value(f"engage_{service}_outbox_oldest_unsent_age_seconds") == 0
    for service in ("ideas", "notify", "archive"):
        assert after[service].value(f"engage_{service}_dead_letters") == 0


def test_webhook_deliveries_are_counted_by_outcome(measured):
    assert moved(measured, "notify", "engage_notify_webhook_deliveries_total", outcome="delivered") == 4
    assert moved(measured, "notify", "engage_notify_webhook_deliveries_total", outcome="retried") == 1
    assert moved(measured, "notify", "engage_notify_webhook_deliveries_total", outcome="failed") == 0


def test_every_service_names_its_metrics_engage_service(measured):
    _, after, _ = measured
    for service, found in after.items():
        names = {name for name, _ in found if not name.startswith("process_")}  # the process's own, by convention
        assert names and all(name.startswith(f"engage_{service}_") for name in names), service


def operator_env(monkeypatch, platform) -> None:
    """Point ``engage`` at this module's services, broker and databases, as an operator's environment would."""
    monkeypatch.setenv("AMQP_URI", platform.amqp_uri)
    monkeypatch.setenv("MONGO_URI", platform.mongo_uri)
    for service in SERVICES:
        monkeypatch.setenv(f"{service.upper()}_PORT", str(platform.ports[service]))
        monkeypatch.setenv(f"{service.upper()}_DATABASE", platform.database_name(service))


def test_engage_status_json_reports_every_service_up_ready_with_queues_outbox_and_dead_letters(
        measured, monkeypatch, capsys):
    platform = measured[2]
    operator_env(monkeypatch, platform)
    assert cli.main(["status", "--json"]) == 0
    statuses = {status["service"]: status for status in json.loads(capsys.readouterr().out)}
    assert set(statuses) == set(SERVICES)
    for service, status in statuses.items():
        assert status["up"] and status["ready"] and status["problems"] == [], service
        assert status["port"] == platform.ports[service] and status["version"]
        queues = {queue["queue"]: queue for queue in status["queues"]}
        assert queues[f"rpc-{service}"]["consumers"] == 1, service  # the gateway too serves RPC: dead_letters
        if service != "web":
            assert status["outbox_backlog"] == 0 and status["dead_letters"] == 0
    notify_queues = {queue["queue"]: queue for queue in statuses["notify"]["queues"]}
    assert notify_queues["notify.on_ideas_event"] == {"queue": "notify.on_ideas_event", "messages": 0, "consumers": 1}


def test_engage_status_says_which_service_is_down_and_exits_non_zero(measured, monkeypatch, capsys):
    operator_env(monkeypatch, measured[2])
    monkeypatch.setenv("ARCHIVE_PORT", str(free_port()))  # nothing answers there
    assert cli.main(["status", "--json"]) == 1
    archive = next(s for s in json.loads(capsys.readouterr().out) if s["service"] == "archive")
    assert (archive["up"], archive["ready"], archive["problems"]) == (False, False, ["not answering on its port"])
    assert cli.main(["status"]) == 1
    text = capsys.readouterr().out
    assert "archive" in text and "down" in text and "members" in text and "ready" in text
