"""The archive's demonstration content: a resource of every kind with its licence, loaded once however often it runs."""
from services.common.contract.archive import RESOURCE_KINDS
from tests.support.accounts import register_confirmed
from tools.demo import DEMO_PASSWORD, DemoClient
from tools.demo import archive as demo


def test_seeding_twice_gives_every_kind_once_a_waiting_proposal_and_one_imported_idea(platform):
    platform.start("members", "archive", "web")
    with platform.rpc() as rpc:
        for slug, email, name in (("apsc", demo.ROSA, "Rosa Nguyen"), ("dta", demo.TARIQ, "Tariq Haddad"),
                                  ("health", demo.GRACE, "Grace Okafor")):
            rpc.members.create_agency({"slug": slug, "name": slug.upper()},
                                      {"email": email, "display_name": name, "password": DEMO_PASSWORD})
    client = DemoClient(platform.url("web"))
    register_confirmed(platform, {"email": demo.JILL, "display_name": "Jill Moreton", "password": DEMO_PASSWORD,
                                  "agency": "apsc"})
    said = []
    demo.seed(client, say=said.append)
    demo.seed(client, say=said.append)
    resources = client.call("GET", "/api/v1/archive/resources", params={"limit": 200}).json()
    assert sorted(r["kind"] for r in resources["items"]) == sorted(RESOURCE_KINDS)
    assert all(r["licence"] and r["attribution"] for r in resources["items"])
    assert len(client.call("GET", "/api/v1/archive/proposals", as_member=demo.ROSA).json()["items"]) == 1
    ideas = client.call("GET", "/api/v1/archive/ideas").json()["items"]
    assert [i["title"] for i in ideas] == ["Register of Engagement Evaluations"]
    assert ideas[0]["comments"][1]["posted_at"] == "2017-08-16T13:05:00+10:00"
    assert len(said) == len(RESOURCE_KINDS) + 2
