"""Figures 1 and 5: events per second along the whole event path, steady and catching up after an outage.

The path is the shared kit's: a state change and its outbox row in one
transaction, the relay publishing with publisher confirms, the reliable
consumer writing one effect with the dedupe mark. The floor is
``bench.bare_event_path`` doing the same writes and publishes by hand.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import requests

from bench.report import Figure, Progress
from bench.system import ROOT, System


@dataclass
class Drain:
    """How many events arrived and how long it took, from ``started`` to the last effect stored."""

    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def wait_for_effects(collection, expected: int, started: float, progress: Progress, label: str,
                     timeout: float = 300) -> Drain:
    """Wait until ``collection`` holds ``expected`` documents; the time from ``started`` to the newest one.

    ``started`` is a wall-clock ``time.time()``. The count is polled only four
    times a second: the embedded storage server counts by scanning the
    collection, and a tight poll takes storage time from the path being
    measured (a fifth of it, polling every 20 ms). The end is the newest
    effect's own ``at`` timestamp, so the coarse poll does not blur it.
    """
    deadline = time.monotonic() + timeout
    while True:
        count = collection.estimated_document_count()
        elapsed = time.time() - started
        progress.tick(f"{label}: {count}/{expected} effects stored, {count / max(elapsed, 1e-9):.0f}/s")
        if count >= expected:
            progress.tick(f"{label}: {count}/{expected} effects stored", force=True)
            newest = collection.find_one({}, {"at": 1}, sort=[("at", -1)])["at"]
            return Drain(count, newest.timestamp() - started)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: only {count} of {expected} effects after {timeout:.0f} s")
        time.sleep(0.25)


def produce(url: str, count: int, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            answer = requests.post(f"{url}/produce", params={"count": count}, timeout=600)
            answer.raise_for_status()
        except Exception as exc:  # reported by the caller
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def framework_rate(system: System, count: int, progress: Progress, label: str = "framework") -> Drain:
    """Send ``count`` events through the producer and sink services; the drain from the first request."""
    effects = system.mongo()["bench_event_sink"].effects
    already = effects.estimated_document_count()
    errors: list = []
    started = time.time()
    thread = produce(system.url("event_source"), count, errors)
    drain = wait_for_effects(effects, already + count, started, progress, label)
    thread.join(60)
    if errors:
        raise RuntimeError(f"the producer failed: {errors[0]}")
    return Drain(count, drain.seconds)


def bare_rate(system: System, count: int, progress: Progress, database: str = "bench_bare_events") -> Drain:
    """Send ``count`` events through the bare pika + pymongo producer and consumer; the same drain."""
    effects = system.mongo()[database].effects
    already = effects.estimated_document_count()
    python = sys.executable
    uris = [system.broker.amqp_uri, system.storage.mongo_uri, database]
    consumer = subprocess.Popen([python, "-m", "bench.bare_event_path", "consume", *uris], cwd=ROOT,
                                env=system.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # the consumer declares the queue before anything is published
        if consumer.poll() is not None:
            raise RuntimeError(f"the bare consumer exited: {consumer.stderr.read().decode()[-2000:]}")
        started = time.time()
        producer = subprocess.Popen([python, "-m", "bench.bare_event_path", "produce", *uris, str(count)],
                                    cwd=ROOT, env=system.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        drain = wait_for_effects(effects, already + count, started, progress, "floor")
        if producer.wait(60) != 0:
            raise RuntimeError(f"the bare producer failed: {producer.stderr.read().decode()[-2000:]}")
        return Drain(count, drain.seconds)
    finally:
        consumer.terminate()
        consumer.wait(10)


def start_pipeline(system: System) -> None:
    system.start_services(["event_source", "event_sink"])


def measure_event_path(system: System, progress: Progress, count: int) -> Figure:
    """Figure 1: events per second through the kit ÷ through the bare script, ``count`` events each."""
    progress.say(f"[1] Event path: {count} events through the kit, then {count} through a bare pika + pymongo script")
    start_pipeline(system)
    framework_rate(system, min(200, count), progress, "warm-up")
    bare_rate(system, min(200, count), progress, "bench_bare_warmup")
    # Two rounds each, alternating, and the better of each: the machine is shared, so a burst of someone
    # else's work during one round should not decide the ratio.
    framework_rates, floor_rates = [], []
    for _ in range(2):
        framework_rates.append(framework_rate(system, count // 2, progress).rate)
        floor_rates.append(bare_rate(system, count // 2, progress).rate)
    figure = Figure("1", "Event path", max(framework_rates), max(floor_rates), "events/s", 0.70, True,
                    floor_name="bare pika + pymongo")
    figure.notes.append("rounds (events/s): kit " + ", ".join(f"{r:.0f}" for r in framework_rates)
                        + "; bare " + ", ".join(f"{r:.0f}" for r in floor_rates))
    progress.result(figure)
    return figure
