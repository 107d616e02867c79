"""Broker accounts for outside systems that subscribe to the public events (``engage subscriber …``).

An account is a RabbitMQ user ``subscriber-<name>`` that may declare, bind
and read only queues of its own (``subscriber.<name>.…``, or server-named
``amq.gen-…`` ones) and read only the public ``*.events`` exchanges into
them. It may write to no exchange, so it can neither publish an event nor
call a service over RPC. Accounts are made through the management API as
the operator, the way ``deploy/local/broker_users.py`` installs the
project's own users, and the user is tagged ``engage-subscriber`` so that
listing finds them and nothing else.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from deploy.local.broker import management_request

PUBLIC_EXCHANGES = ("members", "ideas", "notify", "archive")
TAG = "engage-subscriber"
USER_PREFIX = "subscriber-"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")


class BadSubscriberName(ValueError):
    """A name the queue and user patterns cannot hold safely."""


@dataclass(frozen=True)
class Account:
    name: str
    user: str
    uri: str


def user_for(name: str) -> str:
    if not NAME.match(name or ""):
        raise BadSubscriberName(f"{name!r}: use 2 to 41 lower-case letters, digits and hyphens, starting with a "
                                f"letter or digit")
    return USER_PREFIX + name


def permissions_for(name: str) -> dict:
    """What the account may touch: its own queues, and reading the public exchanges into them.

    Binding needs write on the queue and read on the exchange; publishing
    needs write on an exchange, which no pattern here allows for any of the
    platform's (its own ``subscriber.<name>.…`` names are all it could make).
    """
    own = rf"subscriber\.{re.escape(name)}\..*|amq\.gen-.*"
    public = "|".join(re.escape(f"{service}.events") for service in PUBLIC_EXCHANGES)
    return {"configure": f"^({own})$", "write": f"^({own})$", "read": f"^({own}|{public})$"}


def _vhost(amqp_uri: str) -> str:
    path = urlsplit(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _uri(amqp_uri: str, user: str, password: str) -> str:
    parts = urlsplit(amqp_uri)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}" + (
        f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def create(management_url: str, amqp_uri: str, name: str) -> Account:
    """Make (or re-key) the account ``name`` on ``amqp_uri``'s vhost; its URI carries a new password."""
    user = user_for(name)
    password = secrets.token_urlsafe(24)
    management_request(management_url, "PUT", f"/api/users/{quote(user, safe='')}",
                       {"password": password, "tags": TAG})
    management_request(management_url, "PUT",
                       f"/api/permissions/{quote(_vhost(amqp_uri), safe='')}/{quote(user, safe='')}",
                       permissions_for(name))
    return Account(name, user, _uri(amqp_uri, user, password))


def listed(management_url: str) -> list[str]:
    """Names of the subscriber accounts on the broker."""
    users = management_request(management_url, "GET", "/api/users") or []
    return sorted(user["name"][len(USER_PREFIX):] for user in users
                  if TAG in _tags(user) and user["name"].startswith(USER_PREFIX))


def revoke(management_url: str, name: str) -> bool:
    """Delete the account (its open connections close); False when there was none."""
    import urllib.error

    try:
        management_request(management_url, "DELETE", f"/api/users/{quote(user_for(name), safe='')}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return True


def _tags(user: dict) -> list[str]:
    tags = user.get("tags") or []
    return tags.split(",") if isinstance(tags, str) else list(tags)
