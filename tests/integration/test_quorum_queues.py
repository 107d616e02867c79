"""With ``QUEUE_TYPE=quorum`` a service declares every durable queue as a quorum queue, and still works.

A quorum queue keeps its messages on a majority of a cluster's nodes, so the
loss of one node loses nothing (`make prod-check` kills one under load). The
retry queues dead-letter at least once, refusing new messages rather than
dropping old ones, so nothing is lost between a retry queue and its target.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from deploy.local.broker import management_request
from services.common.bus import durable_queue_arguments, retry_queue_arguments
from services.common.config import ConfigError
from services.common.consumer import RetrySchedule
from tests.support.platform import wait_for


def queues_of(infrastructure, vhost_uri: str) -> dict[str, dict]:
    _, management, _ = infrastructure
    vhost = quote(urlsplit(vhost_uri).path[1:] or "/", safe="")
    return {queue["name"]: queue for queue in management_request(management, "GET", f"/api/queues/{vhost}")}


def test_quorum_arguments_and_the_retry_queues_dead_letter_at_least_once():
    assert durable_queue_arguments({}) == {}
    assert durable_queue_arguments({"QUEUE_TYPE": "quorum"}) == {"x-queue-type": "quorum"}
    assert retry_queue_arguments({"QUEUE_TYPE": "quorum"}) == {
        "x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    schedule = RetrySchedule("ideas", "ideas.retry", (1.0, 5.0),
                             tuple(sorted(retry_queue_arguments({"QUEUE_TYPE": "quorum"}).items())))
    arguments = schedule.queue(2).queue_arguments
    assert arguments["x-message-ttl"] == 5000 and arguments["x-queue-type"] == "quorum"
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    with pytest.raises(ConfigError, match="QUEUE_TYPE is 'mirrored'; it must be one of classic, quorum"):
        durable_queue_arguments({"QUEUE_TYPE": "mirrored"})


def test_a_service_configured_for_quorum_declares_its_queues_so_and_handles_events(platform, infrastructure, vhost):
    platform.overrides["ideas"] = {"QUEUE_TYPE": "quorum"}
    platform.start("members", "ideas")
    queues = wait_for(lambda: (lambda found: found if {"rpc-ideas", "rpc-members"} <= set(found) else None)(
        queues_of(infrastructure, vhost)), timeout=15, message="the RPC queues to be declared")
    ideas = {name: queue for name, queue in queues.items() if name.startswith(("ideas.", "rpc-ideas"))}
    assert "rpc-ideas" in ideas and "ideas.keep_member_names" in ideas, sorted(queues)
    for name, queue in ideas.items():
        assert queue["type"] == "quorum", f"{name} is {queue['type']}"
        assert queue["durable"]
    members = {name: queue for name, queue in queues.items() if name.startswith(("members.", "rpc-members"))}
    assert members and all(queue["type"] == "classic" for queue in members.values())
    # Events reach the service through its quorum queue, and RPC through its quorum request queue.
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
        member = rpc.members.register({"email": "rosa@dta.example.gov.au", "display_name": "Rosa Nguyen",
                                       "password": "a long enough password", "agency": "dta"})
        with pytest.raises(Exception, match="There is no such idea"):
            rpc.ideas.get_idea("no-such-idea")
    wait_for(lambda: platform.db("ideas").member_names.find_one({"_id": member["id"]}), timeout=15,
             message="ideas to hear of the new member")
