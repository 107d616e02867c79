"""Notices and webhooks of a closed network's ideas reach that network's members only (events say their audience)."""
import pytest

from services.common.contract import spec_for

from tests.integration.notify_world import World
from tests.integration.test_notify_webhooks import SHORT_BACK_OFF, Receiver, gateway, subscribe
from tests.support.platform import wait_for


@pytest.fixture
def world(platform):
    platform.overrides["notify"] = {"WEBHOOK_RETRY_DELAYS": SHORT_BACK_OFF, "WEBHOOK_SWEEP_SECONDS": 0.5}
    platform.start("members", "notify", "web")
    world = World(platform)
    for name in ("Rosa", "Tariq", "Ops"):
        world.member(name)
    return world


def test_a_closed_networks_comment_reaches_the_webhooks_and_notices_of_its_members_only(world, platform):
    with world.rpc("Rosa") as rpc:
        slug = rpc.members.create_network({"name": "Tax policy circle", "description": "x", "closed": True})["slug"]
    wait_for(lambda: platform.db("notify").memberships.find_one({"network_slug": slug, "active": True}),
             message="notify hears who belongs to the network")
    members_hook, outsiders_hook = Receiver(), Receiver()
    try:
        rosas = gateway(platform, world, "Rosa").post("/api/v1/webhooks", json={
            "url": members_hook.url, "event_types": ["comment.posted"]})
        assert rosas.status_code == 201, rosas.text
        subscribe(platform, world, outsiders_hook.url)  # Ops's, who is not in the network

        world.submit_idea("idea-closed", "Rosa")
        audience = f"network:{slug}"
        closed = {**spec_for("comment.posted").example, "comment_id": "c-closed", "idea_id": "idea-closed",
                  "author_id": world.ids["Tariq"], "author_name": "Tariq", "body": "Inside the circle",
                  "idea_author_id": world.ids["Rosa"], "mentioned_member_ids": [world.ids["Ops"]],
                  "audience": audience, "version": world.next_version("idea-closed")}
        world.publish(world.envelope("comment.posted", closed, "c-closed"))
        mention = {**spec_for("member.mentioned").example, "member_id": world.ids["Ops"], "idea_id": "idea-closed",
                   "comment_id": "c-closed", "by_member_id": world.ids["Tariq"], "by_name": "Tariq",
                   "excerpt": "@[Ops] inside the circle", "audience": audience, "version": 2}
        world.publish(world.envelope("member.mentioned", mention, world.ids["Ops"]))
        world.comment("idea-open", "Tariq", "Rosa", body="Out in the open", comment_id="c-open")

        # Events are handled in order: once the open comment has reached both, the closed one was handled.
        wait_for(lambda: len(members_hook.requests) == 2 and outsiders_hook.requests, timeout=20,
                 message="both webhooks hear the open comment, the members' one the closed comment too")
        assert [b'"c-open"' in r["body"] for r in outsiders_hook.requests] == [True]
        with world.rpc("Ops") as rpc:
            told = rpc.notify.list_notifications()["items"]
        assert not any("Inside the circle" in str(n) or "c-closed" in str(n) for n in told), told
        with world.rpc("Rosa") as rpc:
            assert any("c-closed" in str(n) for n in rpc.notify.list_notifications()["items"])
    finally:
        members_hook.close()
        outsiders_hook.close()
