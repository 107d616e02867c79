"""Services as real `nameko run` processes, for scenarios that kill them (SIGKILL) or restart what they use."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from deploy.local import broker_users

ROOT = Path(__file__).resolve().parents[2]
MODULES = {"probe": ("tests.support.probe", "members")}
"""Services whose module or configuration file is not ``services.<name>.service`` / ``services/<name>/config.yml``."""


DATABASE_PREFIX = "ENGAGE_TEST_DATABASE_PREFIX"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """One replica of a service as its own process, on its own HTTP port.

    ``start()`` waits for ``/ready``; ``kill()`` sends SIGKILL (no clean-up at
    all, as a crash or the OOM killer would); ``stop()`` asks it to finish. The
    process writes its log to ``log_path``.
    """

    def __init__(self, name: str, env: dict, log_path: Path, replica: int = 1):
        self.name = name
        self.replica = replica
        module, config = MODULES.get(name, (f"services.{name}.service", name))
        self.module, self.config = module, config
        self.port = free_port()
        variable = f"{config.upper()}_PORT"
        self.env = {**env, variable: str(self.port), f"{config.upper()}_HOST": "127.0.0.1"}
        if broker_users.user_of(env["AMQP_URI"]) == broker_users.OPERATOR:
            # Each service logs in as its own broker user, as in production; a scenario may pass a user of its own.
            self.env["AMQP_URI"] = broker_users.uri_for(env["AMQP_URI"], broker_user_of(name))
        if env.get(DATABASE_PREFIX):
            self.env[f"{config.upper()}_DATABASE"] = f"{env[DATABASE_PREFIX]}_{name}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ServiceProcess":
        nameko = str(Path(sys.executable).with_name("nameko"))
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [nameko, "run", "--config", f"services/{self.config}/config.yml", self.module],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} was not ready within {timeout} s:\n{self.log_tail()}")

    def is_ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to ack, flush or close anything."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a Prometheus sample over series matching ``labels`` (0 when absent)."""
        total = 0.0
        text = requests.get(f"{self.url}/metrics", timeout=5).text
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def broker_user_of(service: str) -> str:
    """The broker user a service logs in as: its own, or ``operator`` for services only the tests have."""
    return service if service in broker_users.service_users() else broker_users.OPERATOR


def base_env(amqp_uri: str, mongo_uri: str, prefix: str, **extra: str) -> dict:
    """Environment for service processes of one scenario: its vhost, its databases, test settings."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_DATABASE")}
    env.update({DATABASE_PREFIX: prefix, "AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "ENGAGE_ENV": "test", "LOG_FORMAT": "text",
                "OUTBOX_SWEEP_SECONDS": "0.2", "EVENT_RETRY_DELAYS": "0.2,0.4", "REGISTRATION_LIMIT": "100000 per hour",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    env.update(extra)
    return env
