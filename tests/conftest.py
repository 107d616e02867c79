"""Test wiring: the real RabbitMQ node and storage server that ``make test`` started.

``make test`` starts a private broker and storage server and exports their
addresses (``ENGAGE_TEST_AMQP_URI``, ``ENGAGE_TEST_MANAGEMENT_URL``,
``ENGAGE_TEST_MONGO_URI``). Run directly with pytest, this file starts its own
pair for the session. Each test gets its own vhost and its own databases, so
tests never see each other's queues or documents.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import os  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

from tests.support.platform import Platform  # noqa: E402

os.environ.setdefault("ENGAGE_ENV", "test")
os.environ.setdefault("LOG_FORMAT", "text")


@pytest.fixture(scope="session")
def infrastructure():
    """(amqp uri, management url, mongo uri) of the private broker and storage server."""
    amqp = os.environ.get("ENGAGE_TEST_AMQP_URI")
    management = os.environ.get("ENGAGE_TEST_MANAGEMENT_URL")
    mongo = os.environ.get("ENGAGE_TEST_MONGO_URI")
    if amqp and management and mongo:
        yield amqp, management, mongo
        return
    from deploy.local.broker import PrivateBroker
    from deploy.local.storage import PrivateStorage

    broker = PrivateBroker(purpose="pytest")
    storage = PrivateStorage()
    broker.start()
    storage.start()
    try:
        yield broker.amqp_uri, broker.management_url, storage.mongo_uri
    finally:
        broker.stop()
        storage.stop()


@pytest.fixture
def vhost(infrastructure):
    """A fresh vhost for one test; its AMQP URI."""
    from deploy.local.broker import create_vhost, delete_vhost, vhost_uri

    amqp, management, _ = infrastructure
    name = f"t-{uuid.uuid4().hex[:10]}"
    create_vhost(management, name)
    yield vhost_uri(amqp, name)
    delete_vhost(management, name)


@pytest.fixture
def mongo_uri(infrastructure):
    return infrastructure[2]


@pytest.fixture
def platform(vhost, mongo_uri):
    """Start services in this process: ``platform.start("members", "web")``."""
    running = Platform(amqp_uri=vhost, mongo_uri=mongo_uri, prefix=f"t{uuid.uuid4().hex[:8]}")
    yield running
    running.stop()
