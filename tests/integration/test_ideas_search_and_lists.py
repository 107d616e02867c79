"""Listing, search and similar ideas: every query answered from an index, stemmed words found, titles first."""
import pytest

from services.common.contract.api.ideas import SORTS
from services.ideas import domain
from services.ideas.store import SORT_INDEX
from tests.integration.ideas_support import start_world


@pytest.fixture
def world(platform):
    return start_world(platform)


def plan_stages(plan: dict) -> list[dict]:
    stages = [plan]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            stages += plan_stages(plan[key])
    for child in plan.get("inputStages", []):
        stages += plan_stages(child)
    return stages


def index_used(explanation: dict) -> set[str]:
    stages = plan_stages(explanation["queryPlanner"]["winningPlan"])
    assert not [s for s in stages if s.get("stage") == "COLLSCAN"], explanation["queryPlanner"]["winningPlan"]
    return {s["indexName"] for s in stages if s.get("stage") == "IXSCAN"}


def test_search_finds_a_stemmed_word_and_ranks_a_title_hit_above_a_body_hit(world):
    token = world.member("Rosa Nguyen")
    plain = {"what_it_might_look_like": "", "why_it_matters": "", "prompts": [], "tags": []}
    in_body = world.submit(token, title="Quarterly practitioner meet-ups",
                           description="A regular gathering to improve engagement across agencies.", **plain)
    in_title = world.submit(token, title="Engagement capability for new starters",
                            description="Short courses for people new to the public service.", **plain)
    world.submit(token, title="Procurement rules", description="Simpler buying for small teams.", **plain)
    found = world.call("GET", "/api/v1/ideas/search", params={"q": "engaging"}).json()["items"]
    assert [item["id"] for item in found] == [in_title["id"], in_body["id"]]
    assert "<mark>engagement</mark>" in found[1]["snippet"]
    similar = world.call("GET", "/api/v1/ideas/similar", params={"title": "Improving engagement"}).json()["items"]
    assert {item["id"] for item in similar} == {in_title["id"], in_body["id"]}
    assert world.call("GET", "/api/v1/ideas/search", params={"q": "the of"}).json()["items"] == []


def test_lists_filter_sort_and_page_with_a_cursor(world):
    token = world.member("Rosa Nguyen")
    made = [world.submit(token, title=f"Idea {n}", tags=["budget"] if n % 2 else ["housing"]) for n in range(5)]
    page1 = world.call("GET", "/api/v1/ideas", params={"limit": 2}).json()
    page2 = world.call("GET", "/api/v1/ideas", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    page3 = world.call("GET", "/api/v1/ideas", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    newest_first = [i["id"] for i in reversed(made)]
    assert [i["id"] for i in page1["items"] + page2["items"] + page3["items"]] == newest_first
    assert page3["next_cursor"] is None
    tagged = world.call("GET", "/api/v1/ideas", params={"tag": "Budget", "state": "open"}).json()["items"]
    assert {i["id"] for i in tagged} == {made[1]["id"], made[3]["id"]}
    rater = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{made[0]['id']}/rating", rater, json={"stars": 5})
    world.call("PUT", f"/api/v1/ideas/{made[4]['id']}/rating", rater, json={"stars": 1})
    top = world.call("GET", "/api/v1/ideas", params={"sort": "top"}).json()["items"]
    assert top[0]["id"] == made[0]["id"] and top[-1]["id"] == made[4]["id"]
    world.call("POST", f"/api/v1/ideas/{made[2]['id']}/comments", rater, json={"body": "Yes please."})
    assert world.call("GET", "/api/v1/ideas", params={"sort": "discussed"}).json()["items"][0]["id"] == made[2]["id"]
    bad = world.call("GET", "/api/v1/ideas", params={"sort": "loudest", "cursor": "zz"})
    assert bad.status_code == 422 and "sort" in bad.json()["error"]["fields"]
    assert world.call("GET", "/api/v1/ideas", params={"cursor": "!!"}).status_code == 422


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("filters", [{}, {"state": "open"}, {"tag": "budget"}, {"agency": "dta"},
                                     {"network": "practitioners"}, {"state": "open", "tag": "budget"}])
def test_every_list_query_is_served_by_its_index(world, platform, sort, filters):
    token = world.member("Rosa Nguyen")
    network = world.network(token, "Practitioners")
    for n in range(3):
        world.submit(token, title=f"Idea {n}", tags=["budget"], network=network)
    facet, rest = domain.facet_for(filters, None)
    field = domain.SORT_FIELDS[sort]
    query = {"facets": facet, **{("tags" if k == "tag" else k): v for k, v in rest.items()}, field: {"$lt": "9"}}
    explanation = platform.db("ideas").ideas.find(query).sort(field, -1).limit(21).explain()
    assert index_used(explanation) == {SORT_INDEX[sort]}
    assert world.call("GET", "/api/v1/ideas", params={**filters, "sort": sort}).json()["items"]


def test_the_idea_page_and_search_queries_use_indexes(world, platform):
    token = world.member("Rosa Nguyen")
    idea = world.submit(token)
    db = platform.db("ideas")
    assert index_used(db.comments.find({"idea_id": idea["id"]}).sort("created_at", 1).explain()) == {
        "idea_id_1_created_at_1"}
    assert index_used(db.ideas.find({"_id": idea["id"]}).explain()) == {"_id_"}
    assert index_used(db.ratings.find({"_id": f"{idea['id']}:x"}).explain()) == {"_id_"}
    assert index_used(db.follows.find({"_id": f"{idea['id']}:x"}).explain()) == {"_id_"}
    from services.common import search
    query = search.mongo_filter(search.query_terms("engagement network"))
    assert index_used(db.ideas.find(query).explain()) == {search.INDEX_NAME}
