"""The storage server stops answering (SIGSTOP) for 20 s while members keep using the site.

Pages that need no storage keep answering at once; everything else answers
503 within the gateway's deadline instead of hanging; after SIGCONT
the platform recovers by itself, and every comment that was stored has
exactly one event and one notification: nothing lost, nothing doubled.
"""
from __future__ import annotations

import pytest

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.chaos.conftest import report
from tests.integration.ideas_support import start_world
from tests.support.platform import wait_for

# A fault scenario of a minute or more: `make chaos` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.chaos_long

PAUSE_SECONDS = 20.0
DEADLINE = 8.0  # the gateway's RPC_TIMEOUT_SECONDS default; a request's storage calls give up after 6 s together


def attempt(world, method: str, path: str, token: str | None = None, **kwargs) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = world.call(method, path, token, **kwargs).status_code
    except requests.RequestException:
        status = 0  # no answer at all
    return status, time.monotonic() - started


def test_pages_keep_answering_while_storage_is_paused_and_nothing_is_lost_or_doubled(platform, controls, healthy):
    world = start_world(platform)
    platform.start("notify")
    author, commenter = world.tokens["Ada Admin"], world.member("Rosa Nguyen")
    idea_id = world.submit(author)["id"]

    sent: dict[str, int] = {}

    def comment(text: str) -> tuple[int, float]:
        status, took = attempt(world, "POST", f"/api/v1/ideas/{idea_id}/comments", commenter, json={"body": text})
        sent[text] = status
        return status, took

    for n in range(3):
        assert comment(f"before the pause {n}")[0] == 201
    wait_for(lambda: _notified(platform, idea_id) == 3, message="the comments' events to be handled")
    assert world.call("GET", f"/ideas/{idea_id}").status_code == 200  # the idea page is now in the gateway's cache

    group = controls.storage.process_group()
    os.killpg(group, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        no_storage = {path: attempt(world, "GET", path) for path in
                      ("/health", "/login", "/static/engage.css", "/favicon.ico", f"/ideas/{idea_id}")}
        with ThreadPoolExecutor(max_workers=6) as pool:
            writes = list(pool.map(comment, [f"during the pause {n}" for n in range(4)]))
            reads = list(pool.map(lambda path: attempt(world, "GET", path, commenter),
                                  ["/api/v1/ideas", "/api/v1/notifications", "/api/v1/me"]))
        time.sleep(max(0.0, PAUSE_SECONDS - (time.monotonic() - paused_at)))
    finally:
        os.killpg(group, signal.SIGCONT)
    resumed_at = time.monotonic()

    for path, (status, took) in no_storage.items():
        assert status == 200 and took < 1.5, f"{path} answered {status} in {took:.1f} s while storage was paused"
    for status, took in writes + reads:
        assert status == 503, f"answered {status} while storage was paused"
        assert took < DEADLINE, f"took {took:.1f} s"

    recovered = wait_for(lambda: attempt(world, "GET", "/api/v1/ideas", commenter)[0] == 200 and time.monotonic(),
                         timeout=30, interval=0.2, message="the API to answer again")
    for n in range(3):
        assert comment(f"after the pause {n}")[0] == 201

    stored = wait_for(lambda: _comments(platform, idea_id) if _notified(platform, idea_id) == len(
        _comments(platform, idea_id)) else None, timeout=30, message="a notification for every stored comment")
    answered = {text for text, status in sent.items() if status == 201}
    assert answered <= set(stored), "a comment the member was told was posted is missing"
    assert len(stored) == len(set(stored)), "a comment was stored twice"
    assert set(stored) <= set(sent), "a comment nobody sent was stored"
    report("storage paused", seconds=PAUSE_SECONDS, recovered_after=f"{recovered - resumed_at:.1f} s",
           answers_during_pause=sorted(status for status, _ in writes + reads),
           slowest_during_pause=f"{max(took for _, took in writes + reads):.1f} s",
           comments_sent=len(sent), stored=len(stored), notifications=_notified(platform, idea_id))


def _comments(platform, idea_id: str) -> list[str]:
    return [doc["body"] for doc in platform.db("ideas").comments.find({"idea_id": idea_id}, {"body": 1})]


def _notified(platform, idea_id: str) -> int:
    return platform.db("notify").notifications.count_documents({"idea_id": idea_id, "kind": {"$regex": "comment"}})
