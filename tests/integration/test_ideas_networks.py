"""An idea names a network of practice only when its author belongs to it (learned from members' events)."""
from tests.integration.ideas_support import PASSWORD, start_world
from tests.support.platform import wait_for


def _refused_naming_network(answer) -> bool:
    return answer.status_code == 422 and "network" in answer.json()["error"]["fields"]


def test_an_idea_may_name_only_a_network_its_author_belongs_to(platform):
    world = start_world(platform)
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "ato", "name": "Australian Taxation Office"},
                                  {"email": "otto@example.gov.au", "display_name": "Otto Admin", "password": PASSWORD})
    rosa = world.member("Rosa Nguyen")
    own = world.network(rosa, "Engagement practitioners")
    foreign = world.network(world.log_in("otto@example.gov.au"), "Tax practice")

    assert world.submit(rosa, network=own)["network"] == own
    for network in (foreign, "no-such-network"):
        answer = world.call("POST", "/api/v1/ideas", rosa, json={"title": "Elsewhere", "description": "x",
                                                                   "network": network})
        assert _refused_naming_network(answer), (network, answer.text)
    idea = world.submit(rosa)
    moved = world.call("PATCH", f"/api/v1/ideas/{idea['id']}", rosa, json={"network": foreign})
    assert _refused_naming_network(moved), moved.text
    assert platform.db("ideas").ideas.count_documents({"network": foreign}) == 0


def test_after_leaving_a_network_a_member_can_no_longer_name_it(platform):
    world = start_world(platform)
    rosa = world.member("Rosa Nguyen")
    network = world.network(world.tokens["Ada Admin"], "Engagement practitioners")
    assert world.call("POST", f"/api/v1/networks/{network}/membership", rosa).status_code == 200
    rosas = {"network": network, "member_id": world.ids["Rosa Nguyen"]}
    wait_for(lambda: platform.db("ideas").network_memberships.count_documents({**rosas, "member": True}),
             message="ideas hears that Rosa joined")
    assert world.call("DELETE", f"/api/v1/networks/{network}/membership", rosa).status_code == 200
    wait_for(lambda: not platform.db("ideas").network_memberships.count_documents({**rosas, "member": True}),
             message="ideas hears that Rosa left")
    answer = world.call("POST", "/api/v1/ideas", rosa, json={"title": "Left", "description": "x", "network": network})
    assert _refused_naming_network(answer), answer.text
