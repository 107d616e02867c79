"""Run Engagement Network services inside the test process against the private broker and storage."""
from __future__ import annotations

import importlib
import json
import socket
import time
from contextlib import contextmanager

import pika
import requests
from nameko.containers import ServiceContainer

from deploy.local import broker_users
from services.common.config import load_config
from services.common.container import container_class
from services.common.mongo import connect
from services.common.rpc import ClusterRpcProxy
from services.common.tokens import CONTEXT_KEY
from tests.support.processes import broker_user_of

# The tests' own queue on members.private, standing in for notify's where a test reads a one-time link.
PRIVATE_INBOX = "test.members-private"

SERVICE_CLASSES = {
    "members": "services.members.service:MembersService",
    "ideas": "services.ideas.service:IdeasService",
    "notify": "services.notify.service:NotifyService",
    "archive": "services.archive.service:ArchiveService",
    "web": "services.web.service:WebGateway",
    "probe": "tests.support.probe:ProbeService",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_class(name: str):
    module, cls = SERVICE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)


class Platform:
    """Containers for the named services, with ports, databases and a vhost of this test's own.

    ``amqp_uri`` is the vhost's address as any project user; each container
    logs in as its service's own broker user, and ``rpc()`` as the operator.
    """

    def __init__(self, *, amqp_uri: str, mongo_uri: str, prefix: str):
        self.amqp_uri = broker_users.uri_for(amqp_uri, broker_users.OPERATOR)
        self.mongo_uri = mongo_uri
        self.prefix = prefix
        self.ports = {name: free_port() for name in SERVICE_CLASSES}
        self.containers: dict[str, ServiceContainer] = {}
        self.overrides: dict[str, dict] = {}
        self._mongo = connect(mongo_uri)
        self._private: list[dict] = []  # envelopes read so far from PRIVATE_INBOX

    def config(self, name: str, **extra) -> dict:
        overrides = {
            "AMQP_URI": self.uri_for(broker_user_of(name)),
            "MONGO_URI": self.mongo_uri,
            "MONGO_DATABASE": self.database_name(name),
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports[name]}",
            "MEMBERS_JWKS_URL": f"{self.url('members')}/.well-known/jwks.json",
            "PUBLIC_BASE_URL": self.url("web"),
            "ENGAGE_ENV": "test",
            "OUTBOX_SWEEP_SECONDS": 0.2,
            "EVENT_RETRY_DELAYS": "0.2,0.4",
            "ALLOW_PRIVATE_WEBHOOK_TARGETS": True,
            # Every test registers its members from 127.0.0.1; the limit has tests of its own.
            "REGISTRATION_LIMIT": "100000 per hour",
            **self.overrides.get(name, {}),
            **extra,
        }
        return load_config("members" if name == "probe" else name, overrides)

    def uri_for(self, user: str) -> str:
        """This test's vhost, logging in as ``user`` (a service's name or ``operator``)."""
        return broker_users.uri_for(self.amqp_uri, user)

    def database_name(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def db(self, name: str):
        return self._mongo[self.database_name(name)]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, *names: str, **extra) -> "Platform":
        if "members" in names:
            self._open_private_inbox()
        for name in names:
            config = self.config(name, **extra)
            container = container_class(config)(service_class(name), config)
            container.start()
            self.containers[name] = container
        for name in names:
            self.wait_ready(name)
        return self

    def _open_private_inbox(self) -> None:
        """Bind PRIVATE_INBOX to members.private as the operator (who may read every exchange), as notify's queue is.

        Private rows lose their secret once published, so this is where tests
        read the one-time links members hands to notify.
        """
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        try:
            channel = connection.channel()
            channel.exchange_declare("members.private", exchange_type="topic", durable=True)
            channel.queue_declare(PRIVATE_INBOX, durable=True)
            channel.queue_bind(PRIVATE_INBOX, "members.private", routing_key="#")
        finally:
            connection.close()

    def private_event(self, name: str, subject: str | None = None, timeout: float = 10) -> dict:
        """The first envelope of type ``name`` (about ``subject``) that members sent over ``members.private``."""
        def wanted(envelope: dict) -> bool:
            return envelope["type"].startswith(f"au.gov.engage.{name}.v") and subject in (None, envelope["subject"])

        deadline = time.monotonic() + timeout
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        try:
            channel = connection.channel()
            while True:
                found = next((envelope for envelope in self._private if wanted(envelope)), None)
                if found is not None:
                    return found
                method, _properties, body = channel.basic_get(PRIVATE_INBOX, auto_ack=True)
                if method is not None:
                    self._private.append(json.loads(body))
                    continue
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {name} arrived on members.private")
                connection.sleep(0.05)
        finally:
            connection.close()

    def wait_ready(self, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url(name)}/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become ready")
            time.sleep(0.05)

    def stop_service(self, name: str) -> None:
        container = self.containers.pop(name, None)
        if container is not None:
            container.stop()

    def kill_service(self, name: str) -> None:
        container = self.containers.pop(name, None)
        if container is not None:
            container.kill()

    def stop(self) -> None:
        """End of a test: kill the containers side by side (each consumer takes up to a second to let go)."""
        import eventlet

        def kill(name: str) -> None:
            try:
                self.kill_service(name)
            except Exception:
                pass

        pool = eventlet.GreenPool()
        for name in list(self.containers):
            pool.spawn_n(kill, name)
        pool.waitall()
        self._mongo.close()

    @contextmanager
    def rpc(self, token: str | None = None, *, as_user: str = broker_users.OPERATOR):
        """A cluster RPC proxy on this test's vhost, calling as ``token``'s member when given.

        It logs in as ``as_user``: by default the ``operator``, which without a
        token is the platform operator (tests set up agencies that way).
        """
        context = {CONTEXT_KEY: token} if token else {}
        with ClusterRpcProxy({"AMQP_URI": self.uri_for(as_user)}, context_data=context) as proxy:
            yield proxy


def production_settings(service: str, directory) -> dict:
    """What ``service`` must be told to start with ``ENGAGE_ENV=production`` here (config.PRODUCTION_SETTINGS).

    The platform gives the addresses; this adds the agency, the secrets and, for members, a signing key file.
    """
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    settings = {"ENGAGE_ENV": "production", "ENGAGE_AGENCY": "test-agency"}
    if service == "members":
        key = Path(directory) / "token-signing-key.pem"
        if not key.exists():
            key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        settings["TOKEN_PRIVATE_KEY_FILE"] = str(key)
    if service == "notify":
        settings.update({"SMTP_URL": "smtp://127.0.0.1:1", "MAIL_FROM": "Engage <engage@test.example.gov.au>",
                         "UNSUBSCRIBE_SECRET": "a long random value, as production requires"})
    if service == "web":
        settings["SECRET_KEY"] = "another long random value, as production requires"
    return settings


def wait_for(predicate, timeout: float = 10, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
