"""The gateway's read cache of idea pages, kept current by the ideas service's events.

Promise: what the cache answers is never older than the newest event the
gateway has heard about that idea, nor older than the gateway's own last
write to it. A repeat view of an idea costs no RPC.

How: every gateway process binds its own non-durable, exclusive queue to
``ideas.events`` with the key ``#`` (a broadcast: each replica hears every
event). Each event names an idea and carries its version; the cache drops
what it holds for that idea when it is older, and refuses to store a copy
older than the newest version announced (so a slow fetch cannot put stale
data back). The gateway's own writes announce the version they produced
before the response goes out, so a member sees their own rating or comment
on their very next view even before the event arrives. While the cache is
not subscribed (starting, or the broker connection is lost) it answers
nothing and stores nothing; on every (re)connection it starts empty,
because events may have been missed meanwhile.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections import OrderedDict
from typing import Callable

import eventlet
from kombu import Connection, Consumer, Queue
from nameko.extensions import DependencyProvider, SharedExtension

from services.common.bus import peer_events_exchange
from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)

DEFAULT_SIZE = 5000


class IdeaReadCache(SharedExtension):
    """Idea page data by idea id, and each viewer's own part of it, current by version."""

    metrics = ServiceMetrics()

    def setup(self) -> None:
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.size = int(config.get("IDEA_CACHE_SIZE") or DEFAULT_SIZE)
        self.pages: OrderedDict[str, dict] = OrderedDict()
        self.viewers: dict[str, dict[str, dict]] = {}
        self.announced: OrderedDict[str, int] = OrderedDict()
        self.connected = False
        self._generation = 0
        self._running = False
        self._lock = threading.RLock()
        self.lookups = self.metrics.counter("idea_cache_lookups", "Idea page cache lookups by outcome (hit, miss, "
                                            "bypass while not subscribed).", ["part", "outcome"])
        self.metrics.gauge("idea_cache_subscribed", "1 while the idea cache hears the ideas service's events.", [],
                           lambda: [((), 1.0 if self.connected else 0.0)])
        self.metrics.gauge("idea_cache_entries", "Idea pages held by the read cache.", [],
                           lambda: [((), float(len(self.pages)))])

    def start(self) -> None:
        self._running = True
        self.container.spawn_managed_thread(self._listen, identifier="idea-read-cache")

    def stop(self) -> None:
        self._running = False

    kill = stop

    # -- reading ------------------------------------------------------------

    def page(self, idea_id: str, fetch: Callable[[], dict]) -> dict:
        """The idea's page data: from the cache when current, else ``fetch()`` (and kept for next time)."""
        with self._lock:
            generation = self._generation
            if self.connected and idea_id in self.pages:
                self.pages.move_to_end(idea_id)
                self.lookups.labels("page", "hit").inc()
                return self.pages[idea_id]
        self.lookups.labels("page", "miss" if self.connected else "bypass").inc()
        data = fetch()
        # Drafts are their author's alone; only open content is shared between viewers.
        if data["idea"]["state"] != "draft":
            self._store_page(idea_id, data, generation)
        return data

    def viewer(self, idea_id: str, member_id: str, fetch: Callable[[], dict]) -> dict:
        """The member's own rating and following flag on the idea, cached like the page."""
        with self._lock:
            generation = self._generation
            held = self.viewers.get(idea_id, {}).get(member_id)
            if self.connected and held is not None:
                self.lookups.labels("viewer", "hit").inc()
                return held
        self.lookups.labels("viewer", "miss" if self.connected else "bypass").inc()
        data = fetch()
        with self._lock:
            if self._current(idea_id, data.get("version", 0), generation) and idea_id in self.pages:
                self.viewers.setdefault(idea_id, {})[member_id] = data
        return data

    def _store_page(self, idea_id: str, data: dict, generation: int) -> None:
        with self._lock:
            if not self._current(idea_id, data["version"], generation):
                return
            self.pages[idea_id] = data
            self.pages.move_to_end(idea_id)
            while len(self.pages) > self.size:
                evicted, _ = self.pages.popitem(last=False)
                self.viewers.pop(evicted, None)

    def _current(self, idea_id: str, version: int, generation: int) -> bool:
        return self.connected and generation == self._generation and version >= self.announced.get(idea_id, 0)

    # -- keeping current ----------------------------------------------------

    def announce(self, idea_id: str, version: int | None = None) -> None:
        """Idea ``idea_id`` changed (to ``version`` when known): drop what is older.

        Called for every event heard, and by the gateway after its own writes
        (read-your-writes). Without a version everything held for the idea goes.
        """
        with self._lock:
            if version is not None:
                self.announced[idea_id] = max(version, self.announced.get(idea_id, 0))
                self.announced.move_to_end(idea_id)
                while len(self.announced) > self.size * 10:
                    self.announced.popitem(last=False)
            held = self.pages.get(idea_id)
            if held is not None and (version is None or held["version"] < version):
                del self.pages[idea_id]
            viewers = self.viewers.get(idea_id)
            if viewers:
                for member_id in [m for m, v in viewers.items() if version is None or v.get("version", 0) < version]:
                    del viewers[member_id]

    def clear(self) -> None:
        with self._lock:
            self.pages.clear()
            self.viewers.clear()
            self._generation += 1

    def on_event(self, body: bytes) -> None:
        """One envelope from ``ideas.events``: announce its idea and version."""
        try:
            envelope = json.loads(body)
            data = envelope.get("data") or {}
            idea_id = data.get("idea_id") or envelope.get("subject")
            version = data.get("version")
        except (ValueError, AttributeError):
            log.warning("the idea cache heard a message it cannot read; it clears itself to stay correct")
            self.clear()
            return
        if idea_id:
            self.announce(str(idea_id), version if isinstance(version, int) else None)

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            self.pages.clear()
            self.viewers.clear()
            self._generation += 1
            self.connected = connected

    def _listen(self) -> None:
        delay = 0.2
        while self._running:
            try:
                with Connection(self.amqp_uri, heartbeat=20, connect_timeout=5) as connection:
                    channel = connection.channel()
                    # Passive: the ideas service owns its exchange (the gateway may not configure it);
                    # until it exists there is nothing to hear.
                    exchange = peer_events_exchange("ideas", declare=False)
                    exchange(channel).declare()
                    queue = Queue(f"web.idea-cache.{uuid.uuid4().hex[:12]}", exchange=exchange,
                                  routing_key="#", durable=False, exclusive=True, auto_delete=True)
                    consumer = Consumer(channel, queues=[queue], no_ack=True,
                                        on_message=lambda message: self.on_event(message.body))
                    with consumer:
                        self._set_connected(True)
                        delay = 0.2
                        while self._running:
                            try:
                                connection.drain_events(timeout=1)
                            except socket.timeout:
                                connection.heartbeat_check()
            except Exception as exc:  # the broker went away or the exchange is not there yet
                if self.connected:
                    log.warning("the idea cache lost its event subscription (%s); it answers nothing until it is "
                                "back", exc.__class__.__name__)
            finally:
                self._set_connected(False)
            if self._running:
                eventlet.sleep(delay)
                delay = min(delay * 2, 5.0)


class IdeaCache(DependencyProvider):
    """Gives route handlers the container's ``IdeaReadCache``."""

    cache = IdeaReadCache()

    def get_dependency(self, worker_ctx) -> IdeaReadCache:
        return self.cache

