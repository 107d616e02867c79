"""Closed networks over real services: their ideas and discussion are seen by their members only (the API, lists,
search, the network's page), people ask to join and an administrator decides, and invited guests take part in
their network and nowhere else."""
import pytest

from tests.integration.ideas_support import PASSWORD, start_world
from tests.support.platform import wait_for

WORD = "zephyrwick"


@pytest.fixture
def world(platform):
    started = start_world(platform)
    platform.start("archive")
    return started


def closed_network(world, token: str, name: str = "Tax policy circle") -> str:
    created = world.call("POST", "/api/v1/networks", token, json={"name": name, "description": "Candid talk.",
                                                                    "closed": True})
    assert created.status_code == 201, created.text
    assert created.json()["closed"] is True
    slug = created.json()["slug"]
    wait_for(lambda: world.platform.db("ideas").networks.find_one({"_id": slug, "closed": True}),
             message="ideas hears that the network is closed")
    wait_for(lambda: world.platform.db("ideas").network_memberships.count_documents({"network": slug, "member": True}),
             message="ideas hears of the network's first member")
    return slug


def searched(world, token: str | None, word: str = WORD) -> list[str]:
    answer = world.call("GET", "/api/v1/search", token, params={"q": word})
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def sees(world, token: str | None, idea_id: str, slug: str) -> dict:
    """What ``token``'s holder sees of the idea: by id, in the network's list, in all ideas, in search, on the page."""
    listed = world.call("GET", "/api/v1/ideas", token, params={"network": slug})
    everything = world.call("GET", "/api/v1/ideas", token, params={"limit": 100}).json()["items"]
    activity = world.call("GET", f"/api/v1/networks/{slug}/activity", token).json()
    return {"by_id": world.call("GET", f"/api/v1/ideas/{idea_id}", token).status_code,
            "network_list": listed.status_code,
            "in_all_ideas": any(i["id"] == idea_id for i in everything),
            "in_search": idea_id in searched(world, token),
            "on_network_page": any(i["id"] == idea_id for i in activity["ideas"])}


def test_a_closed_networks_idea_is_seen_by_its_members_only_until_an_administrator_approves_a_request(world):
    rosa, tariq = world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    slug = closed_network(world, rosa)
    idea = world.submit(rosa, title=f"A {WORD} for candid tax talk", network=slug)
    assert idea["audience"] == f"network:{slug}" and idea["network_name"] == "Tax policy circle"
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", rosa, json={"body": f"More on {WORD}"})
    assert comment.status_code == 201, comment.text

    outside = {"by_id": 404, "network_list": 403, "in_all_ideas": False, "in_search": False,
               "on_network_page": False}
    assert sees(world, None, idea["id"], slug) == outside
    assert sees(world, tariq, idea["id"], slug) == outside
    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Hi"}).status_code == 404
    assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 5}).status_code == 404
    network = world.call("GET", f"/api/v1/networks/{slug}", tariq).json()
    assert network["members"] == [] and network["members_hidden"] is True

    asked = world.call("POST", f"/api/v1/networks/{slug}/membership", tariq)
    assert asked.status_code == 200 and asked.json()["requested"] is True, asked.text
    assert world.call("GET", f"/api/v1/networks/{slug}", tariq).json()["viewer"] == {
        "member": False, "admin": False, "requested": True}
    refused = world.call("GET", f"/api/v1/networks/{slug}/requests", tariq)
    assert refused.status_code == 403, refused.text
    waiting = world.call("GET", f"/api/v1/networks/{slug}/requests", rosa).json()["items"]
    assert [r["display_name"] for r in waiting] == ["Tariq Haddad"]
    assert sees(world, tariq, idea["id"], slug) == outside  # asking is not belonging

    decided = world.call("PUT", f"/api/v1/networks/{slug}/requests/{world.ids['Tariq Haddad']}", rosa,
                         json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    wait_for(lambda: world.call("GET", f"/api/v1/ideas/{idea['id']}", tariq).status_code == 200,
             message="ideas hears that Tariq was approved")
    assert sees(world, tariq, idea["id"], slug) == {"by_id": 200, "network_list": 200, "in_all_ideas": False,
                                                     "in_search": True, "on_network_page": True}
    assert sees(world, None, idea["id"], slug) == outside  # what a member saw is not shared through a cache
    again = world.call("PUT", f"/api/v1/networks/{slug}/requests/{world.ids['Tariq Haddad']}", rosa,
                       json={"decision": "decline"})
    assert again.status_code == 409, again.text
    assert world.call("GET", f"/api/v1/networks/{slug}/activity", tariq).json()["discussion"][0]["id"] == \
        comment.json()["id"]


def test_a_closed_networks_ideas_never_reach_the_archive_and_an_idea_cannot_move_out_of_it(world):
    rosa = world.member("Rosa Nguyen")
    slug = closed_network(world, rosa)
    idea = world.submit(rosa, title=f"A {WORD} kept inside", network=slug)
    public = world.submit(rosa, title="An open idea about engagement")
    # ideas' events reach the archive in order: once it holds the open idea, it has heard of the closed one
    wait_for(lambda: world.platform.db("archive").idea_copies.find_one({"_id": public["id"]}),
             message="the archive hears of the open idea")
    moved = world.call("PATCH", f"/api/v1/ideas/{idea['id']}", rosa, json={"network": None})
    assert moved.status_code == 409 and "network" in moved.json()["error"]["fields"], moved.text
    into = world.call("PATCH", f"/api/v1/ideas/{public['id']}", rosa, json={"network": slug})
    assert into.status_code == 409, into.text
    collections = world.platform.db("archive").list_collection_names()
    for name in collections:
        assert world.platform.db("archive")[name].count_documents({"idea_id": idea["id"]}) == 0, name
        assert world.platform.db("archive")[name].count_documents({"_id": idea["id"]}) == 0, name


def test_an_administrator_appoints_another_and_only_an_administrator_may(world):
    rosa, tariq, jill = world.member("Rosa Nguyen"), world.member("Tariq Haddad"), world.member("Jill Moreton")
    created = world.call("POST", "/api/v1/networks", rosa, json={"name": "Open practice", "description": "x"})
    slug = created.json()["slug"]
    assert created.json()["closed"] is False and created.json()["created_at"]
    assert world.call("POST", f"/api/v1/networks/{slug}/membership", tariq).json()["requested"] is False
    assert world.call("PUT", f"/api/v1/networks/{slug}/admins/{world.ids['Tariq Haddad']}", jill).status_code == 403
    assert world.call("PUT", f"/api/v1/networks/{slug}/admins/{world.ids['Jill Moreton']}", rosa).status_code == 409
    alone = world.call("DELETE", f"/api/v1/networks/{slug}/membership", rosa)
    assert alone.status_code == 409 and "only administrator" in alone.json()["error"]["message"], alone.text
    appointed = world.call("PUT", f"/api/v1/networks/{slug}/admins/{world.ids['Tariq Haddad']}", rosa)
    assert appointed.status_code == 200, appointed.text
    roles = {m["display_name"]: m["role"] for m in world.call("GET", f"/api/v1/networks/{slug}").json()["members"]}
    assert roles == {"Rosa Nguyen": "admin", "Tariq Haddad": "admin"}
    assert world.call("GET", f"/api/v1/networks/{slug}/requests", tariq).status_code == 200
    assert world.call("DELETE", f"/api/v1/networks/{slug}/membership", rosa).status_code == 200  # Tariq runs it now


def test_an_invited_guest_takes_part_in_their_network_only(world):
    rosa, tariq = world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    slug = closed_network(world, rosa)
    inside = world.submit(rosa, title=f"A {WORD} with partners", network=slug)
    agency_wide = world.submit(rosa, title="An agency-wide idea")
    assert world.call("POST", f"/api/v1/networks/{slug}/guests", tariq,
                      json={"email": "pat@uni.example.edu"}).status_code == 403
    invited = world.call("POST", f"/api/v1/networks/{slug}/guests", rosa, json={"email": "pat@uni.example.edu"})
    assert invited.status_code == 201, invited.text
    token = invited.json()["invite_url"].split("invite=")[1].split("&")[0]
    registered = world.call("POST", "/api/v1/members", json={
        "email": "pat@uni.example.edu", "display_name": "Pat Partner", "password": PASSWORD, "agency": "dta",
        "invite": token})
    assert registered.status_code == 201, registered.text  # not a government address, and no domain rule applies
    assert "guest" in registered.json()["roles"]
    pat = world.log_in("pat@uni.example.edu")
    assert [n["slug"] for n in world.call("GET", "/api/v1/me", pat).json()["networks"]] == [slug]
    wait_for(lambda: world.call("GET", f"/api/v1/ideas/{inside['id']}", pat).status_code == 200,
             message="ideas hears that the guest belongs to the network")

    assert world.call("POST", f"/api/v1/ideas/{inside['id']}/comments", pat, json={"body": "From academia"}
                      ).status_code == 201
    assert world.call("PUT", f"/api/v1/ideas/{inside['id']}/rating", pat, json={"stars": 4}).status_code == 200
    elsewhere = world.call("POST", f"/api/v1/ideas/{agency_wide['id']}/comments", pat, json={"body": "Hello"})
    assert elsewhere.status_code == 403 and "guest" in elsewhere.json()["error"]["message"], elsewhere.text
    assert world.call("PUT", f"/api/v1/ideas/{agency_wide['id']}/rating", pat, json={"stars": 4}).status_code == 403
    assert world.call("GET", f"/api/v1/ideas/{agency_wide['id']}", pat).status_code == 200  # open content is open
    no_network = world.call("POST", "/api/v1/ideas", pat, json={"title": "Mine", "description": "x"})
    assert no_network.status_code == 403 and "network" in no_network.json()["error"]["fields"], no_network.text
    other = world.call("POST", "/api/v1/networks", tariq, json={"name": "Another circle", "description": "x"})
    assert world.call("POST", f"/api/v1/networks/{other.json()['slug']}/membership", pat).status_code == 403
    assert world.call("POST", "/api/v1/networks", pat, json={"name": "Guests' own", "description": "x"}
                      ).status_code == 403
