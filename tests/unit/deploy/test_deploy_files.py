"""The deployment files agree with each other and with the services' contract.

Checked without a network or a Docker engine: the compose file, the shared
Dockerfile and its per-service targets, the RabbitMQ definitions (users and
what their permissions allow), the Prometheus configuration and alert rules,
and the Grafana provisioning and dashboard. When ``promtool`` or
``docker-compose`` is installed, the files are also run through them.
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.compose import interpolate

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DEFINITIONS_FILE = DEPLOY / "rabbitmq" / "definitions.json"
RABBITMQ_CONF = DEPLOY / "rabbitmq" / "rabbitmq.conf"
ENABLED_PLUGINS = DEPLOY / "rabbitmq" / "enabled_plugins"
PROMETHEUS_FILE = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS_FILE = DEPLOY / "prometheus" / "alerts.yml"
GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "engagement-network.json"

PORTS = {"web": 8000, "members": 8001, "ideas": 8002, "notify": 8003, "archive": 8004}
SERVICES = tuple(PORTS)
PUBLISHERS = ("members", "ideas", "notify", "archive")
COMMON_ENVIRONMENT = ("AMQP_URI", "ENGAGE_ENV", "ENGAGE_AGENCY", "LOG_FORMAT", "MEMBERS_JWKS_URL")
EXTRA_ENVIRONMENT = {
    "members": ("MONGO_URI", "PUBLIC_BASE_URL"),
    "ideas": ("MONGO_URI",),
    "archive": ("MONGO_URI",),
    "notify": ("MONGO_URI", "SMTP_URL", "ALLOW_PRIVATE_WEBHOOK_TARGETS", "PUBLIC_BASE_URL"),
    "web": ("SECRET_KEY", "PUBLIC_BASE_URL"),
}
# Read by the code straight from the process environment rather than through config.yml.
PROCESS_ENVIRONMENT = frozenset({"LOG_FORMAT", "ENGAGE_SERVICE", "ALLOW_PRIVATE_WEBHOOK_TARGETS"})
INFRASTRUCTURE = ("rabbitmq", "mongo", "mailpit", "prometheus", "grafana")

# Metric names the services export (services/common/metrics.py and the domain gauges).
PER_SERVICE_METRICS = (
    "entrypoint_calls_total", "entrypoint_duration_seconds_bucket", "entrypoint_duration_seconds_sum",
    "entrypoint_duration_seconds_count", "events_published_total", "events_consumed_total",
    "outbox_backlog", "outbox_oldest_unsent_age_seconds", "dead_letters", "request_duration_seconds_bucket",
)
ENGAGE_METRICS = frozenset(
    {f"engage_{service}_{name}" for service in SERVICES for name in PER_SERVICE_METRICS}
    | {"engage_notify_webhook_deliveries_total", "process_cpu_seconds_total", "process_resident_memory_bytes",
       "process_open_fds", "process_max_fds",
       "engage_members_members", "engage_members_agencies", "engage_ideas_ideas", "engage_ideas_ratings",
       "engage_archive_items", "engage_notify_unread_notifications"}
)
# rabbitmq_prometheus (3.13): /metrics totals and the /metrics/detailed queue families.
RABBITMQ_METRICS = frozenset({
    "rabbitmq_detailed_queue_messages", "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked", "rabbitmq_detailed_queue_consumers",
    "rabbitmq_global_messages_received_total", "rabbitmq_global_messages_routed_total",
    "rabbitmq_global_messages_delivered_total", "rabbitmq_global_messages_acknowledged_total",
    "rabbitmq_global_messages_unroutable_dropped_total", "rabbitmq_connections", "rabbitmq_channels",
})
PROMETHEUS_METRICS = frozenset({"up", "ALERTS"})
OUTCOMES = frozenset({"success", "refused", "error", "processed", "deduplicated", "retried", "dead_lettered", "stale",
                      "delivered", "failed"})


# --- reading the files ---------------------------------------------------------------------------


def load_yaml(path: Path):
    with path.open() as handle:
        return yaml.safe_load(handle)


def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


def compose_service(name: str) -> dict:
    return compose()["services"][name]


def compose_environment(service: str) -> dict[str, str]:
    """The environment compose gives ``service`` when no variable is set on the host."""
    environment = compose_service(service).get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: interpolate(value) for key, value in environment.items()}


def published_ports(service: str) -> set[str]:
    return {str(port) for port in compose_service(service).get("ports", [])}


def dockerfile_stages() -> dict[str, list[str]]:
    """Instructions of each named stage of the shared Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)$", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1), [line])
        elif current is not None:
            current.append(line)
    return stages


def definitions() -> dict:
    return json.loads(DEFINITIONS_FILE.read_text())


def service_config_settings(service: str) -> set[str] | None:
    """Environment variables named in ``services/<service>/config.yml`` (``${NAME:default}``).

    None while the service has no config.yml yet. This is the one place the
    deployment tests read service configuration; extend the checks that use
    it rather than parsing config files elsewhere.
    """
    path = ROOT / "services" / service / "config.yml"
    if not path.exists():
        return None
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::[^}]*)?\}", path.read_text()))


# --- RabbitMQ permissions, as the broker applies them ---------------------------------------------


def permission_patterns(user: str) -> dict[str, str]:
    (entry,) = [p for p in definitions()["permissions"] if p["user"] == user and p["vhost"] == "/"]
    return entry


def permitted(user: str, permission: str, resource: str) -> bool:
    """RabbitMQ's decision: the user's regex is *searched* in the resource name.

    The broker does not anchor the patterns itself; the default exchange is
    checked under the name ``amq.default``.
    """
    resource = resource or "amq.default"
    return re.search(permission_patterns(user)[permission], resource) is not None


def can_declare(user: str, name: str) -> bool:
    """exchange.declare / queue.declare (also delete): configure."""
    return permitted(user, "configure", name)


def can_publish(user: str, exchange: str) -> bool:
    return permitted(user, "write", exchange)


def can_bind(user: str, queue: str, exchange: str) -> bool:
    """queue.bind: write on the queue, read on the exchange."""
    return permitted(user, "write", queue) and permitted(user, "read", exchange)


def can_consume(user: str, queue: str) -> bool:
    return permitted(user, "read", queue)


def can_declare_with_dead_letter_exchange(user: str, queue: str, exchange: str) -> bool:
    """A new queue with x-dead-letter-exchange: configure and read on it, write on the exchange."""
    return can_declare(user, queue) and permitted(user, "read", queue) and permitted(user, "write", exchange)


def rabbitmq_password_matches(password_hash: str, password: str) -> bool:
    """rabbit_password_hashing_sha256: base64(salt(4) + sha256(salt + password))."""
    raw = base64.b64decode(password_hash)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode()).digest() == digest


# --- PromQL ----------------------------------------------------------------------------------------


def alert_rules() -> list[dict]:
    return [rule for group in load_yaml(ALERTS_FILE)["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_panels() -> list[dict]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def metric_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, ``__name__`` regexes) an expression selects."""
    regexes = set(re.findall(r'__name__\s*=~\s*"([^"]*)"', expr))
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string literals: label values, regexes
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # drop range selectors
    identifiers = set(re.findall(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[)\s,]|$)", bare))
    names = {name for name in identifiers
             if name.startswith(("engage_", "rabbitmq_", "process_")) or name in PROMETHEUS_METRICS}
    return names, {regex.encode().decode("unicode_escape") for regex in regexes}


KNOWN_METRICS = ENGAGE_METRICS | RABBITMQ_METRICS | PROMETHEUS_METRICS


def assert_only_known_metrics(expressions: list[str]) -> None:
    for expr in expressions:
        names, regexes = metric_names(expr)
        assert names <= KNOWN_METRICS, f"{expr!r} uses unknown metrics {sorted(names - KNOWN_METRICS)}"
        for regex in regexes:
            matched = {name for name in KNOWN_METRICS if re.fullmatch(regex, name)}
            assert matched, f"{expr!r}: __name__ regex {regex!r} matches no exported metric"
        assert names or regexes, f"{expr!r} selects no metric"


# --- docker-compose --------------------------------------------------------------------------------


def test_compose_runs_the_broker_the_storage_every_service_and_the_monitoring():
    services = set(compose()["services"])
    assert set(SERVICES) | set(INFRASTRUCTURE) <= services


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_publishes_its_own_port(service):
    port = PORTS[service]
    assert published_ports(service) == {f"{port}:{port}"}
    assert compose_environment(service)[f"{service.upper()}_PORT"] == str(port)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_the_environment_the_services_read(service):
    environment = compose_environment(service)
    for name in COMMON_ENVIRONMENT + EXTRA_ENVIRONMENT.get(service, ()):
        assert environment.get(name), f"{service} has no {name}"
    assert environment["ENGAGE_AGENCY"] == "demo"
    assert environment["MEMBERS_JWKS_URL"] == "http://members:8001/.well-known/jwks.json"
    if service == "web":
        assert "MONGO_URI" not in environment, "the gateway keeps no database"
    else:
        assert "replicaSet=rs0" in environment["MONGO_URI"]
        assert urlsplit(environment["MONGO_URI"]).hostname == "mongo"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_to_the_broker_as_its_own_user(service):
    uri = urlsplit(compose_environment(service)["AMQP_URI"])
    assert (uri.scheme, uri.hostname, uri.port, uri.path) == ("amqp", "rabbitmq", 5672, "/")
    assert uri.username == service


def test_notify_sends_mail_to_the_catcher_and_refuses_private_webhook_targets():
    environment = compose_environment("notify")
    assert environment["SMTP_URL"] == "smtp://mailpit:1025"
    assert environment["ALLOW_PRIVATE_WEBHOOK_TARGETS"] == "false"
    assert "8025:8025" in published_ports("mailpit")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_after_a_healthy_broker_and_its_storage(service):
    depends_on = compose_service(service)["depends_on"]
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    if service != "web":
        assert depends_on["mongo"]["condition"] == "service_healthy"
    if service != "members":
        assert depends_on["members"]["condition"] == "service_healthy", "members serves the token keys"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_restarted_when_it_exits_and_checked_on_its_own_ready_endpoint(service):
    definition = compose_service(service)
    assert definition["restart"] in ("unless-stopped", "on-failure", "always")
    test = definition["healthcheck"]["test"]
    # python, not curl or wget: the image is python:3.11-slim with nothing else added.
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"'http://127.0.0.1:{PORTS[service]}/ready'" in test[3]
    assert definition["healthcheck"]["interval"] and definition["healthcheck"]["retries"]


@pytest.mark.parametrize("ready_status, healthy", [(200, True), (503, False)])
def test_the_compose_healthcheck_passes_only_while_ready_answers_200(ready_status, healthy):
    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(ready_status if self.path == "/ready" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _, python, flag, code = compose_service("ideas")["healthcheck"]["test"]
    try:
        result = subprocess.run([shutil.which(python) or "python3", flag,
                                 code.replace(":8002/", f":{server.server_address[1]}/")],
                                capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) == healthy, result.stderr


def test_mongo_runs_as_a_single_node_replica_set_that_initiates_itself():
    mongo = compose_service("mongo")
    assert mongo["image"].startswith("mongo:7")
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check and "'rs0'" in check and "mongo:27017" in check
    assert "isWritablePrimary" in check


def test_rabbitmq_loads_the_deploy_configuration_and_exposes_amqp_and_management():
    rabbitmq = compose_service("rabbitmq")
    assert rabbitmq["image"].startswith("rabbitmq:3.13-management")
    assert {"5672:5672", "15672:15672"} <= published_ports("rabbitmq")
    mounts = {interpolate(volume).split(":")[1]: interpolate(volume).split(":")[0] for volume in rabbitmq["volumes"]}
    assert mounts["/etc/rabbitmq/rabbitmq.conf"] == "./deploy/rabbitmq/rabbitmq.conf"
    assert mounts["/etc/rabbitmq/enabled_plugins"] == "./deploy/rabbitmq/enabled_plugins"
    assert mounts["/etc/rabbitmq/definitions.json"] == "./deploy/rabbitmq/definitions.json"
    conf = dict(line.split(" = ", 1) for line in RABBITMQ_CONF.read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    assert conf["definitions.import_backend"] == "local_filesystem"
    assert conf["definitions.local.path"] == "/etc/rabbitmq/definitions.json"
    assert conf["prometheus.tcp.port"] == "15692"
    plugins = ENABLED_PLUGINS.read_text().strip()
    assert plugins.startswith("[") and plugins.endswith("].")
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= {p.strip() for p in plugins[1:-2].split(",")}


def test_prometheus_and_grafana_are_provisioned_from_deploy():
    prometheus = compose_service("prometheus")
    assert "9090:9090" in published_ports("prometheus")
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prometheus["volumes"]
    assert "/etc/prometheus/alerts.yml" in load_yaml(PROMETHEUS_FILE)["rule_files"]
    grafana = compose_service("grafana")
    assert "3000:3000" in published_ports("grafana")
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COMPOSE_PROJECT_NAME": "engage"})
    assert result.returncode == 0, result.stderr


# --- the images ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_built_from_its_own_target_of_the_shared_dockerfile(service):
    build = compose_service(service)["build"]
    assert (ROOT / build.get("context", ".") / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["target"] == service
    stage = dockerfile_stages()[service]
    assert stage[0].split()[1] == "runtime"
    port = PORTS[service]
    assert f"ENV ENGAGE_SERVICE={service} {service.upper()}_PORT={port}" in stage
    assert f"EXPOSE {port}" in stage


def test_the_shared_image_installs_the_package_without_embedded_storage_and_runs_as_non_root():
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    installs = [line for line in dockerfile_stages()["build"] if "pip install" in line]
    assert any("['project']['dependencies']" in line for line in installs)
    assert any("--no-deps ." in line for line in installs)
    assert not any("embedded" in line or "secantusdb" in line for line in installs)
    runtime = dockerfile_stages()["runtime"]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") and "engage-healthcheck" in line for line in runtime)
    (command,) = [line for line in runtime if line.startswith("CMD ")]
    assert 'nameko run --config \\"services/${ENGAGE_SERVICE' in command
    assert '\\"services.${ENGAGE_SERVICE}.service\\"' in command
    assert any(line.startswith("WORKDIR /app") for line in runtime)


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".env", ".venv", ".data"} <= set(ignored)


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("engage_healthcheck", DEPLOY / "docker" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_asks_the_service_in_the_image_on_its_port():
    healthcheck = load_healthcheck()
    assert healthcheck.health_url({"ENGAGE_SERVICE": "ideas"}) == "http://127.0.0.1:8002/health"
    assert healthcheck.health_url({"ENGAGE_SERVICE": "web", "WEB_PORT": "9000"}) == "http://127.0.0.1:9000/health"
    with pytest.raises(SystemExit):
        healthcheck.health_url({})


def test_healthcheck_passes_only_while_health_answers_200(monkeypatch):
    healthcheck = load_healthcheck()

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ENGAGE_SERVICE", "notify")
    monkeypatch.setenv("NOTIFY_PORT", str(port))
    try:
        assert healthcheck.main() == 0
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main() == 1


# --- RabbitMQ definitions --------------------------------------------------------------------------


def test_definitions_have_a_user_per_service_and_an_operator():
    users = {user["name"]: user for user in definitions()["users"]}
    assert set(users) == set(SERVICES) | {"operator"}
    assert users["operator"]["tags"] == ["administrator"]
    for service in SERVICES:
        assert users[service]["tags"] == [], f"{service} must not be able to use the management API"
    assert definitions()["vhosts"] == [{"name": "/"}]


def test_every_permission_pattern_is_anchored():
    # RabbitMQ searches the pattern anywhere in the name; only ^…$ makes it mean what it says.
    for entry in definitions()["permissions"]:
        for permission in ("configure", "write", "read"):
            pattern = entry[permission]
            if pattern == ".*":
                continue
            assert pattern.startswith("^") and pattern.endswith("$"), (entry["user"], permission)
            re.compile(pattern)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_passwords_are_the_ones_whose_hashes_the_definitions_hold(service):
    uri = urlsplit(compose_environment(service)["AMQP_URI"])
    (user,) = [u for u in definitions()["users"] if u["name"] == uri.username]
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert rabbitmq_password_matches(user["password_hash"], uri.password)


def test_definitions_declare_the_shared_exchanges_as_the_services_declare_them():
    exchanges = {exchange["name"]: exchange for exchange in definitions()["exchanges"]}
    for name in [f"{publisher}.events" for publisher in PUBLISHERS] + ["nameko-rpc"]:
        exchange = exchanges[name]
        assert (exchange["vhost"], exchange["type"], exchange["durable"], exchange["auto_delete"],
                exchange["internal"], exchange["arguments"]) == ("/", "topic", True, False, False, {})


def test_members_publishes_only_to_its_own_exchange_and_reads_the_others():
    assert can_publish("members", "members.events")
    assert not can_publish("members", "ideas.events")
    assert permitted("members", "read", "ideas.events")
    assert can_publish("members", "nameko-rpc")
    assert permitted("members", "write", "rpc-members")
    assert not permitted("members", "write", "rpc-ideas")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_can_do_what_its_parts_do(service):
    consumer_queue = f"{service}.on_event"
    # Publishing its events (the outbox relay declares its exchange on connect).
    if service in PUBLISHERS:
        assert can_declare(service, f"{service}.events")
        assert can_publish(service, f"{service}.events")
    # The reliable consumer: its queue, bound to every publisher's exchange.
    assert can_declare(service, consumer_queue)
    for publisher in PUBLISHERS:
        assert can_bind(service, consumer_queue, f"{publisher}.events")
    assert can_consume(service, consumer_queue)
    # Retries: retry queues dead-letter into the service's requeue exchange, bound to its queues.
    assert can_declare(service, f"{service}.requeue")
    assert can_bind(service, consumer_queue, f"{service}.requeue")
    assert can_declare_with_dead_letter_exchange(service, f"{service}.retry.3", f"{service}.requeue")
    assert can_publish(service, f"{service}.retry")
    # nameko RPC, serving and calling.
    assert can_declare(service, "nameko-rpc")
    assert can_declare(service, f"rpc-{service}")
    assert can_bind(service, f"rpc-{service}", "nameko-rpc")
    assert can_consume(service, f"rpc-{service}")
    reply_queue = f"rpc.reply-{service}-0c4f9a6e-1f0b-4a8e-9a43-2f1d5b7c9e10"
    assert can_declare(service, reply_queue)
    assert can_bind(service, reply_queue, "nameko-rpc")
    assert can_consume(service, reply_queue)
    assert can_publish(service, "nameko-rpc")
    # nameko.standalone.rpc proxies name their reply queues after "standalone_rpc_proxy".
    standalone_reply_queue = "rpc.reply-standalone_rpc_proxy-5d0e7c1a-8b2f-4e3a-9c6d-7f1b2a3c4d5e"
    assert can_declare(service, standalone_reply_queue)
    assert can_bind(service, standalone_reply_queue, "nameko-rpc")
    assert can_consume(service, standalone_reply_queue)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_cannot_touch_what_other_services_own(service):
    for other in SERVICES:
        if other == service:
            continue
        if other in PUBLISHERS:
            assert not can_publish(service, f"{other}.events"), f"{service} could forge {other} events"
            assert not can_declare(service, f"{other}.events"), f"{service} could delete {other}.events"
        assert not can_consume(service, f"{other}.on_event")
        assert not can_bind(service, f"{other}.on_event", f"{service}.events")
        assert not can_declare(service, f"{other}.on_event")
        assert not can_consume(service, f"rpc-{other}"), f"{service} could take {other}'s RPC requests"
        assert not can_consume(service, f"rpc.reply-{other}-0c4f9a6e"), f"{service} could take {other}'s replies"
        assert not can_publish(service, f"{other}.requeue")
    # The default exchange routes to any queue by name, so writing to it would reach every queue.
    assert not can_publish(service, "")
    assert not can_publish(service, "amq.topic")


def test_web_publishes_no_events_that_anyone_reads():
    for publisher in PUBLISHERS:
        assert not can_publish("web", f"{publisher}.events")
    for service in PUBLISHERS:
        assert not permitted(service, "read", "web.events")


def test_outside_subscriber_queues_are_bounded_by_a_policy():
    (policy,) = [p for p in definitions()["policies"] if p["name"] == "subscriber-queues-bounded"]
    assert policy["apply-to"] == "queues" and policy["definition"]["max-length"] > 0
    assert re.match(policy["pattern"], "subscriber.acme.ratings") and re.match(policy["pattern"], "amq.gen-x1")
    assert not re.match(policy["pattern"], "notify.on_ideas_event")


def test_the_operator_may_do_everything():
    for resource in ("members.events", "ideas.on_event", "rpc-notify", "", "archive.retry.1"):
        for permission in ("configure", "write", "read"):
            assert permitted("operator", permission, resource)


# --- Prometheus ------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service_and_the_broker():
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_FILE)["scrape_configs"]}
    targets = {(target, config.get("labels", {}).get("service"))
               for config in jobs["engage"]["static_configs"] for target in config["targets"]}
    assert targets == {(f"{service}:{port}", service) for service, port in PORTS.items()}
    assert jobs["engage"].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["rabbitmq"]["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    detailed = jobs["rabbitmq-queues"]
    assert detailed["metrics_path"] == "/metrics/detailed"
    assert set(detailed["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}


def test_the_alert_rules_cover_delivery_failures_and_the_web():
    names = {rule["alert"] for rule in alert_rules()}
    assert {"OutboxStuck", "DeadLettersGrowing", "ConsumerDown", "WebhookFailures",
            "High5xxRate", "HighP99Latency", "SubscriberQueueGrowing"} <= names
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_alerts_use_only_exported_metrics_and_outcomes():
    expressions = [rule["expr"] for rule in alert_rules()]
    assert_only_known_metrics(expressions)
    for expr in expressions:
        for values in re.findall(r'outcome\s*=~?\s*"([^"]*)"', expr):
            assert set(values.split("|")) <= OUTCOMES, expr


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


needs_promtool = pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")


@needs_promtool
def test_promtool_accepts_the_rules_and_the_configuration(tmp_path):
    result = run_promtool("check", "rules", str(ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    config = PROMETHEUS_FILE.read_text().replace("/etc/prometheus/alerts.yml", str(ALERTS_FILE))
    (tmp_path / "prometheus.yml").write_text(config)
    result = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


ALERT_SCENARIO = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # ideas: three rows waiting, the oldest ageing a minute a minute (over 300s from 6m).
      - series: 'engage_ideas_outbox_backlog{{job="engage",instance="ideas:8002",service="ideas"}}'
        values: '3x30'
      - series: 'engage_ideas_outbox_oldest_unsent_age_seconds{{job="engage",instance="ideas:8002",service="ideas"}}'
        values: '0+60x30'
      # members: an old age left over with nothing waiting is not stuck.
      - series: 'engage_members_outbox_backlog{{job="engage",instance="members:8001",service="members"}}'
        values: '0x30'
      - series: 'engage_members_outbox_oldest_unsent_age_seconds{{job="engage",instance="members:8001",service="members"}}'
        values: '1000x30'
      - series: 'engage_notify_events_consumed_total{{job="engage",instance="notify:8003",service="notify",type="idea.rated",outcome="dead_lettered"}}'
        values: '0 0 0 1x30'
      - series: 'engage_notify_events_consumed_total{{job="engage",instance="notify:8003",service="notify",type="idea.rated",outcome="processed"}}'
        values: '0+10x30'
      - series: 'up{{job="engage",instance="archive:8004",service="archive"}}'
        values: '1 1 0x30'
      - series: 'up{{job="rabbitmq",instance="rabbitmq:15692"}}'
        values: '1x30'
      - series: 'engage_web_entrypoint_calls_total{{job="engage",instance="web:8000",service="web",entrypoint="api_rate",outcome="success"}}'
        values: '0+90x30'
      - series: 'engage_web_entrypoint_calls_total{{job="engage",instance="web:8000",service="web",entrypoint="api_rate",outcome="error"}}'
        values: '0+10x30'
      - series: 'engage_ideas_request_duration_seconds_bucket{{job="engage",instance="ideas:8002",service="ideas",entrypoint="rate_idea",le="1"}}'
        values: '0+1x30'
      - series: 'engage_ideas_request_duration_seconds_bucket{{job="engage",instance="ideas:8002",service="ideas",entrypoint="rate_idea",le="2.5"}}'
        values: '0+100x30'
      - series: 'engage_ideas_request_duration_seconds_bucket{{job="engage",instance="ideas:8002",service="ideas",entrypoint="rate_idea",le="+Inf"}}'
        values: '0+100x30'
      - series: 'engage_notify_webhook_deliveries_total{{job="engage",instance="notify:8003",service="notify",outcome="delivered"}}'
        values: '0+5x30'
      - series: 'engage_notify_webhook_deliveries_total{{job="engage",instance="notify:8003",service="notify",outcome="failed"}}'
        values: '0+5x30'
      # an outside subscriber that stopped reading: past 10 000 waiting from 11m, firing 5m later.
      - series: 'rabbitmq_detailed_queue_messages_ready{{job="rabbitmq-queues",instance="rabbitmq:15692",vhost="/",queue="subscriber.acme.ratings"}}'
        values: '0+1000x30'
      # the platform's own queues are not a subscriber's.
      - series: 'rabbitmq_detailed_queue_messages_ready{{job="rabbitmq-queues",instance="rabbitmq:15692",vhost="/",queue="notify.on_ideas_event"}}'
        values: '0+1000x30'
    promql_expr_test:
      - expr: count by (alertname) (ALERTS{{alertstate="firing"}})
        eval_time: 4m
        exp_samples:
          - {{labels: '{{alertname="ConsumerDown"}}', value: 1}}
          - {{labels: '{{alertname="DeadLettersGrowing"}}', value: 1}}
      - expr: count by (alertname) (ALERTS{{alertstate="firing"}})
        eval_time: 7m
        exp_samples:
          - {{labels: '{{alertname="ConsumerDown"}}', value: 1}}
          - {{labels: '{{alertname="DeadLettersGrowing"}}', value: 1}}
          - {{labels: '{{alertname="High5xxRate"}}', value: 1}}
      - expr: count by (alertname, service) (ALERTS{{alertstate="firing"}})
        eval_time: 17m
        exp_samples:
          - {{labels: '{{alertname="ConsumerDown", service="archive"}}', value: 1}}
          - {{labels: '{{alertname="DeadLettersGrowing", service="notify"}}', value: 1}}
          - {{labels: '{{alertname="High5xxRate"}}', value: 1}}
          - {{labels: '{{alertname="HighP99Latency", service="ideas"}}', value: 1}}
          - {{labels: '{{alertname="OutboxStuck", service="ideas"}}', value: 1}}
          - {{labels: '{{alertname="SubscriberQueueGrowing"}}', value: 1}}
          - {{labels: '{{alertname="WebhookFailures"}}', value: 1}}
"""


@needs_promtool
def test_alerts_fire_when_and_only_when_their_condition_holds(tmp_path):
    scenario = tmp_path / "alerts_test.yml"
    scenario.write_text(ALERT_SCENARIO.format(rules=json.dumps(str(ALERTS_FILE))))
    result = run_promtool("test", "rules", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ---------------------------------------------------------------------------------------


def test_grafana_provisions_the_prometheus_datasource_the_dashboard_uses():
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    for panel in dashboard_panels():
        for source in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
            if source is not None:
                assert source == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]


def test_grafana_loads_the_dashboard_from_the_mounted_folder():
    (provider,) = load_yaml(GRAFANA / "provisioning" / "dashboards" / "engagement-network.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    assert dashboard()["uid"] == "engagement-network"


def test_the_dashboard_has_a_row_per_service_and_one_for_the_bus():
    rows = [panel["title"] for panel in dashboard()["panels"] if panel["type"] == "row"]
    for service in SERVICES:
        assert f"Service: {service}" in rows
    assert any(title.startswith("Bus") for title in rows)
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_row_shows_calls_latency_and_its_event_flow(service):
    panels, row = {}, None
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
        elif row == f"Service: {service}":
            panels[panel["title"]] = " ".join(t["expr"] for t in panel["targets"])
    assert f"engage_{service}_entrypoint_calls_total" in panels["Calls/s by outcome"]
    latency = panels["Latency p50 / p99"]
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.99," in latency
    if service in PUBLISHERS:
        assert f"engage_{service}_outbox_backlog" in panels["Outbox backlog and oldest unsent age"]
    if service not in ("members", "web"):  # the gateway's read cache reads events without the reliable consumer
        assert f"engage_{service}_events_consumed_total" in panels["Events consumed/s by outcome"]
        assert f"engage_{service}_dead_letters" in panels["Dead letters"]


def test_the_dashboard_uses_only_exported_metrics():
    expressions = dashboard_expressions()
    assert_only_known_metrics(expressions)
    used = set().union(*(metric_names(expr)[0] for expr in expressions))
    assert {"rabbitmq_detailed_queue_messages", "rabbitmq_detailed_queue_consumers",
            "rabbitmq_global_messages_received_total", "rabbitmq_global_messages_delivered_total"} <= used


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path):
    rules = [{"record": f"dashboard:query_{index}", "expr": expr.replace("$__rate_interval", "1m")}
             for index, expr in enumerate(dashboard_expressions())]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the services' own configuration ---------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_settings_the_service_reads(service):
    settings = service_config_settings(service)
    assert settings is not None, f"services/{service}/config.yml is missing"
    assert {"AMQP_URI", f"{service.upper()}_PORT"} <= settings
    if service != "web":
        assert "MONGO_URI" in settings
    unread = set(compose_environment(service)) - settings - PROCESS_ENVIRONMENT
    assert not unread, f"compose sets {sorted(unread)} but services/{service}/config.yml does not read them"


def test_interpolation_follows_compose_rules():
    # The helper above must read defaults the way compose does, or the checks prove nothing.
    assert interpolate("${A:-x}") == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("a${A}b", {"A": "1"}) == "a1b"
    assert interpolate("amqp://u:${P:-pw}@h/") == "amqp://u:pw@h/"


@pytest.mark.parametrize("service", ["ideas", "notify"])
def test_services_an_agency_runs_alone_read_the_settings_deploy_readme_tells_it_to_set(service):
    # deploy/README.md, "Running only the pieces an agency needs": tokens from another agency's members
    # service, and an agency name on the events this one publishes.
    settings = service_config_settings(service)
    assert settings is not None, f"services/{service}/config.yml is missing"
    assert {"MEMBERS_JWKS_URL", "ENGAGE_AGENCY", "AMQP_URI", "MONGO_URI"} <= settings
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert "MEMBERS_JWKS_URL=" in readme and "ENGAGE_AGENCY=" in readme


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_listens_on_loopback_unless_told_otherwise(service, monkeypatch):
    from services.common.config import load_config

    monkeypatch.delenv(f"{service.upper()}_HOST", raising=False)
    assert load_config(service)["WEB_SERVER_ADDRESS"].startswith("127.0.0.1:")
    monkeypatch.setenv(f"{service.upper()}_HOST", "0.0.0.0")
    assert load_config(service)["WEB_SERVER_ADDRESS"].startswith("0.0.0.0:")


@pytest.mark.parametrize("service", SERVICES)
def test_compose_lets_each_service_listen_inside_its_network(service):
    assert compose_environment(service)[f"{service.upper()}_HOST"] == "0.0.0.0"
