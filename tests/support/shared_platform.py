"""A platform shared by every test in a module, for modules whose tests can share one set of running services.

Starting services costs seconds; tests that only add data of their own (new
members, new ideas, new queues) can run against one platform. Each module
still gets its own vhost and databases.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

from deploy.local.broker import create_vhost, delete_vhost, vhost_uri
from tests.support.platform import Platform


@contextmanager
def shared_platform(infrastructure):
    """A ``Platform`` on a fresh vhost, stopped and its vhost deleted afterwards."""
    amqp, management, mongo = infrastructure
    vhost = f"m-{uuid.uuid4().hex[:10]}"
    create_vhost(management, vhost)
    platform = Platform(amqp_uri=vhost_uri(amqp, vhost), mongo_uri=mongo, prefix=f"m{uuid.uuid4().hex[:8]}")
    try:
        yield platform
    finally:
        platform.stop()
        delete_vhost(management, vhost)
