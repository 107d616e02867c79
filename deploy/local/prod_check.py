"""`make prod-check`: the production shape of docs/scaling.md, run on one machine and put under faults.

It runs the same programs a deployment runs, as processes: three clustered
RabbitMQ nodes loaded with deploy/rabbitmq/definitions.json (the rig's own
passwords hashed in, as deploy/README.md tells an operator to), HAProxy in
front of the broker nodes, of the two gateways and of the members replicas,
Redis for the rate limits, one storage server with a user per service that
may use its own database only, two replicas of every service started with
``ENGAGE_ENV=production`` and the settings of the documented ``.env``
(``QUEUE_TYPE=quorum``), and Prometheus scraping all of it with
deploy/prometheus/alerts.yml and a scrape configuration generated here.

Under a paced load of ratings and comments through HAProxy it SIGKILLs the
broker node holding the most queue leaders (and starts it again), then one
replica of every service and one gateway, which stay down until Prometheus
says ConsumerDown for them; then it starts them again and waits for the alert
to resolve. A poison message must raise DeadLettersGrowing; every alert and
dashboard query must name metrics that the running system exports, and every
dashboard panel must return data; the eleventh failed log-in must get 429
whichever gateway served the ten before. Every event the load caused must
have exactly one effect in each service that consumes it. It prints its
figures and ends with ``prod-check: sent N, effects N, duplicates 0, lost 0``;
its exit status is 0 only when every check passed.

    python -m deploy.local.prod_check [--keep]   # --keep leaves the rig running until Ctrl-C
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pika
import pymongo
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deploy.local import broker_users, processes
from deploy.local.broker import PrivateBroker, _run_as, apt_install, management_request
from deploy.local.storage import PrivateStorage

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("members", "ideas", "notify", "archive")
REPLICAS = 2
ALERTS_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "dashboards" / "engagement-network.json"
PASSWORD = "a long production password"
SCRAPE_SECONDS = 5
LOAD_RATE = 5.0  # requests a second, ratings and comments
BUDGET_SECONDS = 12 * 60


class RigError(RuntimeError):
    """A part of the rig could not be set up; the message says which and why."""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def program(name: str, package: str) -> str:
    """The path of ``name``, installing Debian's ``package`` first when missing (as root)."""
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found:
        return found
    say(f"{name} is not installed: installing {package} with apt-get")
    if apt_install(package):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
        if found:
            return found
    raise RigError(f"{name} is needed: install it with `apt-get install -y {package}`.")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RigError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- RabbitMQ: three clustered nodes ----------------------------------------------------------------


class ClusterNode(PrivateBroker):
    """A private node that joins the rig's cluster: shared cookie, the Prometheus plugin, the deploy definitions."""

    def __init__(self, index: int, cookie: str, definitions_path: Path):
        super().__init__(f"prod{index}", schedulers=1)
        self.index = index
        self.cookie = cookie
        self.definitions_path = definitions_path
        self.prometheus_port: int | None = None

    def _create(self) -> None:
        super()._create()
        self.prometheus_port = processes.free_port(avoid=(self.port, self.dist_port, self.management_port))
        definitions = self.directory / "definitions.json"
        shutil.copy(self.definitions_path, definitions)
        with (self.directory / "rabbitmq.conf").open("a") as conf:
            conf.write("\n".join([
                f"prometheus.tcp.port = {self.prometheus_port}",
                "prometheus.tcp.ip = 127.0.0.1",
                "prometheus.return_per_object_metrics = false",
                "definitions.import_backend = local_filesystem",
                f"definitions.local.path = {definitions}",
                "cluster_partition_handling = pause_minority",
                "",
            ]))
        (self.directory / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_prometheus].\n")
        cookie = self.directory / ".erlang.cookie"
        cookie.chmod(0o600)
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)
        run_as = _run_as()
        if run_as:
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, *run_as)


class BrokerCluster:
    def __init__(self, work: Path):
        definitions = broker_users.definitions()
        known = broker_users.passwords()
        for user in definitions["users"]:  # deploy/README.md, "Secrets you must change": the rig's own passwords
            user["password_hash"] = broker_users._password_hash(known[user["name"]])
        path = work / "definitions.json"
        path.write_text(json.dumps(definitions, indent=2))
        cookie = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(32))
        self.nodes = [ClusterNode(index, cookie, path) for index in (1, 2, 3)]

    def start(self) -> None:
        first = self.nodes[0]
        first.start(timeout=120)
        for node in self.nodes[1:]:
            node.start(timeout=120)
            node.rabbitmqctl("stop_app")
            node.rabbitmqctl("reset")
            node.rabbitmqctl("join_cluster", first.node_name)
            node.rabbitmqctl("start_app")
        wait_until(lambda: len([n for n in self.management("GET", "/api/nodes") if n.get("running")]) == 3,
                   60, "three running cluster nodes")

    def management(self, method: str, path: str, body: object = None):
        for node in self.nodes:
            if node.is_running():
                try:
                    return management_request(node.management_url, method, path, body)
                except Exception:
                    continue
        raise RigError("no broker node answers its management API")

    def leaders(self) -> dict[str, int]:
        """How many quorum queue leaders each node holds."""
        counts = {node.node_name: 0 for node in self.nodes}
        for queue in self.management("GET", "/api/queues/%2F") or []:
            if queue.get("type") == "quorum" and queue.get("leader") in counts:
                counts[queue["leader"]] += 1
        return counts

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.close()


# --- storage: one server, a user per service ----------------------------------------------------


class AuthStorage(PrivateStorage):
    """The embedded storage server with SCRAM authentication: each service's user may use its own database only."""

    def __init__(self):
        super().__init__("prod-check", cache_size="256M")
        self.auth = False
        self.users = {name: secrets.token_urlsafe(18) for name in (*SERVICES, "operator")}

    def command(self) -> list[str]:
        return super().command() + (["--auth"] if self.auth else [])

    @property
    def mongo_uri(self) -> str:
        base = f"127.0.0.1:{self.port}/?replicaSet=secantus&retryWrites=false"
        return f"mongodb://operator:{quote(self.users['operator'])}@{base}&authSource=admin" if self.auth \
            else f"mongodb://{base}"

    def uri_for(self, service: str) -> str:
        return (f"mongodb://{service}:{quote(self.users[service])}@127.0.0.1:{self.port}/engage_{service}"
                "?replicaSet=secantus&retryWrites=false&authSource=admin")

    def provision(self) -> None:
        """Create the users without authentication, then restart requiring it (secantusd's way, as mongod's)."""
        self.start()
        client = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=5000)
        try:
            client.admin.command("createUser", "operator", pwd=self.users["operator"],
                                 roles=[{"role": "root", "db": "admin"}])
            for service in SERVICES:
                client.admin.command("createUser", service, pwd=self.users[service],
                                     roles=[{"role": "readWrite", "db": f"engage_{service}"}])
        finally:
            client.close()
        self.stop()
        self.auth = True
        self.start()

    def check_isolation(self) -> list[str]:
        """Problems, if any: a service user that reaches another service's database."""
        problems = []
        for service in SERVICES:
            other = next(name for name in SERVICES if name != service)
            client = pymongo.MongoClient(self.uri_for(service), serverSelectionTimeoutMS=5000)
            try:
                client[f"engage_{other}"].probe.find_one()
                problems.append(f"storage user {service} can read engage_{other}")
            except pymongo.errors.OperationFailure:
                pass
            finally:
                client.close()
        return problems


# --- plain processes: HAProxy, Redis, Prometheus, mail, the services -----------------------------


class Process:
    """A program of the rig in a session of its own, its output in a log file."""

    def __init__(self, name: str, command: list[str], log_dir: Path, env: dict | None = None, cwd: Path = ROOT):
        self.name = name
        self.command = command
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Process":
        log = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            processes.signal_group(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if not self.alive():
            return
        processes.stop_group(self.popen.pid, first_signal=sig, first_pid=self.popen.pid, timeout=timeout,
                             child=self.popen)

    def kill(self) -> None:
        self.stop(signal.SIGKILL, 5)

    def tail(self, lines: int = 20) -> str:
        return processes.tail(self.log_path, lines)


@dataclass
class Replica:
    service: str  # members, ideas, notify, archive or web
    index: int
    port: int
    process: Process

    @property
    def instance(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False


def haproxy_config(ports: dict, brokers: list[ClusterNode], gateways: list[Replica], members: list[Replica]) -> str:
    def servers(items, check: str) -> str:
        return "\n".join(f"  server {name} 127.0.0.1:{port} check inter 1s fall 2 rise 2{check}"
                         for name, port in items)

    return f"""# Generated by deploy/local/prod_check.py for one run.
global
  maxconn 4096

defaults
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  retries 3

# AMQP to the cluster: a connection to a node that dies is cut, and the client reconnects to another.
frontend amqp
  mode tcp
  bind 127.0.0.1:{ports['amqp']}
  default_backend rabbitmq

backend rabbitmq
  mode tcp
  balance roundrobin
{servers([(f"rabbit{n.index}", n.port) for n in brokers], " on-marked-down shutdown-sessions")}

# The gateways. The load balancer overwrites X-Forwarded-For (docs/scaling.md); TRUSTED_PROXIES=1.
frontend web
  mode http
  timeout client 30s
  bind 127.0.0.1:{ports['web']}
  http-request set-header X-Forwarded-For %[src]
  default_backend gateways

backend gateways
  mode http
  timeout server 30s
  balance roundrobin
  option redispatch
  retry-on conn-failure empty-response response-timeout
  option httpchk GET /ready
  http-response set-header X-Served-By %s
{servers([(g.instance, g.port) for g in gateways], "")}

# The members replicas' HTTP (the token keys at /.well-known/jwks.json).
frontend members
  mode http
  timeout client 30s
  bind 127.0.0.1:{ports['members']}
  default_backend members

backend members
  mode http
  timeout server 30s
  balance roundrobin
  option redispatch
  retry-on conn-failure empty-response
  option httpchk GET /ready
{servers([(m.instance, m.port) for m in members], "")}
"""


def prometheus_config(replicas: list[Replica], brokers: list[ClusterNode]) -> dict:
    """deploy/prometheus/prometheus.yml's jobs, with this rig's targets (one per replica and broker node)."""
    deployed = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in deployed["scrape_configs"]}
    engage = {**jobs["engage"], "static_configs": [
        {"targets": [f"127.0.0.1:{r.port}"], "labels": {"service": r.service, "instance": r.instance}}
        for r in replicas]}
    rabbit_targets = [{"targets": [f"127.0.0.1:{n.prometheus_port}"], "labels": {"instance": f"rabbit{n.index}"}}
                      for n in brokers]
    rabbitmq = {**jobs["rabbitmq"], "static_configs": rabbit_targets}
    queues = {**jobs["rabbitmq-queues"], "static_configs": rabbit_targets}
    return {
        "global": {**deployed["global"], "scrape_interval": f"{SCRAPE_SECONDS}s",
                   "evaluation_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS - 1}s"},
        "rule_files": [str(ALERTS_FILE)],
        "scrape_configs": [engage, rabbitmq, queues],
    }


class Prometheus:
    def __init__(self, process: Process, port: int):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if answer.get("status") != "success":
            raise RigError(f"Prometheus refused {expr!r}: {answer.get('error')}")
        return answer["data"]["result"]

    def alerts(self, name: str, state: str = "firing") -> list[dict]:
        found = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [alert for alert in found if alert["labels"].get("alertname") == name and alert["state"] == state]

    def metric_names(self) -> set[str]:
        return set(requests.get(f"{self.url}/api/v1/label/__name__/values", timeout=10).json()["data"])


# --- the rig ------------------------------------------------------------------------------------------


@dataclass
class Figures:
    accepted: int = 0
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    completions: list = field(default_factory=list)  # (started, finished, ok)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, started: float, status: int | str) -> None:
        finished = time.monotonic()
        ok = isinstance(status, int) and 200 <= status < 300
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.completions.append((started, finished, ok))
            if ok:
                self.accepted += 1
            else:
                self.failed += 1

    def failures_between(self, start: float, end: float) -> tuple[int, float]:
        """Requests that failed finishing between ``start`` and ``end``, and seconds from ``start`` to the last."""
        with self.lock:
            failed = [finished for _, finished, ok in self.completions if not ok and start <= finished <= end]
        return len(failed), (max(failed) - start) if failed else 0.0

    def recovery_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` until a request started after it succeeded."""
        with self.lock:
            done = [finished for started, finished, ok in self.completions if ok and started >= moment]
        return (min(done) - moment) if done else None


class Rig:
    def __init__(self, keep: bool = False):
        self.keep = keep
        self.started = time.monotonic()
        self.work = ROOT / ".data" / "prod-check"
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "logs").mkdir(parents=True)
        self.logs = self.work / "logs"
        self.failures: list[str] = []
        self.report: list[str] = []
        self.taken: list[int] = []
        self.ports: dict[str, int] = {}
        self.cluster = BrokerCluster(self.work)
        self.storage = AuthStorage()
        self.extra: list[Process] = []
        self.replicas: list[Replica] = []
        self.secret_key = secrets.token_urlsafe(48)
        self.unsubscribe_secret = secrets.token_urlsafe(48)

    # -- set-up

    def free_port(self) -> int:
        """A free port no other part of the rig was given (none listens yet on those handed out)."""
        port = processes.free_port(avoid=tuple(self.taken))
        self.taken.append(port)
        return port

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)
            say(f"FAILED: {message}")

    def env_for(self, service: str, port: int) -> dict:
        """The documented production .env (deploy/README.md) with this rig's addresses."""
        env = {key: value for key, value in os.environ.items()
               if not key.endswith(("_AMQP_PASSWORD", "_URI", "_URL")) and not key.startswith("ENGAGE_")}
        env.update({
            "ENGAGE_ENV": "production",
            "ENGAGE_AGENCY": "dta",
            "LOG_FORMAT": "json",
            "AMQP_URI": broker_users.uri_for(f"amqp://127.0.0.1:{self.ports['amqp']}/", service),
            "MEMBERS_JWKS_URL": f"http://127.0.0.1:{self.ports['members']}/.well-known/jwks.json",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports['web']}",
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "QUEUE_TYPE": "quorum",
            f"{service.upper()}_HOST": "127.0.0.1",
            f"{service.upper()}_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        })
        if service in SERVICES:
            env["MONGO_URI"] = self.storage.uri_for(service)
        if service == "members":
            env["TOKEN_PRIVATE_KEY_FILE"] = str(self.work / "token-signing-key.pem")
        if service == "notify":
            env.update({"SMTP_URL": f"smtp://127.0.0.1:{self.ports['smtp']}",
                        "MAIL_FROM": "Engagement Network <engage@dta.example.gov.au>",
                        "UNSUBSCRIBE_SECRET": self.unsubscribe_secret,
                        "EVENT_RETRY_DELAYS": "1,5,30,120,600"})
        if service == "web":
            secret = self.work / "secret-key"  # a secret given as a file, as a container platform mounts it
            secret.write_text(self.secret_key)
            env.update({"SECRET_KEY_FILE": str(secret), "TRUSTED_PROXIES": "1"})
        return env

    def start(self) -> None:
        haproxy = program("haproxy", "haproxy")
        redis = program("redis-server", "redis-server")
        prometheus = program("prometheus", "prometheus")
        say("starting three RabbitMQ nodes and clustering them")
        self.cluster.start()
        say(f"cluster up: {', '.join(n.node_name for n in self.cluster.nodes)}")
        say("starting the storage server with a user per service")
        self.storage.provision()
        for node in self.cluster.nodes:
            self.taken += [node.port, node.dist_port, node.management_port, node.prometheus_port]
        self.taken.append(self.storage.port)
        self.ports = {name: self.free_port() for name in ("amqp", "web", "members", "redis", "prometheus", "smtp")}
        self.report += [f"storage isolation: {problem}" for problem in self.storage.check_isolation()]
        self.check(not self.storage.check_isolation(), "each service's storage user reaches only its own database")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.work / "token-signing-key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.extra.append(Process("redis", [redis, "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                                            "--save", "", "--appendonly", "no", "--dir", str(self.work)],
                                  self.logs).start())
        mail_env = {**os.environ, "MONGO_URI": self.storage.mongo_uri, "NOTIFY_DATABASE": "rig_mail"}
        self.extra.append(Process("mailcatcher", [sys.executable, "-m", "deploy.local.mailcatcher", "--port",
                                                  str(self.ports["smtp"])], self.logs, env=mail_env).start())
        for service in (*SERVICES, "web"):
            for index in range(1, REPLICAS + 1):
                port = self.free_port()
                command = [sys.executable, "-m", "nameko", "run", "--config", f"services/{service}/config.yml",
                           f"services.{service}.service"]
                process = Process(f"{service}-{index}", command, self.logs, env=self.env_for(service, port))
                self.replicas.append(Replica(service, index, port, process))
        gateways = [r for r in self.replicas if r.service == "web"]
        members = [r for r in self.replicas if r.service == "members"]
        (self.work / "haproxy.cfg").write_text(haproxy_config(self.ports, self.cluster.nodes, gateways, members))
        self.extra.append(Process("haproxy", [haproxy, "-db", "-f", str(self.work / "haproxy.cfg")],
                                  self.logs).start())
        wait_until(lambda: processes.port_is_open(self.ports["amqp"]), 20, "HAProxy")
        say("starting two replicas of every service (members first: it serves the token keys)")
        for replica in members:
            replica.process.start()
        self.wait_ready(members, 120)
        for replica in self.replicas:
            if replica.service != "members":
                replica.process.start()
        self.wait_ready(self.replicas, 180)
        # HAProxy marks a server up after two passing checks a second apart: wait until it sends to every one.
        for front in (self.web, f"http://127.0.0.1:{self.ports['members']}"):
            wait_until(lambda: all(requests.get(f"{front}/ready", timeout=5).status_code == 200 for _ in range(6)),
                       60, f"HAProxy to send to every replica behind {front}")
        (self.work / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(self.replicas, self.cluster.nodes)))
        process = Process("prometheus", [prometheus, f"--config.file={self.work / 'prometheus.yml'}",
                                         f"--storage.tsdb.path={self.work / 'prometheus-data'}",
                                         f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}",
                                         "--log.level=warn"], self.logs).start()
        self.extra.append(process)
        self.prometheus = Prometheus(process, self.ports["prometheus"])
        wait_until(lambda: requests.get(f"{self.prometheus.url}/-/ready", timeout=2).ok, 60, "Prometheus")
        say(f"rig up in {time.monotonic() - self.started:.0f} s: web http://127.0.0.1:{self.ports['web']}, "
            f"Prometheus {self.prometheus.url}")

    def wait_ready(self, replicas: list[Replica], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for replica in replicas:
            while not replica.ready():
                if not replica.process.alive():
                    raise RigError(f"{replica.instance} exited:\n{replica.process.tail()}")
                if time.monotonic() > deadline:
                    raise RigError(f"{replica.instance} was not ready within {timeout:.0f} s:\n{replica.process.tail()}")
                time.sleep(0.5)

    def close(self) -> None:
        for replica in self.replicas:
            replica.process.stop(timeout=10)
        for process in reversed(self.extra):
            process.stop(timeout=10)
        self.storage.close()
        self.cluster.close()

    # -- people

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def operator_rpc(self):
        from services.common.rpc import ClusterRpcProxy

        return ClusterRpcProxy({"AMQP_URI": broker_users.uri_for(f"amqp://127.0.0.1:{self.ports['amqp']}/",
                                                                 broker_users.OPERATOR)})

    def member(self, email: str, name: str) -> str:
        """Register through the gateways, open the link from the caught mail, log in; the token."""
        answer = requests.post(f"{self.web}/api/v1/members", json={
            "email": email, "display_name": name, "password": PASSWORD, "agency": "dta"}, timeout=30)
        if answer.status_code != 201:
            raise RigError(f"registering {email} answered {answer.status_code}: {answer.text[:300]}")
        mail = pymongo.MongoClient(self.storage.mongo_uri).rig_mail.caught_mail

        def link():
            for message in mail.find({"envelope_to": email}):
                found = re.search(r"/verify/([A-Za-z0-9_.~-]+)", f"{message.get('text')} {message.get('html')}")
                if found:
                    return found.group(1)
            return None

        token = wait_until(link, 60, f"the confirmation mail to {email}")
        opened = requests.get(f"{self.web}/verify/{token}", timeout=30)
        if opened.status_code >= 400:
            raise RigError(f"opening the confirmation link of {email} answered {opened.status_code}")
        answer = requests.post(f"{self.web}/api/v1/tokens", json={"email": email, "password": PASSWORD}, timeout=30)
        if answer.status_code not in (200, 201):
            raise RigError(f"logging in {email} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()["token"]

    # -- the run

    def run(self) -> int:
        self.start()
        with self.operator_rpc() as rpc:
            rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency",
                                       "email_domains": ["dta.example.gov.au"]})
        say("registering members through the gateways (production password hashing)")
        author = self.member("author@dta.example.gov.au", "Ada Author")
        raters = [self.member(f"rater{n}@dta.example.gov.au", f"Rater {n}") for n in range(1, 7)]
        ideas = []
        for n in range(3):
            answer = requests.post(f"{self.web}/api/v1/ideas", headers={"Authorization": f"Bearer {author}"}, json={
                "title": f"Production rig idea {n}", "description": "Ideas rated and discussed under faults.",
                "what_it_might_look_like": "Three brokers, two of everything.", "why_it_matters": "Nothing lost.",
                "prompts": [], "tags": ["rig"]}, timeout=30)
            if answer.status_code != 201:
                raise RigError(f"submitting an idea answered {answer.status_code}: {answer.text[:300]}")
            ideas.append(answer.json()["id"])
        load_started = time.time()

        figures = Figures()
        stop_load = threading.Event()
        threads = [threading.Thread(target=self.load, args=(token, ideas, figures, stop_load, n, len(raters)),
                                    daemon=True)
                   for n, token in enumerate(raters)]
        for thread in threads:
            thread.start()
        say(f"load running: ratings and comments at about {LOAD_RATE:.0f} a second through HAProxy")
        time.sleep(15)

        leaders = self.cluster.leaders()
        victim_name = max(leaders, key=leaders.get)
        victim = next(node for node in self.cluster.nodes if node.node_name == victim_name)
        say(f"SIGKILL broker node {victim.node_name}, leader of {leaders[victim_name]} of "
            f"{sum(leaders.values())} quorum queues")
        killed_at = time.monotonic()
        victim.kill()
        time.sleep(20)
        broker_recovery = figures.recovery_after(killed_at)
        say(f"starting {victim.node_name} again")
        victim.start(timeout=120)
        wait_until(lambda: len([n for n in self.cluster.management("GET", "/api/nodes") if n.get("running")]) == 3,
                   120, "the node to rejoin the cluster")
        time.sleep(10)

        doomed = [next(r for r in self.replicas if r.service == service and r.index == 2)
                  for service in (*SERVICES, "web")]
        say("SIGKILL one replica of every service and one gateway: " + ", ".join(r.instance for r in doomed))
        replicas_killed_at = time.monotonic()
        broker_failures = figures.failures_between(killed_at, replicas_killed_at)
        for replica in doomed:
            replica.process.kill()
        time.sleep(5)
        self.poison()
        dead_letter_alert = self.wait_alert("DeadLettersGrowing", lambda a: a["labels"].get("service") == "notify",
                                            timeout=120)
        replica_recovery = figures.recovery_after(replicas_killed_at)
        replica_failures = figures.failures_between(replicas_killed_at, time.monotonic())
        down = {r.instance for r in doomed}
        consumer_down = self.wait_alert(
            "ConsumerDown", lambda a: a["labels"].get("instance") in down, timeout=240,
            until=lambda found: {a["labels"]["instance"] for a in found} >= down)
        fired_after = time.monotonic() - replicas_killed_at
        say("starting the killed replicas again")
        for replica in doomed:
            replica.process.start()
        self.wait_ready(doomed, 180)
        returned_at = time.monotonic()
        resolved = self.wait_no_alert("ConsumerDown", down, timeout=120)
        resolved_after = time.monotonic() - returned_at
        self.check_operator_commands(online=True)
        self.rotate_signing_key(raters[0], ideas[0], figures)
        time.sleep(5)
        stop_load.set()
        for thread in threads:
            thread.join(timeout=60)
        say(f"load stopped: {figures.accepted} requests answered 2xx, {figures.failed} not "
            f"({json.dumps({str(k): v for k, v in sorted(figures.statuses.items(), key=str)})})")

        sent, effects, duplicates, lost, drain_seconds = self.tally(load_started, figures)
        self.check_rate_limit()
        self.check_monitoring()

        self.report += [
            f"broker node killed: {victim.node_name} (leader of {leaders[victim_name]} quorum queues); "
            f"first request after it answered in {broker_recovery if broker_recovery is None else round(broker_recovery, 1)} s; "
            f"{broker_failures[0]} requests failed, the last {broker_failures[1]:.1f} s after the kill",
            f"replicas killed: {', '.join(sorted(down))}; first request after it answered in "
            f"{replica_recovery if replica_recovery is None else round(replica_recovery, 1)} s; "
            f"{replica_failures[0]} requests failed, the last {replica_failures[1]:.1f} s after the kill",
            f"ConsumerDown fired for all {len(down)} after {fired_after:.0f} s (for: 2m), "
            f"resolved {resolved_after:.0f} s after they returned" if consumer_down and resolved
            else "ConsumerDown did not fire and resolve as it should",
            f"DeadLettersGrowing fired for the poison message: {bool(dead_letter_alert)}",
            f"requests: {figures.accepted} answered 2xx, {figures.failed} not; events drained "
            f"{drain_seconds:.0f} s after the load stopped",
            f"whole run: {time.monotonic() - self.started:.0f} s (budget {BUDGET_SECONDS} s)",
        ]
        self.check(consumer_down is not None and resolved, "ConsumerDown fires for stopped replicas and resolves")
        self.check(dead_letter_alert is not None, "a poison message raises DeadLettersGrowing")
        self.check(time.monotonic() - self.started < BUDGET_SECONDS, f"the rig runs within {BUDGET_SECONDS} s")
        print("\n".join(["", "prod-check figures:"] + [f"  {line}" for line in self.report]), flush=True)
        if self.failures:
            print("prod-check failed checks:\n" + "\n".join(f"  - {failure}" for failure in self.failures), flush=True)
        if self.keep:
            say(f"the rig stays up (--keep): web {self.web}, Prometheus {self.prometheus.url}; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        print(f"prod-check: sent {sent}, effects {effects}, duplicates {duplicates}, lost {lost}", flush=True)
        return 0 if not self.failures and duplicates == 0 and lost == 0 and sent == effects else 1

    def load(self, token: str, ideas: list[str], figures: Figures, stop: threading.Event, number: int,
             members: int) -> None:
        """One member's share of the paced load: alternately a changed rating and a comment."""
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        stars = {idea: 0 for idea in ideas}
        interval = members / LOAD_RATE  # each of the members sends its share of LOAD_RATE
        step = 0
        next_at = time.monotonic() + number * interval / members
        while not stop.is_set():
            idea = ideas[step % len(ideas)]
            started = time.monotonic()
            try:
                if step % 2 == 0:
                    stars[idea] = stars[idea] % 5 + 1
                    answer = session.put(f"{self.web}/api/v1/ideas/{idea}/rating", headers=headers,
                                         json={"stars": stars[idea]}, timeout=20)
                else:
                    answer = session.post(f"{self.web}/api/v1/ideas/{idea}/comments", headers=headers,
                                          json={"body": f"Comment {step} from rater {number}"}, timeout=20)
                figures.note(started, answer.status_code)
            except requests.RequestException as exc:
                figures.note(started, exc.__class__.__name__)
            step += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    def poison(self) -> None:
        """A message that can never be handled, published as the ideas service would: it must be dead-lettered."""
        connection = pika.BlockingConnection(pika.URLParameters(
            broker_users.uri_for(f"amqp://127.0.0.1:{self.ports['amqp']}/", "ideas")))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish("ideas.events", "idea.rated", b"{ this is not json",
                                  pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2,
                                                       user_id="ideas", message_id="prod-check-poison"))
        finally:
            connection.close()
        say("published a poison message on ideas.events")

    def wait_alert(self, name: str, match, timeout: float, until=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = [alert for alert in self.prometheus.alerts(name) if match(alert)]
            except (requests.RequestException, ValueError, KeyError):
                found = []
            if found and (until is None or until(found)):
                say(f"alert {name} firing: " + ", ".join(sorted(
                    a["labels"].get("instance") or a["labels"].get("service", "") for a in found)))
                return found
            time.sleep(2)
        return None

    def wait_no_alert(self, name: str, instances: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                active = [a for a in requests.get(f"{self.prometheus.url}/api/v1/alerts", timeout=10).json()["data"]
                          ["alerts"] if a["labels"].get("alertname") == name and a["labels"].get("instance") in instances]
            except (requests.RequestException, ValueError, KeyError):
                active = [None]
            if not active:
                say(f"alert {name} resolved")
                return True
            time.sleep(2)
        return False

    # -- the checks

    def tally(self, since: float, figures: Figures) -> tuple[int, int, int, int, float]:
        """Events of the load in ideas' outbox, and the effect of each in notify and archive (their dedupe marks)."""
        client = pymongo.MongoClient(self.storage.mongo_uri)
        from datetime import datetime, timezone

        since_time = datetime.fromtimestamp(since, timezone.utc)
        rows = list(client.engage_ideas.outbox.find(
            {"type": {"$in": ["idea.rated", "comment.posted"]}, "created_at": {"$gte": since_time}},
            {"event_id": 1, "type": 1, "envelope.source": 1, "source": 1}))
        keys = {}
        for row in rows:
            source = (row.get("envelope") or {}).get("source") or row.get("source") or "urn:engage:dta:ideas"
            keys[f"{source}|{row['event_id']}"] = row["type"]
        consumers = {"notify": ("idea.rated", "comment.posted"), "archive": ("comment.posted",)}
        drain_started = time.monotonic()

        def marks():
            found = {}
            for service, types in consumers.items():
                wanted = [key for key, kind in keys.items() if kind in types]
                counts = {}
                for mark in client[f"engage_{service}"].processed_events.find({"_id": {"$in": wanted}}, {"_id": 1}):
                    counts[mark["_id"]] = counts.get(mark["_id"], 0) + 1
                found[service] = (wanted, counts)
            return found

        def complete():
            found = marks()
            return found if all(len(counts) == len(wanted) for wanted, counts in found.values()) else None

        try:
            found = wait_until(complete, 180, "every event's effect", interval=2)
        except RigError:
            found = marks()
        drain_seconds = time.monotonic() - drain_started
        sent = len(keys)
        effects = duplicates = lost = 0
        for key, kind in keys.items():
            counts = [found[service][1].get(key, 0) for service, types in consumers.items() if kind in types]
            if all(count == 1 for count in counts):
                effects += 1
            if any(count > 1 for count in counts):
                duplicates += 1
            if any(count == 0 for count in counts):
                lost += 1
        # The effects themselves, beside the marks: archive's running copies hold every comment ideas holds.
        comments_in_ideas = client.engage_ideas.comments.count_documents({})
        comments_in_archive = sum(len(copy.get("comments") or {}) for copy in client.engage_archive.idea_copies.find(
            {}, {"comments": 1}))
        self.report.append(f"events of the load: {sent} ({sum(1 for k in keys.values() if k == 'idea.rated')} "
                           f"idea.rated, {sum(1 for k in keys.values() if k == 'comment.posted')} comment.posted); "
                           f"accepted requests {figures.accepted}")
        self.report.append(f"comments: {comments_in_ideas} in ideas, {comments_in_archive} in archive's running copies")
        self.check(sent >= figures.accepted, "every accepted request's event is in the ideas outbox")
        self.check(comments_in_archive == comments_in_ideas, "archive holds every comment ideas holds, once")
        client.close()
        return sent, effects, duplicates, lost, drain_seconds

    def roll(self, replicas: list[Replica], env: dict) -> None:
        """docs/operations.md, "Rolling upgrade": each replica in turn stopped (SIGTERM), started with ``env``, ready."""
        for replica in replicas:
            replica.process.stop()
            replica.process.env = {**replica.process.env, **env}
            replica.process.start()
            self.wait_ready([replica], 120)

    def rotate_signing_key(self, old_token: str, idea: str, figures: Figures) -> None:
        """docs/operations.md, "Rotating the token signing key", steps 1 to 3, under the load; nobody is logged out."""
        from services.common.tokens import key_id

        old = self.work / "token-signing-key.pem"
        new = self.work / "token-signing-key-2.pem"
        new.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        members = [r for r in self.replicas if r.service == "members"]
        started = time.monotonic()
        before = (figures.accepted, figures.failed)
        say("rotating the token signing key: announcing the new key on each members replica in turn")
        self.roll(members, {"TOKEN_VERIFY_KEY_FILES": str(new)})
        say("rotating the token signing key: signing with the new key, serving the old one, replica by replica")
        self.roll(members, {"TOKEN_PRIVATE_KEY_FILE": str(new), "TOKEN_VERIFY_KEY_FILES": str(old)})
        answer = requests.post(f"{self.web}/api/v1/tokens", json={"email": "rater2@dta.example.gov.au",
                                                                  "password": PASSWORD}, timeout=30)
        token = answer.json().get("token", "") if answer.status_code in (200, 201) else ""
        import jwt

        signed_by = jwt.get_unverified_header(token).get("kid") if token else None
        new_write = requests.post(f"{self.web}/api/v1/ideas/{idea}/comments", json={"body": "After the rotation"},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
        old_write = requests.post(f"{self.web}/api/v1/ideas/{idea}/comments", json={"body": "An older token"},
                                  headers={"Authorization": f"Bearer {old_token}"}, timeout=30).status_code
        keys = requests.get(f"http://127.0.0.1:{self.ports['members']}/.well-known/jwks.json", timeout=10).json()
        served = {key["kid"] for key in keys.get("keys", [])}
        accepted, failed = figures.accepted - before[0], figures.failed - before[1]
        self.report.append(f"key rotation under load (two rolling restarts of members, {time.monotonic() - started:.0f} s):"
                           f" new tokens signed by the new key: {signed_by == key_id(new.read_text())}; a write with a "
                           f"new token {new_write}, with an older one {old_write}; JWKS serves "
                           f"{len(served)} keys; {accepted} load requests answered 2xx and {failed} not meanwhile")
        self.check(signed_by == key_id(new.read_text()), "after the switch, tokens are signed with the new key")
        self.check(new_write == 201 and old_write == 201, "tokens of both keys work after the switch")
        self.check(served == {key_id(old.read_text()), key_id(new.read_text())}, "JWKS serves both keys in the overlap")

    def engage(self, *args: str) -> subprocess.CompletedProcess:
        """The operator's ``engage`` against this deployment: addresses and credentials from its environment."""
        env = {key: value for key, value in os.environ.items() if not key.endswith(("_URI", "_URL"))}
        env.update({
            "AMQP_URI": broker_users.uri_for(f"amqp://127.0.0.1:{self.ports['amqp']}/", broker_users.OPERATOR),
            "RABBITMQ_MANAGEMENT_URL": self.cluster.nodes[-1].management_url,
            "MEMBERS_URL": f"http://127.0.0.1:{self.ports['members']}", "WEB_URL": self.web,
            **{f"{service.upper()}_MONGO_URI": self.storage.mongo_uri for service in SERVICES},
        })
        for service in ("ideas", "notify", "archive"):
            env[f"{service.upper()}_URL"] = next(r.url for r in self.replicas if r.service == service and r.index == 1)
        return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    def check_operator_commands(self, online: bool) -> None:
        """``engage backup`` while the load runs, and ``engage status`` through the configured addresses."""
        archive = self.work / "engage-backup.tar.gz"
        started = time.monotonic()
        result = self.engage("backup", "--out", str(archive))
        took = time.monotonic() - started
        self.check(result.returncode == 0, f"engage backup runs against the deployment: {result.stderr[-500:]}")
        if result.returncode == 0:
            from tools.backup import read_manifest

            manifest = read_manifest(archive)
            documents = sum(c["documents"] for entry in manifest["services"].values()
                            for c in entry["collections"].values())
            self.report.append(f"engage backup{' under load' if online else ''}: {documents} documents of "
                               f"{len(manifest['services'])} databases and the broker definitions "
                               f"({manifest['broker_definitions']}) in {took:.1f} s")
        result = self.engage("status", "--json")
        try:
            statuses = json.loads(result.stdout)
        except ValueError:
            statuses = []
        ready = [status["service"] for status in statuses if status.get("ready")]
        self.check(result.returncode == 0 and len(ready) == 5,
                   f"engage status finds every service ready at its configured address: {result.stdout[-300:]}"
                   f"{result.stderr[-300:]}")
        where = ", ".join(f"{status['service']} at {status['url']}" for status in statuses)
        self.report.append(f"engage status: {where}; ready: {len(ready)} of {len(statuses)}")

    def check_rate_limit(self) -> None:
        """Ten failed log-ins for one account across both gateways, then the eleventh answers 429."""
        served, statuses = [], []
        for _ in range(11):
            answer = requests.post(f"{self.web}/api/v1/tokens", json={
                "email": "rater1@dta.example.gov.au", "password": "not the password"}, timeout=30)
            served.append(answer.headers.get("X-Served-By", "?"))
            statuses.append(answer.status_code)
        by_gateway = {name: served[:10].count(name) for name in sorted(set(served[:10]))}
        self.report.append(f"failed log-ins: statuses {statuses}; the ten served by {by_gateway}, the eleventh by "
                           f"{served[10]}")
        self.check(statuses[:10] == [401] * 10 and statuses[10] == 429,
                   "the eleventh failed log-in gets 429 whichever gateway served the ten before")
        self.check(len(by_gateway) == 2, "both gateways served the failed log-ins")

    def check_monitoring(self) -> None:
        """Every alert and panel query names exported metrics; every panel returns data."""
        time.sleep(SCRAPE_SECONDS * 2)
        exported = self.prometheus.metric_names()
        expressions = [rule["expr"] for group in yaml.safe_load(ALERTS_FILE.read_text())["groups"]
                       for rule in group["rules"]]
        panels = []

        def walk(items):
            for panel in items:
                yield panel
                yield from walk(panel.get("panels", []))

        for panel in walk(json.loads(DASHBOARD_FILE.read_text())["panels"]):
            for target in panel.get("targets", []):
                panels.append((panel["title"], target["expr"]))
        unknown = []
        for expr in expressions + [expr for _, expr in panels]:
            names, regexes = referenced_metrics(expr)
            for name in names - exported:
                unknown.append(f"{name} (in {expr.strip()[:80]!r})")
            for regex in regexes:
                if not any(re.fullmatch(regex, name) for name in exported):
                    unknown.append(f"__name__=~{regex!r} matches nothing")
        self.check(not unknown, "every alert and dashboard query names metrics the running system exports: "
                                + "; ".join(sorted(set(unknown))))
        empty = [f"{title}: {expr}" for title, expr in panels
                 if not self.prometheus.query(expr.replace("$__rate_interval", "2m"))]
        self.check(not empty, "every dashboard panel returns data: empty: " + "; ".join(empty))
        self.report.append(f"monitoring: {len(exported)} metric names scraped; {len(expressions)} alert and "
                           f"{len(panels)} panel queries checked, {len(set(unknown))} unknown, {len(empty)} empty")


def referenced_metrics(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, ``__name__`` regexes) a PromQL expression selects."""
    regexes = {regex.encode().decode("unicode_escape") for regex in re.findall(r'__name__\s*=~\s*"([^"]*)"', expr)}
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    identifiers = set(re.findall(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[)\s,]|$)", bare))
    names = {name for name in identifiers if name.startswith(("engage_", "rabbitmq_", "process_")) or name == "up"}
    return names, regexes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make prod-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the rig running until Ctrl-C")
    args = parser.parse_args(argv)
    rig = Rig(keep=args.keep)
    try:
        return rig.run()
    except RigError as exc:
        print(f"prod-check: the rig could not run: {exc}", flush=True)
        return 2
    finally:
        rig.close()


if __name__ == "__main__":
    sys.exit(main())
