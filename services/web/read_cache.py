"""The gateway's read cache: what pages show, kept current by the events of the services it comes from.

Promise: what the cache answers is never older than the newest event the
gateway has heard on what the page depends on, nor older than the gateway's
own last write to it. A repeat view of a cached page costs no RPC, and a cold
one costs what its fetch costs (one RPC for every page that uses the cache).

How: each entry is an RPC's answer keyed by (page, query) and tagged with
what it depends on: a whole exchange (``"ideas"``: any idea event changes the
lists) or one aggregate on it (``"ideas:<id>"``: only that idea's events
change its page). Every gateway process binds its own non-durable, exclusive
queues to the exchanges in ``SUBSCRIPTIONS`` (a broadcast: each replica hears
every event). An event announces its exchange and its aggregate with the
aggregate's version: entries under the exchange's tag go, and entries under
the aggregate's tag go unless they already hold that version. Each
announcement also moves a clock, and an answer is stored only when none of its
tags was announced after its fetch began, so a slow fetch cannot put stale
data back. The gateway's own writes announce the same way before the response
goes out (read-your-writes). While not subscribed (starting, or the broker
connection is lost) the cache answers nothing and stores nothing; on every
(re)connection it starts empty, because events may have been missed
meanwhile. Entries are shared by every viewer, so a caller keeps what is
theirs alone (drafts, their own rating, what they may edit) out of them or
under a key that names them. At most ``PAGE_CACHE_SIZE`` entries are held,
the least recently used going first.

Whole answers too: a route that reads only through the cache (``kept=True``
on its entrypoint) has its 200 answer kept under everything the request
varies on (path, query, cookie, language, accepted type, host) and tagged
with every tag it read, so the same request is answered from memory by the
web server itself, without a worker, until one of those tags is announced.
A member's answer also ends with their bell count's lifetime and with their
own events (``members:<id>``); an answer that sets a cookie, or a request with
a bearer credential, is never kept.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import eventlet
from kombu import Connection, Consumer, Queue, binding
from nameko.extensions import DependencyProvider, SharedExtension

from services.common.bus import peer_events_exchange
from services.common.http import HeaderedWebServer
from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)

DEFAULT_SIZE = 5000
# The exchanges pages depend on, and the routing keys worth hearing on each.
# Archived ideas keep member names without an event of the archive's own, so
# a deactivation (members' event) invalidates archive pages too; the networks
# shown on the home page change with their creation and their members.
SUBSCRIPTIONS = {"ideas": ("#",), "archive": ("#",),
                 "members": ("member.deactivated", "network.created", "member.joined_network", "member.left_network")}


@dataclass
class Entry:
    data: Any
    tags: tuple[str, ...]
    version: int | None
    expires: float | None = None  # time.monotonic() after which the entry is not answered


@dataclass(frozen=True)
class KeptAnswer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    entrypoint: str


def answer_key(environ: dict) -> tuple | None:
    """What a request's whole answer may vary on, or None for a request whose answer is never kept."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("HTTP_AUTHORIZATION"):
        return None
    return ("answer", environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), environ.get("HTTP_COOKIE", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""), environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_HOST", ""))


class ReadCache(SharedExtension):
    """RPC answers by (page, query), dropped by the events (and the gateway's writes) of what they depend on."""

    metrics = ServiceMetrics()
    server = HeaderedWebServer()

    def setup(self) -> None:
        self.server.keep_answers_with(self)
        self.reads: dict[Any, PageReads] = {}
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.size = int(config.get("PAGE_CACHE_SIZE") or DEFAULT_SIZE)
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.tagged: dict[str, set[tuple]] = {}
        self.changed: OrderedDict[str, int] = OrderedDict()
        self.connected = False
        self._clock = 0
        self._floor = 0  # fetches begun before this may have missed an announcement
        self._running = False
        self._lock = threading.RLock()
        self.lookups = self.metrics.counter("page_cache_lookups", "Page cache lookups by page and outcome (hit, "
                                            "miss, bypass while not subscribed, answer: the whole answer sent "
                                            "from memory).", ["page", "outcome"])
        self.metrics.gauge("page_cache_subscribed", "1 while the page cache hears the events its pages depend on.",
                           [], lambda: [((), 1.0 if self.connected else 0.0)])
        self.metrics.gauge("page_cache_entries", "Answers held by the page cache.", [],
                           lambda: [((), float(len(self.entries)))])

    def start(self) -> None:
        self._running = True
        self.container.spawn_managed_thread(self._listen, identifier="page-read-cache")

    def stop(self) -> None:
        self._running = False

    kill = stop

    # -- reading ------------------------------------------------------------

    def get(self, key: tuple, tags: tuple[str, ...], fetch: Callable[[], Any], *,
            keep: Callable[[Any], bool] | None = None, version: Callable[[Any], int] | None = None) -> Any:
        """``fetch()``'s answer for ``key``: from the cache when held, else fetched and kept for next time.

        ``key[0]`` names the page (for the metrics). The answer is kept only
        when ``keep(answer)`` allows it (answers that are not everyone's stay
        out) and no tag in ``tags`` was announced while it was fetched;
        ``version(answer)`` is the aggregate version it shows, so that an
        announcement of that same version (the event after the gateway's own
        write) does not drop it.
        """
        with self._lock:
            started = self._clock
            entry = self._held(key)
            outcome = "hit" if entry is not None else "miss" if self.connected else "bypass"
        self.lookups.labels(key[0], outcome).inc()
        if entry is not None:
            return entry.data
        data = fetch()
        if keep is None or keep(data):
            self._store(key, Entry(data, tags, version(data) if version else None), started)
        return data

    def _held(self, key: tuple) -> Entry | None:
        entry = self.entries.get(key) if self.connected else None
        if entry is None:
            return None
        if entry.expires is not None and entry.expires <= time.monotonic():
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry

    # -- whole answers --------------------------------------------------------

    def reads_for(self, worker_ctx) -> "PageReads":
        """The reads of one request's worker, begun now; the entrypoint's answer may be kept on them."""
        reads = self.reads[worker_ctx] = PageReads(self, self._clock)
        return reads

    def answer(self, environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """The kept answer to this request, if one is held (``KeptAnswers`` for the web server)."""
        key = answer_key(environ)
        if key is None:
            return None
        began = time.perf_counter()
        with self._lock:
            entry = self._held(key)
        if entry is None:
            return None
        kept: KeptAnswer = entry.data
        self.lookups.labels(kept.entrypoint, "answer").inc()
        self.metrics.count_call(kept.entrypoint, "success", time.perf_counter() - began, request=True)
        return kept.status, kept.headers, kept.body

    def keep_answer(self, worker_ctx, response, *, member_id: str | None, expires: float | None) -> None:
        """Keep ``response`` to ``worker_ctx``'s request when it is everyone's with that request's cookie.

        ``member_id`` is the logged-in member the answer shows (None for a
        visitor), and ``expires`` when what it shows of them (the bell's count,
        the token) stops being current.
        """
        reads = self.reads.get(worker_ctx)
        request = worker_ctx.args[0] if worker_ctx.args else None
        if reads is None or not reads.shareable or request is None:
            return
        key = answer_key(request.environ)
        if key is None or response.status_code != 200 or "Set-Cookie" in response.headers or response.is_streamed:
            return
        tags = tuple(reads.tags) + ((f"members:{member_id}", f"unread:{member_id}") if member_id else ())
        kept = KeptAnswer(response.status, response.get_wsgi_headers(request.environ).to_wsgi_list(),
                          response.get_data(), worker_ctx.entrypoint.method_name)
        self._store(key, Entry(kept, tags, None, expires), reads.started)

    def forget(self, tag: str) -> None:
        """Drop everything under ``tag`` (a member's bell changed: ``unread:<id>``)."""
        with self._lock:
            self._announce(tag, None)

    def _store(self, key: tuple, entry: Entry, started: int) -> None:
        with self._lock:
            if not self.connected or started < self._floor or any(
                    self.changed.get(tag, -1) > started for tag in entry.tags):
                return
            self._drop(key)
            self.entries[key] = entry
            for tag in entry.tags:
                self.tagged.setdefault(tag, set()).add(key)
            while len(self.entries) > self.size:
                self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        for tag in entry.tags:
            keys = self.tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.tagged[tag]

    # -- keeping current ----------------------------------------------------

    def announce(self, exchange: str, subject: str | None = None, version: int | None = None) -> None:
        """Something on ``exchange`` changed (aggregate ``subject``, now at ``version`` when known).

        Called for every event heard, and by the gateway after its own writes
        (read-your-writes), before the response goes out.
        """
        with self._lock:
            self._announce(exchange, None)
            if subject:
                self._announce(f"{exchange}:{subject}", version)

    def _announce(self, tag: str, version: int | None) -> None:
        self._clock += 1
        self.changed[tag] = self._clock
        self.changed.move_to_end(tag)
        while len(self.changed) > self.size * 10:
            _, forgotten = self.changed.popitem(last=False)
            self._floor = max(self._floor, forgotten)
        for key in list(self.tagged.get(tag, ())):
            held = self.entries[key].version
            if version is None or held is None or held < version:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.tagged.clear()
            self._clock += 1
            self._floor = self._clock

    def on_event(self, exchange: str, body: bytes) -> None:
        """One envelope from ``<exchange>.events``: announce its exchange, aggregate and version."""
        try:
            envelope = json.loads(body)
            data = envelope.get("data") or {}
            # Comment events are about a comment, but it is the idea's page they change.
            subject = data.get("idea_id") or data.get("resource_id") or envelope.get("subject")
            version = data.get("version")
        except (ValueError, AttributeError):
            log.warning("the page cache heard a message it cannot read; it clears itself to stay correct")
            self.clear()
            return
        self.announce(exchange, str(subject) if subject else None, version if isinstance(version, int) else None)

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            self.clear()
            self.connected = connected

    def _listen(self) -> None:
        delay = 0.2
        while self._running:
            try:
                with Connection(self.amqp_uri, heartbeat=20, connect_timeout=5) as connection:
                    channel = connection.channel()
                    queues = []
                    for service, routing_keys in SUBSCRIPTIONS.items():
                        # Passive: each service owns its exchange (the gateway may not configure it);
                        # until it exists there is nothing to hear.
                        exchange = peer_events_exchange(service, declare=False)
                        exchange(channel).declare()
                        queues.append(Queue(f"web.page-cache.{service}.{uuid.uuid4().hex[:12]}",
                                            bindings=[binding(exchange, routing_key=key) for key in routing_keys],
                                            durable=False, exclusive=True, auto_delete=True))
                    consumer = Consumer(channel, queues=queues, no_ack=True, on_message=lambda message: self.on_event(
                        message.delivery_info["exchange"].removesuffix(".events"), message.body))
                    with consumer:
                        self._set_connected(True)
                        delay = 0.2
                        while self._running:
                            try:
                                connection.drain_events(timeout=1)
                            except socket.timeout:
                                connection.heartbeat_check()
            except Exception as exc:  # the broker went away or an exchange is not there yet
                if self.connected:
                    log.warning("the page cache lost its event subscription (%s); it answers nothing until it is "
                                "back", exc.__class__.__name__)
            finally:
                self._set_connected(False)
            if self._running:
                eventlet.sleep(delay)
                delay = min(delay * 2, 5.0)


class PageReads:
    """One request's reads through the cache: the tags its answer depends on, since when, and whether it is shared.

    Route handlers use it as they would the cache (``get``, ``announce``); an
    answer that made a write (an announcement) or read something kept out of
    the cache (``keep`` said no) is never kept whole.
    """

    def __init__(self, cache: ReadCache, started: int):
        self.cache = cache
        self.started = started
        self.tags: set[str] = set()
        self.shareable = True

    def get(self, key: tuple, tags: tuple[str, ...], fetch: Callable[[], Any], *,
            keep: Callable[[Any], bool] | None = None, version: Callable[[Any], int] | None = None) -> Any:
        data = self.cache.get(key, tags, fetch, keep=keep, version=version)
        self.tags.update(tags)
        if keep is not None and not keep(data):
            self.shareable = False
        return data

    def announce(self, exchange: str, subject: str | None = None, version: int | None = None) -> None:
        self.shareable = False
        self.cache.announce(exchange, subject, version)


class PageCache(DependencyProvider):
    """Gives each route handler's worker its ``PageReads`` on the container's ``ReadCache``."""

    cache = ReadCache()

    def get_dependency(self, worker_ctx) -> PageReads:
        return self.cache.reads_for(worker_ctx)

    def worker_teardown(self, worker_ctx) -> None:
        self.cache.reads.pop(worker_ctx, None)
