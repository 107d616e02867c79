"""The project's broker users on every broker a run uses: one per service, and `operator` for the CLI.

Users and what they may touch come from ``deploy/rabbitmq/definitions.json``,
the file docker-compose loads; ``install`` imports them into a broker (users,
permissions, the shared exchanges and policies) for any vhost, adding to what
the broker holds and never changing other users (such as the system broker's
``guest``). Passwords are not the file's: each comes from
``<USER>_AMQP_PASSWORD`` when set, else from ``.data/broker-users.json``,
which is git-ignored and generated with random passwords on first use.
Stdlib only.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"
SECRETS = ROOT / ".data" / "broker-users.json"
OPERATOR = "operator"


def definitions() -> dict:
    return json.loads(DEFINITIONS.read_text())


def user_names() -> list[str]:
    """Every user the definitions create: the services' and ``operator``."""
    return [user["name"] for user in definitions()["users"]]


def service_users() -> list[str]:
    return [name for name in user_names() if name != OPERATOR]


def passwords() -> dict[str, str]:
    """Each user's password: ``<USER>_AMQP_PASSWORD``, else the local secrets file (made on first use)."""
    stored = _stored_passwords()
    return {name: os.environ.get(f"{name.upper()}_AMQP_PASSWORD") or stored[name] for name in user_names()}


def _stored_passwords() -> dict[str, str]:
    names = user_names()
    try:
        stored = json.loads(SECRETS.read_text())
    except (OSError, ValueError):
        stored = {}
    if all(stored.get(name) for name in names):
        return stored
    stored = {**{name: secrets.token_urlsafe(24) for name in names}, **{k: v for k, v in stored.items() if v}}
    SECRETS.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and renamed into place: test processes starting together all read one file.
    handle, temporary = tempfile.mkstemp(dir=SECRETS.parent, prefix=".broker-users-")
    with os.fdopen(handle, "w") as out:
        json.dump(stored, out, indent=2)
    os.replace(temporary, SECRETS)
    return json.loads(SECRETS.read_text())


def uri_for(amqp_uri: str, user: str) -> str:
    """``amqp_uri`` (any user) logging in as ``user`` of the project, same host, port and vhost."""
    parts = urlsplit(amqp_uri)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(passwords()[user], safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def user_of(amqp_uri: str) -> str:
    return unquote(urlsplit(amqp_uri).username or "guest")


def definitions_for(vhost: str, *, with_users: bool = True) -> dict:
    """The definitions document for ``vhost``, users carrying hashes of the local passwords.

    The cluster name and other global settings stay out: on a broker the
    project did not start they are not the project's to change.
    """
    source = definitions()
    known = passwords()
    users = [{**user, "password_hash": _password_hash(known[user["name"]]),
              "hashing_algorithm": "rabbit_password_hashing_sha256"} for user in source["users"]] if with_users else []
    return {
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": [{**entry, "vhost": vhost} for entry in source["permissions"]],
        "exchanges": [{**exchange, "vhost": vhost} for exchange in source["exchanges"]],
        "policies": [{**policy, "vhost": vhost} for policy in source["policies"]],
    }


def install(management_url: str, vhost: str = "/", *, with_users: bool = True) -> None:
    """Import the project's users, permissions, exchanges and policies for ``vhost`` through the management API."""
    from deploy.local.broker import management_request

    management_request(management_url, "POST", "/api/definitions", definitions_for(vhost, with_users=with_users))


def install_with_rabbitmqctl(ctl: str, vhost: str = "/") -> None:
    """The same as ``install`` for a broker without the management API (``rabbitmqctl import_definitions``)."""
    import subprocess

    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="engage-definitions-") as document:
        json.dump(definitions_for(vhost), document)
        document.flush()
        os.chmod(document.name, 0o644)  # the system wrapper runs the tool as the rabbitmq user
        result = subprocess.run([ctl, "import_definitions", document.name], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl import_definitions failed: {result.stdout.strip()}")


def _password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def redacted(uri: str) -> str:
    """``uri`` with its password hidden, for printing."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
