"""Fault scenarios: the private broker and storage server are stopped, killed and restarted here.

Under ``make test`` / ``make chaos`` the runner started the pair and wrote
their state files (``ENGAGE_TEST_BROKER_STATE``, ``ENGAGE_TEST_STORAGE_STATE``),
so these tests control the same nodes every other test uses. Run directly
with pytest, this directory starts a pair of its own.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

from tests.support.processes import ServiceProcess, base_env

FULL = os.environ.get("CHAOS_SCALE", "").lower() == "full"
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items):
    """Every scenario here stops or restarts the broker and storage other tests use: it runs alone."""
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.alone)


def scale(ci: int, full: int) -> int:
    """The size of a scenario: ``ci`` normally, ``full`` with ``CHAOS_SCALE=full``."""
    return full if FULL else ci


@dataclass
class Infrastructure:
    broker: object
    storage: object

    @property
    def amqp_uri(self) -> str:
        return self.broker.amqp_uri

    @property
    def management_url(self) -> str:
        return self.broker.management_url

    @property
    def mongo_uri(self) -> str:
        return self.storage.mongo_uri


@pytest.fixture(scope="session")
def controls():
    """The private broker and storage server, restartable: ``controls.broker.restart()``, ``controls.storage.stop()``."""
    from deploy.local.broker import PrivateBroker
    from deploy.local.storage import PrivateStorage

    broker_state, storage_state = os.environ.get("ENGAGE_TEST_BROKER_STATE"), os.environ.get("ENGAGE_TEST_STORAGE_STATE")
    if broker_state and storage_state:
        yield Infrastructure(PrivateBroker.from_state(broker_state), PrivateStorage.from_state(storage_state))
        return
    broker, storage = PrivateBroker(purpose="chaos"), PrivateStorage("chaos")
    broker.start()
    storage.start()
    try:
        yield Infrastructure(broker, storage)
    finally:
        broker.close()
        storage.close()


@pytest.fixture(scope="session")
def infrastructure(controls):
    """The same triple as the suite's fixture, pointing at the nodes this directory can restart."""
    yield controls.amqp_uri, controls.management_url, controls.mongo_uri


@pytest.fixture
def healthy(controls):
    """Make sure the broker and storage are up again after each scenario, whatever happened in it."""
    yield controls
    for part in (controls.broker, controls.storage):
        if not part.is_running():
            part.start()


class Cluster:
    """Service replicas as processes on one scenario's vhost and databases; all stopped at the end."""

    def __init__(self, amqp_uri: str, mongo_uri: str, logs, **settings: str):
        self.prefix = f"c{uuid.uuid4().hex[:8]}"
        self.env = base_env(amqp_uri, mongo_uri, self.prefix, **settings)
        self.logs = logs
        self.replicas: list[ServiceProcess] = []

    def database_name(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def start(self, name: str, replica: int = 1, **env: str) -> ServiceProcess:
        process = ServiceProcess(name, {**self.env, **env}, self.logs / f"{name}-{replica}.log", replica)
        self.replicas.append(process)
        return process.start()

    def close(self) -> None:
        for process in self.replicas:
            process.kill()


@pytest.fixture
def cluster(vhost, mongo_uri, tmp_path, healthy):
    running = Cluster(vhost, mongo_uri, tmp_path)
    yield running
    running.close()


def report(scenario: str, **figures) -> None:
    """Print a scenario's figures on one line (kept in the test output and in docs/reliability.md)."""
    print(f"\n[{scenario}] " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in figures.items()), flush=True)
