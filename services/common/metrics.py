"""Prometheus metrics: one registry per service, names ``engage_<service>_…``.

Every service gets entrypoint calls and latency by outcome (``EntrypointMetrics``:
``success``, ``refused`` for an answered 4xx, ``error`` for a 5xx or a crash),
events published and consumed by type and outcome, the process's own figures
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_open_fds`` …), and any domain gauges it registers with
``ServiceMetrics.gauge``; gauges are computed when scraped so they are never stale.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import (CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)
disable_created_metrics()  # the _created series double every counter for no use here

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
GaugeReading = Callable[[], Iterable[tuple[tuple[str, ...], float]]]


class ServiceMetrics(SharedExtension):
    """The service's registry and its standard metrics, made when bound so other extensions can register at setup."""

    def bind(self, container):
        instance = super().bind(container)
        if not hasattr(instance, "registry"):
            instance.open()
        return instance

    def open(self) -> None:
        self.prefix = f"engage_{self.container.service_name}"
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = self.counter("entrypoint_calls", "Entrypoint calls by outcome.", ["entrypoint", "outcome"])
        self.duration = Histogram(f"{self.prefix}_entrypoint_duration_seconds", "Entrypoint latency.",
                                  ["entrypoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Histogram(f"{self.prefix}_request_duration_seconds",
                                  "Latency of requests someone waits on (RPC and HTTP), within their deadlines.",
                                  ["entrypoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.published = self.counter("events_published", "Events published to the bus, by type.", ["type"])
        self.consumed = self.counter(
            "events_consumed", "Events consumed, by type and outcome "
            "(processed, deduplicated, retried, dead_lettered, stale, held while storage is unreachable); "
            "a service's own work items count here under their handler's name.", ["type", "outcome"])
        from services.common.contract import all_specs

        for spec in all_specs():  # each series exists, at zero, before the first event: a rate() of nothing is 0
            if spec.publisher == self.container.service_name:
                self.published.labels(spec.name)
        self._gauges: list[tuple[str, str, list[str], GaugeReading]] = []
        self.registry.register(_GaugeCollector(self))
        ProcessCollector(registry=self.registry)  # CPU, memory, open files: what an operator checks first

    def count_call(self, entrypoint: str, outcome: str, seconds: float, *, request: bool) -> None:
        """One call of ``entrypoint``: its outcome, and how long it took (also as a request someone waited on)."""
        self.calls.labels(entrypoint, outcome).inc()
        self.duration.labels(entrypoint).observe(seconds)
        if request:
            self.requests.labels(entrypoint).observe(seconds)

    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(f"{self.prefix}_{name}", doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, labels: list[str], read: GaugeReading) -> None:
        """Register a gauge computed at scrape time: ``read()`` yields ``(label values, value)``."""
        if any(existing[0] == name for existing in self._gauges):
            return
        self._gauges.append((name, doc, labels, read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _GaugeCollector:
    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics

    def describe(self):
        return []

    def collect(self):
        for name, doc, labels, read in self.metrics._gauges:
            family = GaugeMetricFamily(f"{self.metrics.prefix}_{name}", doc, labels=labels)
            try:
                for label_values, value in read():
                    family.add_metric(list(label_values), value)
            except Exception:  # a scrape must not fail because storage is down
                log.warning("gauge %s could not be read", name, exc_info=True)
                continue
            yield family


class EntrypointMetrics(DependencyProvider):
    """Counts every entrypoint call by outcome and times it (the scrape itself is not counted)."""

    metrics = ServiceMetrics()
    IGNORED = frozenset({"metrics_endpoint"})

    def __init__(self):
        self._started: dict = {}

    def setup(self) -> None:
        for entrypoint in self.container.entrypoints:  # every outcome's series exists, at zero, from the start
            if entrypoint.method_name not in self.IGNORED:
                for outcome in ("success", "refused", "error"):
                    self.metrics.calls.labels(entrypoint.method_name, outcome)

    def worker_setup(self, worker_ctx) -> None:
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        name = worker_ctx.entrypoint.method_name
        if started is None or name in self.IGNORED:
            return
        outcome = call_outcome(result, exc_info[1] if exc_info is not None else None)
        self.metrics.count_call(name, outcome, time.perf_counter() - started, request=_is_request(worker_ctx.entrypoint))

    def get_dependency(self, worker_ctx) -> ServiceMetrics:
        return self.metrics


def _is_request(entrypoint) -> bool:
    from nameko.rpc import Rpc
    from nameko.web.handlers import HttpRequestHandler

    return isinstance(entrypoint, (Rpc, HttpRequestHandler))


def call_outcome(result, exc: BaseException | None) -> str:
    """``refused`` for a call that said no (a 4xx, raised or answered), ``error`` for a 5xx or a crash.

    An HTTP entrypoint answers a refusal with a response rather than raising, so its status decides.
    """
    from services.common.errors import DomainError

    if exc is not None:
        status = getattr(exc, "status", 500) if isinstance(exc, DomainError) else 500
    else:
        status = result[0] if isinstance(result, tuple) and result else getattr(result, "status_code", 200)
        status = status if isinstance(status, int) else 200
    if status >= 500:
        return "error"
    return "refused" if status >= 400 else "success"
