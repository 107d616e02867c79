"""The system under measurement: a private broker, a fresh storage server and services as `nameko run` processes.

Everything is started the way `make run` starts it (one `nameko run` process
per service, configured from the environment), but on a RabbitMQ node and a
storage server of the benchmark's own, on free ports, so a running
`make run` or test run is never disturbed and nothing is left behind.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pymongo
import requests

from deploy.local import broker_users, processes
from deploy.local.broker import PrivateBroker, management_request
from bench import event_source
from deploy.local.storage import PrivateStorage

ROOT = Path(__file__).resolve().parents[1]

# The benchmark's own services (the event path's producer and consumer) live in bench/.
MODULES = {
    "event_source": ("bench.event_source", "bench/event_path.yml"),
    "event_sink": ("bench.event_sink", "bench/event_path.yml"),
    "bare_page": ("bench.bare_page", "bench/event_path.yml"),
}
START_ORDER = ("members", "ideas", "notify", "archive", "web")


PUBLISHER = event_source.SERVICE_NAME
BENCH_PUBLISHER_URI = "BENCH_PUBLISHER_AMQP_URI"


class ServiceProcess:
    """One service as a `nameko run` process in its own session, on its own HTTP port."""

    def __init__(self, name: str, env: dict, log_dir: Path):
        self.name = name
        module, config = MODULES.get(name, (f"services.{name}.service", f"services/{name}/config.yml"))
        self.module, self.config = module, config
        self.port = processes.free_port()
        prefix = "BENCH" if name in MODULES else name.upper()
        self.env = {**env, f"{prefix}_PORT": str(self.port), f"{prefix}_HOST": "127.0.0.1"}
        # Each service logs in as its own broker user, as in production; the event path's producer as the
        # benchmark's own publisher (consumers believe only the user an exchange is named after); the
        # benchmark's other probes as the operator.
        if name == "event_source":
            self.env["AMQP_URI"] = env[BENCH_PUBLISHER_URI]
        else:
            user = name if name in broker_users.service_users() else broker_users.OPERATOR
            self.env["AMQP_URI"] = broker_users.uri_for(env["AMQP_URI"], user)
        if name in MODULES:
            self.env["BENCH_SERVICE"] = name
            self.env["BENCH_DATABASE"] = f"bench_{name}"
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> "ServiceProcess":
        nameko = str(Path(sys.executable).with_name("nameko"))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([nameko, "run", "--config", self.config, self.module], cwd=ROOT,
                                            env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{processes.tail(self.log_path, 30)}")
            try:
                if requests.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} was not ready within {timeout} s:\n{processes.tail(self.log_path, 30)}")

    def stop(self, timeout: float = 10) -> None:
        if self.process and self.process.poll() is None:
            processes.signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                processes.signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def resident_megabytes(self) -> float:
        """VmRSS of the service's process (the `nameko run` interpreter), in MB (10^6 bytes)."""
        return resident_megabytes(self.process.pid)


def resident_megabytes(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


class System:
    """Broker, storage and services for one benchmark run; ``close()`` removes all of it."""

    def __init__(self, say=print):
        self.say = say
        self.broker = PrivateBroker("bench")
        self.storage = PrivateStorage("bench", cache_size="1G")
        self.log_dir = Path(tempfile.mkdtemp(prefix="engage-bench-logs-"))
        self.services: dict[str, ServiceProcess] = {}
        self.env: dict = {}

    def start_infrastructure(self) -> None:
        self.broker.start()
        self.storage.start()
        publisher_uri = self._add_bench_publisher()
        self.env = {key: value for key, value in os.environ.items()
                    if not key.endswith(("_DATABASE", "_PORT", "_HOST"))}
        self.env.update({"AMQP_URI": self.broker.amqp_uri, "MONGO_URI": self.storage.mongo_uri,
                         BENCH_PUBLISHER_URI: publisher_uri, "ENGAGE_ENV": "development", "PYTHONUNBUFFERED": "1",
                         "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})

    def _add_bench_publisher(self) -> str:
        """A broker user for the event path's producer, with a service's rights over its own ``bench.*`` names."""
        own = rf"^({PUBLISHER}\..*|rpc-{PUBLISHER}|rpc\.reply-{PUBLISHER}-.*|nameko-rpc)$"
        password = secrets.token_urlsafe(18)
        management_request(self.broker.management_url, "PUT", f"/api/users/{PUBLISHER}",
                           {"password": password, "tags": ""})
        management_request(self.broker.management_url, "PUT", f"/api/permissions/%2F/{PUBLISHER}",
                           {"configure": own, "write": own, "read": own[:-2] + r"|.*\.events)$"})
        parts = urlsplit(self.broker.amqp_uri)
        return urlunsplit((parts.scheme, f"{PUBLISHER}:{password}@{parts.hostname}:{parts.port}", parts.path, "", ""))

    def oplog_entries(self) -> tuple[int, int]:
        """(entries in the storage server's oplog, how many of them are data changes rather than no-op notes)."""
        oplog = self.mongo().local["oplog.rs"]
        return oplog.count_documents({}), oplog.count_documents({"op": {"$ne": "n"}})

    def mongo(self) -> pymongo.MongoClient:
        if not hasattr(self, "_mongo"):
            self._mongo = pymongo.MongoClient(self.storage.mongo_uri, tz_aware=True)
        return self._mongo

    def start_services(self, names, extra_env: dict | None = None) -> dict[str, ServiceProcess]:
        """Start ``names`` (members first, the gateway last, as `make run` does) and wait for /ready."""
        env = dict(self.env, **(extra_env or {}))
        ordered = [n for n in START_ORDER if n in names] + [n for n in names if n not in START_ORDER]
        if "members" in ordered and "members" not in self.services:
            members = ServiceProcess("members", env, self.log_dir)
            members.env["MEMBERS_JWKS_URL"] = members.url + "/.well-known/jwks.json"  # members checks tokens too
            members.start().wait_ready()
            self.services["members"] = members
        jwks = self.services["members"].url + "/.well-known/jwks.json" if "members" in self.services else ""
        started = []
        for name in ordered:
            if name in self.services:
                continue
            service_env = dict(env, MEMBERS_JWKS_URL=jwks)
            service = ServiceProcess(name, service_env, self.log_dir)
            if name == "web":
                service.env["PUBLIC_BASE_URL"] = service.url
                for other in started:  # the gateway waits for the others, like make run's phases
                    other.wait_ready()
            service.start()
            started.append(service)
            self.services[name] = service
        for service in started:
            service.wait_ready()
        return {name: self.services[name] for name in ordered}

    def stop_services(self, names=None) -> None:
        for name in list(names or self.services):
            service = self.services.pop(name, None)
            if service:
                service.stop()

    def url(self, name: str) -> str:
        return self.services[name].url

    def close(self) -> None:
        self.stop_services()
        if hasattr(self, "_mongo"):
            self._mongo.close()
        self.storage.close()
        self.broker.close()
