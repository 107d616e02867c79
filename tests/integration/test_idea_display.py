"""What the services answer for the pages to show, over real services: mentions with the member ids they link to,
counts that match what is shown, who answered officially, numbered pages, moderation log states, admin member
search, search that goes on without a service, and comment search terms given to comments from before."""
import html
import re
import uuid

import pytest
import requests

from services.common import search
from services.ideas.store import IdeaStore
from tests.integration.ideas_support import start_world
from tests.support.platform import wait_for

PLAIN = {"what_it_might_look_like": "", "why_it_matters": "", "prompts": [], "tags": []}


@pytest.fixture
def world(platform):
    return start_world(platform)


def page(world, path: str, token: str | None = None) -> str:
    answer = world.call("GET", path, token)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def comment(world, idea_id: str, token: str, body: str, **extra) -> dict:
    answer = world.call("POST", f"/api/v1/ideas/{idea_id}/comments", token, json={"body": body, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_mention_is_answered_as_a_part_with_the_member_id_and_the_page_links_it_escaped(world):
    rosa, tariq = world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    idea = world.submit(rosa)
    comment(world, idea["id"], tariq, "Thanks @[rosa nguyen] <b>and</b> @[Nobody Here].\nSecond line")

    shown = world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"][0]
    assert shown["paragraphs"] == [
        [{"text": "Thanks "}, {"text": "@rosa nguyen", "member_id": world.ids["Rosa Nguyen"]},
         {"text": " <b>and</b> @Nobody Here."}],
        [{"text": "Second line"}]]
    text = page(world, f"/ideas/{idea['id']}")
    assert f'<a class="mention" href="/members/{world.ids["Rosa Nguyen"]}">@rosa nguyen</a>' in text
    assert "&lt;b&gt;and&lt;/b&gt; @Nobody Here." in text and "@[" not in text

    profile = page(world, f"/members/{world.ids['Rosa Nguyen']}")
    assert "<h1>Rosa Nguyen</h1>" in profile and "@example.gov.au" not in profile
    assert world.call("GET", "/members/no-such-member").status_code == 404


def test_the_comment_count_is_the_readable_comments_on_the_page_the_api_and_the_list(world):
    rosa, tariq = world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    idea = world.submit(rosa, title="Counting comments honestly")
    first = comment(world, idea["id"], tariq, "First thought.")
    comment(world, idea["id"], rosa, "A reply that stays.", parent_id=first["id"])
    lone = comment(world, idea["id"], tariq, "A second thought, withdrawn.")
    comment(world, idea["id"], tariq, "A third thought.")
    for removed in (first, lone):
        assert world.call("DELETE", f"/api/v1/comments/{removed['id']}", tariq).status_code == 200

    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["comment_count"] == 2
    shown = [c for c in world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"] if c["shown"]]
    assert [(c["status"], c["body"]) for c in shown] == [
        ("removed", ""), ("visible", "A reply that stays."), ("visible", "A third thought.")]
    text = page(world, f"/ideas/{idea['id']}")
    assert "Comments (2)" in text
    assert text.count("This comment was removed.") == 1, "the removed comment without replies is left out"
    listed = page(world, "/ideas")
    assert "2 comments" in listed[listed.index("Counting comments honestly"):]


def test_three_reports_hide_a_comment_from_the_count_until_a_moderator_keeps_it(world):
    rosa = world.member("Rosa Nguyen")
    idea = world.submit(rosa)
    sharp = comment(world, idea["id"], rosa, "Sharp words")
    for name in ("Tariq Haddad", "Jill Park", "Mark Ito"):
        assert world.call("POST", f"/api/v1/comments/{sharp['id']}/reports", world.member(name),
                          json={"reason": "unkind"}).status_code == 201
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["comment_count"] == 0
    assert world.call("POST", f"/api/v1/comments/{sharp['id']}/moderation", world.tokens["Ada Admin"],
                      json={"decision": "keep", "note": ""}).status_code == 200
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["comment_count"] == 1


def test_an_official_response_says_who_gave_it_in_which_role_and_when_and_the_log_names_the_states(world):
    admin = world.tokens["Ada Admin"]
    idea = world.submit(world.member("Rosa Nguyen"))
    for move in ({"state": "under_review"}, {"state": "adopted", "official_response": "We will pilot it."}):
        assert world.call("POST", f"/api/v1/ideas/{idea['id']}/state", admin, json=move).status_code == 200

    answered = world.call("GET", f"/api/v1/ideas/{idea['id']}").json()
    assert (answered["official_response_by"], answered["official_response_role"]) == ("Ada Admin", "agency_admin")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*\+00:00", answered["official_response_at"])
    text = html.unescape(page(world, f"/ideas/{idea['id']}"))
    assert re.search(r"From <span class=\"responder\">Ada Admin</span>,\s*<span class=\"responder-role\">"
                     r"Agency administrator</span>", text)
    assert 'class="badge state state-adopted">Adopted<' in text

    log = world.call("GET", "/api/v1/moderation/log", admin).json()["items"]
    assert [(e["from_state"], e["to_state"]) for e in log[:2]] == [("under_review", "adopted"), ("open", "under_review")]
    moderation = html.unescape(page(world, "/moderation", admin))
    assert "Under review → Adopted" in moderation and "under_review" not in moderation


def test_lists_page_by_number_keeping_filters_and_page_size_while_the_api_keeps_its_cursor(world):
    rosa = world.member("Rosa Nguyen")
    for number in range(5):
        world.submit(rosa, title=f"Paged idea {number}", tags=["paging"])
    world.submit(rosa, title="Not tagged", tags=[])

    second = world.call("GET", "/api/v1/ideas", params={"tag": "paging", "limit": 2, "page": 2}).json()
    assert (second["page"], second["pages"], second["total"]) == (2, 3, 5)
    assert [i["title"] for i in second["items"]] == ["Paged idea 2", "Paged idea 1"]
    by_cursor = world.call("GET", "/api/v1/ideas", params={"tag": "paging", "limit": 2}).json()
    assert by_cursor["next_cursor"] and "pages" not in by_cursor
    both = world.call("GET", "/api/v1/ideas", params={"page": 1, "cursor": by_cursor["next_cursor"]})
    assert both.status_code == 422 and "page" in both.json()["error"]["fields"]

    text = html.unescape(page(world, "/ideas?tag=paging&limit=2&page=2"))
    assert re.search(r'<a rel="prev" href="/ideas\?tag=paging&limit=2&page=1">', text)
    assert re.search(r'<a rel="next" href="/ideas\?tag=paging&limit=2&page=3">', text)
    assert re.search(r'aria-current="page" href="/ideas\?tag=paging&limit=2&page=2">', text)
    assert "Not tagged" not in text


def test_an_admin_finds_members_by_name_or_address_in_pages_and_tells_two_of_one_name_apart(world):
    admin = world.tokens["Ada Admin"]
    for email in ("sam.lee@example.gov.au", "samuel.lee@example.gov.au"):
        created = requests.post(f"{world.url}/api/v1/members", json={
            "email": email, "display_name": "Sam Lee", "password": "a long enough password", "agency": "dta"},
            timeout=10)
        assert created.status_code == 201, created.text
    with world.platform.rpc(admin) as rpc:
        found = rpc.members.find_agency_members("dta", {"q": "sam lee", "limit": 1, "page": 2})
    assert (found["total"], found["pages"], found["page"]) == (2, 2, 2)
    assert [m["email"] for m in found["items"]] == ["samuel.lee@example.gov.au"]

    text = page(world, "/admin/members?agency=dta&q=lee", admin)
    assert "sam.lee@example.gov.au" in text and "samuel.lee@example.gov.au" in text
    assert "admin@example.gov.au" not in text
    refused = world.call("GET", "/admin/members?agency=dta&page=0", admin)
    assert refused.status_code == 422 and "There is a problem" in refused.text
    with world.platform.rpc(world.member("Tariq Haddad")) as rpc, pytest.raises(Exception, match="only for agency admins"):
        rpc.members.find_agency_members("dta", {})


def test_search_shows_what_one_service_found_with_a_notice_while_the_other_does_not_answer(world):
    world.platform.start("archive")
    world.submit(world.member("Rosa Nguyen"), title="Listening posts in libraries", **PLAIN)
    world.submit(world.member("Rosa Nguyen"), title="Listening tours for ministers", **PLAIN)
    paged = html.unescape(page(world, "/search?q=listening&limit=1"))
    assert '<a rel="next" href="/search?q=listening&cursor=1&limit=1">' in paged, "numbered pages of results"
    assert "cannot be searched" not in paged
    world.platform.stop_service("archive")

    answer = world.call("GET", "/api/v1/search", params={"q": "listening"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["unavailable"] == ["archive"] and answer.json()["total"] == 2
    text = html.unescape(page(world, "/search?q=listening"))
    assert "Listening posts in libraries" in text
    assert "The knowledge archive cannot be searched right now" in text

    world.platform.start("archive")
    published = world.call("POST", "/api/v1/archive/resources", world.tokens["Ada Admin"], json={
        "kind": "tool", "title": "Listening kit", "summary": "Prompts for listening sessions.",
        "licence": "CC-BY-4.0", "attribution": "DTA"})
    assert published.status_code == 201, published.text
    world.platform.stop_service("ideas")
    answer = world.call("GET", "/api/v1/search", params={"q": "listening kit"}).json()
    assert answer["unavailable"] == ["ideas"] and [hit["title"] for hit in answer["items"]] == ["Listening kit"]
    assert "Ideas and their discussions cannot be searched right now" in html.unescape(
        page(world, "/search?q=listening+kit"))

    world.platform.stop_service("archive")
    assert world.call("GET", "/api/v1/search", params={"q": "listening posts"}).status_code in (503, 504)


def test_comments_stored_before_comment_search_get_their_terms_once_at_start(world):
    idea = world.submit(world.member("Rosa Nguyen"), title="An idea with an old discussion", **PLAIN)
    db = world.platform.db("ideas")
    old = {"_id": str(uuid.uuid4()), "idea_id": idea["id"], "agency": "dta", "parent_id": None, "path": [],
           "depth": 1, "author_id": world.ids["Rosa Nguyen"], "author_name": "Rosa Nguyen",
           "body": "Remember the marmalade workshop", "status": "visible", "report_count": 0,
           "created_at": idea_created(db, idea["id"]), "edited_at": None}
    db.comments.insert_one(old)
    assert world.call("GET", "/api/v1/search", params={"q": "marmalade"}).json()["total"] == 0

    world.platform.stop_service("ideas")
    world.platform.start("ideas")
    # Other words than before: the gateway's cache holds the first answer until an ideas event drops it.
    found = wait_for(lambda: (lambda a: a if a["total"] else None)(
        world.call("GET", "/api/v1/search", params={"q": "marmalade workshop"}).json()), timeout=15,
        message="the old comment found by search")
    assert [hit["id"] for hit in found["items"]] == [idea["id"]]
    assert search.TERMS_FIELD in db.comments.find_one({"_id": old["_id"]})
    assert IdeaStore(db).add_missing_comment_terms() == 0, "a second run finds nothing left to do"


def idea_created(db, idea_id: str):
    return db.ideas.find_one({"_id": idea_id})["created_at"]
