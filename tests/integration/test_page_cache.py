"""The pages people read most, from the gateway's page cache: repeat views cost no RPC, events and own writes show."""
import pytest
import requests

from tests.integration.archive_support import ArchiveClient
from tests.integration.ideas_support import start_world
from tests.integration.test_ideas_events_and_pages import metric
from tests.support.platform import wait_for


def rpc_calls(platform, service: str, entrypoint: str) -> float:
    return metric(platform.url(service), f"engage_{service}_entrypoint_calls_total", entrypoint=entrypoint,
                  outcome="success")


def subscribed(platform) -> None:
    wait_for(lambda: metric(platform.url("web"), "engage_web_page_cache_subscribed") == 1, timeout=15,
             message="the page cache to subscribe")


@pytest.fixture
def world(platform):
    return start_world(platform)


def test_a_repeat_view_of_the_ideas_list_costs_no_rpc_and_a_rating_reorders_it_for_the_rater_at_once(world):
    web = world.platform.url("web")
    author = world.member("Rosa Nguyen")
    first = world.submit(author, title="Community panels register")
    second = world.submit(author, title="Plain language checklist")
    subscribed(world.platform)
    assert "Plain language checklist" in requests.get(f"{web}/ideas?sort=top", timeout=10).text
    world.call("GET", "/api/v1/ideas", params={"sort": "top"})
    before = rpc_calls(world.platform, "ideas", "list_ideas")
    for _ in range(3):
        assert requests.get(f"{web}/ideas?sort=top", timeout=10).status_code == 200
        assert world.call("GET", "/api/v1/ideas", params={"sort": "top"}).status_code == 200
    assert rpc_calls(world.platform, "ideas", "list_ideas") == before, "repeat views were served from the cache"

    tariq = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{first['id']}/rating", tariq, json={"stars": 5})
    top = world.call("GET", "/api/v1/ideas", tariq, params={"sort": "top"}).json()["items"]
    assert [item["id"] for item in top][:2] == [first["id"], second["id"]]
    assert top[0]["rating"]["count"] == 1


def test_an_ideas_event_from_elsewhere_refreshes_the_cached_list(world):
    web = world.platform.url("web")
    author = world.member("Rosa Nguyen")
    world.submit(author, title="Community panels register")
    subscribed(world.platform)
    assert "Street-level listening posts" not in requests.get(f"{web}/ideas", timeout=10).text
    with world.platform.rpc(author) as rpc:  # not through this gateway: only the event tells it
        rpc.ideas.submit_idea({"title": "Street-level listening posts", "description": "Stalls at markets.",
                               "what_it_might_look_like": "A stall.", "why_it_matters": "Reach.", "prompts": [],
                               "tags": []})
    wait_for(lambda: "Street-level listening posts" in requests.get(f"{web}/ideas", timeout=10).text,
             timeout=5, message="the event to refresh the cached list")


def test_a_members_own_drafts_stay_out_of_the_shared_list(world):
    author = world.member("Rosa Nguyen")
    world.submit(author, title="My quiet draft", draft=True)
    mine = world.call("GET", "/api/v1/ideas", author, params={"state": "draft"}).json()["items"]
    assert [item["title"] for item in mine] == ["My quiet draft"]
    assert world.call("GET", "/api/v1/ideas", world.member("Tariq Haddad"), params={"state": "draft"}).json()[
        "items"] == []


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    return ArchiveClient(platform)


def test_the_archive_home_and_a_resource_cost_one_rpc_cold_and_none_again_and_a_write_shows_at_once(archive):
    platform = archive.platform
    resource = archive.publish(title="Facilitation basics", kind="course")
    subscribed(platform)
    home_before = rpc_calls(platform, "archive", "front_page")
    assert "Facilitation basics" in archive.call("GET", "/archive").text
    assert rpc_calls(platform, "archive", "front_page") == home_before + 1
    assert rpc_calls(platform, "archive", "list_resources") == 0, "the home page is one RPC"
    archive.call("GET", f"/archive/resources/{resource['id']}")
    resource_before = rpc_calls(platform, "archive", "get_resource")
    for _ in range(3):
        assert archive.call("GET", "/archive").status_code == 200
        page = archive.call("GET", f"/archive/resources/{resource['id']}", archive.admin)
        assert page.status_code == 200
        assert archive.call("GET", f"/api/v1/archive/resources/{resource['id']}", archive.admin).json()["may_edit"]
        assert not archive.call("GET", f"/api/v1/archive/resources/{resource['id']}", archive.member).json()[
            "may_edit"], "what one caller may edit is not shared with another"
    assert rpc_calls(platform, "archive", "front_page") == home_before + 1
    assert rpc_calls(platform, "archive", "get_resource") == resource_before

    archive.publish(title="Workshop planning canvas")
    assert "Workshop planning canvas" in archive.call("GET", "/archive").text
    revised = archive.call("PUT", f"/api/v1/archive/resources/{resource['id']}", archive.admin,
                           json={"kind": "course", "title": "Facilitation, the basics",
                                 "summary": "A canvas for planning workshops.", "body": "Use it first.",
                                 "licence": "CC-BY-4.0", "attribution": "Department of Health", "tags": [],
                                 "note": "Clearer title."})
    assert revised.status_code == 200, revised.text
    assert "Facilitation, the basics" in archive.call("GET", f"/archive/resources/{resource['id']}").text


def test_a_repeat_page_is_sent_whole_from_memory_and_a_write_through_the_gateway_shows_at_once(world):
    web = world.platform.url("web")
    author = world.member("Rosa Nguyen")
    idea = world.submit(author, title="Community panels register")
    subscribed(world.platform)

    def answered_from_memory() -> float:
        return metric(web, "engage_web_page_cache_lookups_total", outcome="answer", page="idea_page")

    first = requests.get(f"{web}/ideas/{idea['id']}", timeout=10)
    assert first.status_code == 200 and "Set-Cookie" not in first.headers, "a visitor's page sets no cookie"
    # The idea's own event may still arrive and drop the first answer; the next views are then kept.
    wait_for(lambda: requests.get(f"{web}/ideas/{idea['id']}", timeout=10).ok and answered_from_memory() > 0,
             timeout=5, message="a repeat view answered from memory")
    before = answered_from_memory()
    calls = metric(web, "engage_web_entrypoint_calls_total", entrypoint="idea_page", outcome="success")
    again = requests.get(f"{web}/ideas/{idea['id']}", timeout=10)
    assert again.content == first.content and again.headers["Content-Security-Policy"]
    assert answered_from_memory() == before + 1
    # Operators still see every request: a kept answer counts as a call of its route.
    assert metric(web, "engage_web_entrypoint_calls_total", entrypoint="idea_page", outcome="success") == calls + 1

    tariq = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 4})
    assert "4.0" in requests.get(f"{web}/ideas/{idea['id']}", timeout=10).text, "the rating shows at once"
