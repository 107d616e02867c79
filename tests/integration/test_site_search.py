"""The site's one search over real services: ideas in every public state (also by their comments), archive
resources and imported ideas, ranked together, with facet counts, safe snippets and did you mean; never a draft."""
import pytest
import requests

from tests.integration.archive_support import PAGES
from tests.integration.ideas_support import start_world
from tests.support.platform import wait_for

PLAIN = {"what_it_might_look_like": "", "why_it_matters": "", "prompts": [], "tags": []}


@pytest.fixture
def world(platform):
    started = start_world(platform)
    platform.start("archive")
    return started


def search(world, **params) -> dict:
    answer = world.call("GET", "/api/v1/search", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def publish_resource(world, **fields) -> dict:
    body = {"kind": "tool", "title": "Network mapping canvas", "summary": "Map who is in your network.",
            "licence": "CC-BY-4.0", "attribution": "Digital Transformation Agency", **fields}
    answer = world.call("POST", "/api/v1/archive/resources", world.tokens["Ada Admin"], json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def move(world, idea_id: str, *states: str) -> None:
    for state in states:
        moved = world.call("POST", f"/api/v1/ideas/{idea_id}/state", world.tokens["Ada Admin"], json={"state": state})
        assert moved.status_code == 200, moved.text


def test_an_open_idea_is_found_by_a_word_of_its_title_with_a_safe_snippet_and_a_draft_never(world):
    token = world.member("Rosa Nguyen")
    idea = world.submit(token, title="A service-wide network <script>alert(1)</script>",
                        description="Each agency learns from each other's <b>consultations</b>.", **PLAIN)
    world.submit(token, title="A secret network draft", description="Not yet ready.", draft=True, **PLAIN)

    found = search(world, q="network")
    assert [hit["id"] for hit in found["items"]] == [idea["id"]] and found["total"] == 1
    hit = found["items"][0]
    assert hit["title"] == "A service-wide network <script>alert(1)</script>"  # plain text, shown escaped
    assert hit["snippet"] == "Each agency learns from each other&#39;s &lt;b&gt;consultations&lt;/b&gt;."
    assert (hit["kind"], hit["state"], hit["agency"], hit["url"]) == ("idea", "open", "dta", f"/ideas/{idea['id']}")
    assert "<mark>consultations</mark>" in search(world, q="consultation")["items"][0]["snippet"]
    assert search(world, q="secret")["total"] == 0  # the draft's own word finds nothing
    assert search(world, q="secret")["did_you_mean"] is None  # nor leads anywhere

    older = world.call("GET", "/api/v1/ideas/search", params={"q": "network"}).json()["items"]
    assert [(item["id"], item["author_name"], item["comment_count"]) for item in older] == [
        (idea["id"], "Rosa Nguyen", 0)]


def test_an_idea_is_found_by_a_visible_comment_until_the_comment_is_removed(world):
    author, commenter = world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    idea = world.submit(token=author, title="Quarterly meet-ups", description="Practitioners meet.", **PLAIN)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", commenter,
                         json={"body": "Our kiosk pilot in Dubbo could host one."}).json()
    hit = search(world, q="kiosk dubbo")["items"][0]
    assert (hit["id"], hit["found_in"]) == (idea["id"], "comment")
    assert hit["snippet"] == "Our <mark>kiosk</mark> pilot in <mark>Dubbo</mark> could host one."
    assert world.call("DELETE", f"/api/v1/comments/{comment['id']}", commenter).status_code == 200
    assert search(world, q="kiosk")["total"] == 0


def test_ideas_in_every_public_state_resources_and_imported_ideas_rank_together_each_once(world, platform):
    token = world.member("Rosa Nguyen")
    in_title = world.submit(token, title="Letters in plain English", description="Rewrite them.", **PLAIN)
    adopted = world.submit(token, title="Reader panels", description="Test letters with readers.", **PLAIN)
    move(world, adopted["id"], "under_review", "adopted")
    resource = publish_resource(world, title="Letter testing kit", summary="How to test a letter.")
    imported = requests.post(f"{world.url}/api/v1/archive/imports", data=(PAGES / "library_of_plain_letters.txt")
                             .read_bytes(), headers={"Authorization": f"Bearer {world.tokens['Ada Admin']}",
                                                     "Content-Type": "text/plain; charset=utf-8"}, timeout=30).json()
    wait_for(lambda: platform.db("archive").archived_ideas.find_one({"_id": adopted["id"]}),
             message="the archive keeps the adopted idea")

    found = search(world, q="letters")
    ids = [hit["id"] for hit in found["items"]]
    assert sorted(ids) == sorted([in_title["id"], adopted["id"], resource["id"], imported["id"]])  # each once
    assert ids.index(in_title["id"]) < ids.index(adopted["id"])  # a title word outranks a description word
    by_id = {hit["id"]: hit for hit in found["items"]}
    assert by_id[adopted["id"]]["url"] == f"/ideas/{adopted['id']}"  # the live idea, not its snapshot
    assert (by_id[imported["id"]]["state"], by_id[imported["id"]]["url"]) == (
        "archived", f"/archive/ideas/{imported['id']}")
    assert (by_id[resource["id"]]["kind"], by_id[resource["id"]]["resource_kind"]) == ("resource", "tool")


def test_facets_count_each_value_and_a_chosen_filter_keeps_the_other_choices_counted(world):
    token = world.member("Rosa Nguyen")
    network = world.network(token, "Practitioners")
    world.submit(token, title="Network of practice", description="Meet monthly.", network=network, **PLAIN)
    adopted = world.submit(token, title="Network lunches", description="Share lunch.", **PLAIN)
    move(world, adopted["id"], "under_review", "adopted")
    publish_resource(world)

    every = search(world, q="network")
    assert every["total"] == 3
    assert every["facets"]["kind"] == [{"value": "idea", "count": 2}, {"value": "resource", "count": 1}]
    assert {f["value"]: f["count"] for f in every["facets"]["state"]} == {"open": 1, "adopted": 1}
    assert every["facets"]["agency"] == [{"value": "dta", "count": 3}]
    assert every["facets"]["network"] == [{"value": network, "count": 1}]

    ideas = search(world, q="network", kind="idea")
    assert ideas["total"] == 2 and {hit["kind"] for hit in ideas["items"]} == {"idea"}
    assert ideas["facets"]["kind"] == every["facets"]["kind"]  # still says what "resource" would give
    adopted_only = search(world, q="network", kind="idea", state="adopted")
    assert [hit["id"] for hit in adopted_only["items"]] == [adopted["id"]]
    assert search(world, q="network", network=network)["total"] == 1

    bad = world.call("GET", "/api/v1/search", params={"q": "network", "state": "draft", "kind": "everything"})
    assert bad.status_code == 422 and {"state", "kind"} <= set(bad.json()["error"]["fields"])


def test_did_you_mean_offers_a_nearby_word_that_finds_something(world):
    token = world.member("Rosa Nguyen")
    world.submit(token, title="Community kiosks", description="Feedback at the counter.", **PLAIN)
    world.submit(token, title="Budget workshops", description="Only for drafting.", draft=True, **PLAIN)

    missed = search(world, q="comunity kiosk")
    assert (missed["total"], missed["items"], missed["did_you_mean"]) == (0, [], "community kiosk")
    assert search(world, q=missed["did_you_mean"])["total"] == 1
    assert search(world, q="worksops")["did_you_mean"] is None  # only a draft holds "workshops"
    assert search(world, q="xylophone")["did_you_mean"] is None


def test_the_search_page_shows_highlights_plurals_and_filters_and_old_addresses_lead_to_it(world):
    token = world.member("Rosa Nguyen")
    one = world.submit(token, title="Service-wide network", description="Each other's teams.", **PLAIN)
    page = world.call("GET", "/search", params={"q": "network"}).text
    assert "1 result for “network”" in page and "1 results" not in page
    assert f'<h2><a href="/ideas/{one["id"]}">Service-wide network</a></h2>' in page  # titles stay plain text
    assert "Each other&#39;s teams." in page and "&amp;#39;" not in page
    world.submit(token, title="Network lunches", description="Each other's lunches.", **PLAIN)
    page = world.call("GET", "/search", params={"q": "lunches network", "state": "open"}).text
    assert "<mark>lunches</mark>" in page and "&lt;mark&gt;" not in page
    page = world.call("GET", "/search", params={"q": "network", "state": "open"}).text
    assert "2 results for “network”" in page
    assert 'type="hidden" name="state" value="open"' in page  # kept when the words change
    resource = publish_resource(world, title="Workshop planning canvas", summary="Plan a workshop on one page.")
    page = world.call("GET", "/search", params={"q": "workshops", "kind": "resource"}).text
    assert f'<h2><a href="/archive/resources/{resource["id"]}">Workshop planning canvas</a></h2>' in page
    assert "Plan a <mark>workshop</mark> on one page." in page and "1 result for “workshops”" in page

    refused = world.call("GET", "/search", params={"q": "network", "kind": "<b>everything</b>"})
    assert refused.status_code == 422 and 'value="network"' in refused.text and "<b>everything" not in refused.text

    moved = requests.get(f"{world.url}/archive/search", params={"q": "kiosk", "kind": "tool"}, allow_redirects=False,
                         timeout=10)
    assert moved.status_code == 303 and moved.headers["Location"] == "/search?q=kiosk&kind=resource"
    moved = requests.get(f"{world.url}/ideas", params={"q": "network", "state": "open"}, allow_redirects=False,
                         timeout=10)
    assert moved.status_code == 303 and moved.headers["Location"] == "/search?q=network&state=open&kind=idea"
