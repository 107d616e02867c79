"""The gateway's calls to services have deadlines: an outage is a 503 or 504 in bounded time, never a hang.

A call the gateway gave up on expires in the service's queue, so it never runs
after the member has moved on (or retried); one stuck service holds at most
``RPC_CONCURRENCY_PER_SERVICE`` of the gateway's workers, so every other page
keeps answering.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.ideas_support import IDEA, start_world

pytestmark = pytest.mark.alone  # it compares times: another test process beside it would skew them

DEADLINE = 4.0


def timed(world, method: str, path: str, token: str | None = None, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = world.call(method, path, token, **kwargs)
    return response, time.monotonic() - started


def test_a_service_that_does_not_answer_is_a_504_within_the_deadline_and_other_pages_still_answer(platform):
    platform.overrides["web"] = {"RPC_TIMEOUT_SECONDS": DEADLINE}
    world = start_world(platform)
    platform.stop_service("ideas")

    response, took = timed(world, "GET", "/api/v1/ideas")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timed_out"
    assert "ideas" in response.json()["error"]["message"]
    assert took < DEADLINE + 2

    page = requests.get(f"{world.url}/ideas", timeout=10)
    assert page.status_code == 504
    assert "text/html" in page.headers["Content-Type"]

    assert requests.get(f"{world.url}/api/v1/agencies", timeout=5).status_code == 200
    assert requests.get(f"{world.url}/login", timeout=5).status_code == 200


def test_a_write_the_gateway_gave_up_on_never_runs_when_the_service_returns(platform):
    platform.overrides["web"] = {"RPC_TIMEOUT_SECONDS": DEADLINE}
    world = start_world(platform)
    token = world.member("Rosa Nguyen")
    platform.stop_service("ideas")

    response, took = timed(world, "POST", "/api/v1/ideas", token, json={**IDEA, "title": "Sent while ideas was down"})
    assert response.status_code == 504
    time.sleep(DEADLINE + 0.5)  # the request's message has expired in the queue by now

    platform.start("ideas")
    mine = world.call("GET", "/api/v1/ideas?limit=50", token).json()["items"]
    assert [idea for idea in mine if idea["title"] == "Sent while ideas was down"] == []
    assert platform.db("ideas").ideas.count_documents({"title": "Sent while ideas was down"}) == 0


def test_one_stuck_service_holds_only_its_share_of_the_gateways_workers(platform):
    platform.overrides["web"] = {"RPC_TIMEOUT_SECONDS": DEADLINE, "RPC_CONCURRENCY_PER_SERVICE": 2}
    world = start_world(platform)
    platform.stop_service("ideas")

    with ThreadPoolExecutor(max_workers=6) as pool:
        waiting = [pool.submit(timed, world, "GET", "/api/v1/ideas") for _ in range(5)]
        time.sleep(0.5)
        others = [timed(world, "GET", "/api/v1/agencies") for _ in range(5)]
        statuses = sorted(future.result()[0].status_code for future in waiting)

    assert statuses == [503, 503, 503, 504, 504]  # two wait out the deadline, the rest are told at once
    assert all(response.status_code == 200 and took < 2 for response, took in others)
