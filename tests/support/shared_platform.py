"""A platform shared by every test in a module, for modules whose tests can share one set of running services.

Starting services costs seconds; tests that only add data of their own (new
members, new ideas, new queues) can run against one platform. Each module
still gets its own vhost and databases.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import requests

from tests.support.platform import Platform


@contextmanager
def shared_platform(infrastructure):
    """A ``Platform`` on a fresh vhost, stopped and its vhost deleted afterwards."""
    amqp, management, mongo = infrastructure
    vhost = f"m-{uuid.uuid4().hex[:10]}"
    session = requests.Session()
    session.put(f"{management}/api/vhosts/{vhost}", timeout=10).raise_for_status()
    session.put(f"{management}/api/permissions/{vhost}/guest",
                json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10).raise_for_status()
    platform = Platform(amqp_uri=amqp.rstrip("/") + "/" + vhost, mongo_uri=mongo, prefix=f"m{uuid.uuid4().hex[:8]}")
    try:
        yield platform
    finally:
        platform.stop()
        session.delete(f"{management}/api/vhosts/{vhost}", timeout=10)
