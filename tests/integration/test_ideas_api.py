"""Ideas through the gateway's JSON API, with the real broker and storage server."""
import pytest

from tests.integration.ideas_support import IDEA, start_world


@pytest.fixture
def world(platform):
    return start_world(platform)


def test_submitting_opens_the_idea_at_once_unless_it_is_a_draft(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    assert idea["state"] == "open" and idea["author_name"] == "Rosa Nguyen"
    assert idea["rating"] == {"average": None, "count": 0, "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}
    draft = world.submit(author, title="Still thinking", draft=True)
    assert draft["state"] == "draft"
    assert world.call("GET", f"/api/v1/ideas/{draft['id']}").status_code == 404
    assert world.call("GET", f"/api/v1/ideas/{draft['id']}", author).json()["state"] == "draft"


def test_three_ratings_and_one_change_give_the_exact_summary(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    raters = [world.member(name) for name in ("Tariq Haddad", "Jill Park", "Mark Ito")]
    for token, stars in zip(raters, (5, 4, 3)):
        assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", token, json={"stars": stars}).status_code == 200
    changed = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", raters[2], json={"stars": 1}).json()
    assert changed["my_rating"] == 1
    rating = world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["rating"]
    assert rating["average"] == pytest.approx(3.33, abs=0.005)
    assert rating["count"] == 3
    assert rating["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}
    mine = world.call("GET", f"/api/v1/ideas/{idea['id']}", raters[2]).json()
    assert mine["my_rating"] == 1


def test_the_author_cannot_rate_their_own_idea(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    answer = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", author, json={"stars": 5})
    assert answer.status_code == 403
    assert "stars" in answer.json()["error"]["fields"]


def test_rating_a_closed_idea_is_a_conflict(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    moved = world.call("POST", f"/api/v1/ideas/{idea['id']}/state", world.tokens["Ada Admin"],
                       json={"state": "under_review", "official_response": "We are looking at costs."})
    assert moved.status_code == 200 and moved.json()["official_response"] == "We are looking at costs."
    answer = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", world.member("Tariq Haddad"), json={"stars": 4})
    assert answer.status_code == 409


@pytest.mark.parametrize("stars", [0, 6, "5", 4.5, {"$gt": 0}, True, None, [5]])
def test_stars_that_are_not_a_whole_number_from_1_to_5_are_refused_naming_stars(world, stars):
    idea = world.submit(world.member("Rosa Nguyen"))
    answer = world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", world.member("Tariq Haddad"), json={"stars": stars})
    assert answer.status_code == 422
    assert list(answer.json()["error"]["fields"]) == ["stars"]
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["rating"]["count"] == 0


def test_a_member_cannot_move_an_idea_but_a_moderator_can(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/state", author, json={"state": "adopted"}).status_code == 409
    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/state", author,
                      json={"state": "under_review"}).status_code == 403
    admin = world.tokens["Ada Admin"]
    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/state", admin, json={"state": "under_review"}).status_code == 200
    adopted = world.call("POST", f"/api/v1/ideas/{idea['id']}/state", admin,
                         json={"state": "adopted", "official_response": "Piloting next quarter."}).json()
    assert adopted["state"] == "adopted"
    log = world.call("GET", "/api/v1/moderation/log", admin).json()["items"]
    assert [entry["action"] for entry in log] == ["state_changed", "state_changed"]


def test_the_author_edits_while_open_and_not_after(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    edited = world.call("PATCH", f"/api/v1/ideas/{idea['id']}", author, json={"title": "A cross-agency network"})
    assert edited.status_code == 200 and edited.json()["version"] > idea["version"]
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["title"] == "A cross-agency network"
    assert world.call("PATCH", f"/api/v1/ideas/{idea['id']}", world.member("Tariq Haddad"),
                      json={"title": "Mine now"}).status_code == 403
    world.call("POST", f"/api/v1/ideas/{idea['id']}/state", world.tokens["Ada Admin"], json={"state": "declined"})
    assert world.call("PATCH", f"/api/v1/ideas/{idea['id']}", author, json={"title": "Again"}).status_code == 409


def test_bad_idea_bodies_name_their_fields_and_write_nothing(world):
    author = world.member("Rosa Nguyen")
    answer = world.call("POST", "/api/v1/ideas", author, json={**IDEA, "title": "x" * 201, "tags": "budget",
                                                              "description": {"$ne": ""}})
    assert answer.status_code == 422
    assert set(answer.json()["error"]["fields"]) == {"title", "tags", "description"}
    assert world.call("GET", "/api/v1/ideas").json()["items"] == []
    assert world.call("POST", "/api/v1/ideas", json=IDEA).status_code == 401


def test_threaded_comments_stop_at_depth_three_and_keep_their_thread_when_removed(world):
    author = world.member("Rosa Nguyen")
    tariq = world.member("Tariq Haddad")
    idea = world.submit(author)
    path = f"/api/v1/ideas/{idea['id']}/comments"
    top = world.call("POST", path, tariq, json={"body": "Who would host the first meet-up?"}).json()
    reply = world.call("POST", path, author, json={"body": "Our team could.", "parent_id": top["id"]}).json()
    deeper = world.call("POST", path, tariq, json={"body": "Great.", "parent_id": reply["id"]}).json()
    assert [top["depth"], reply["depth"], deeper["depth"]] == [1, 2, 3]
    too_deep = world.call("POST", path, author, json={"body": "And?", "parent_id": deeper["id"]})
    assert too_deep.status_code == 422 and "parent_id" in too_deep.json()["error"]["fields"]
    assert world.call("DELETE", f"/api/v1/comments/{top['id']}", author).status_code == 403
    assert world.call("DELETE", f"/api/v1/comments/{top['id']}", tariq).status_code == 200
    thread = world.call("GET", path).json()["items"]
    assert [c["id"] for c in thread] == [top["id"], reply["id"], deeper["id"]]
    assert thread[0]["status"] == "removed" and thread[0]["body"] == ""
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["comment_count"] == 2


def test_comments_are_edited_by_their_author(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", author, json={"body": "First thoughts"}).json()
    assert world.call("PATCH", f"/api/v1/comments/{comment['id']}", world.member("Tariq Haddad"),
                      json={"body": "Not mine"}).status_code == 403
    edited = world.call("PATCH", f"/api/v1/comments/{comment['id']}", author, json={"body": "Second thoughts"})
    assert edited.status_code == 200 and edited.json()["edited_at"]
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"][0]["body"] == "Second thoughts"


def test_three_reports_hide_a_comment_until_a_moderator_keeps_it(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", author, json={"body": "Sharp words"}).json()
    twice = [world.call("POST", f"/api/v1/comments/{comment['id']}/reports", world.member("Tariq Haddad"),
                        json={"reason": "unkind"}) for _ in range(2)]
    assert [answer.status_code for answer in twice] == [201, 201]
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"][0]["status"] == "visible"
    for name in ("Jill Park", "Mark Ito"):
        assert world.call("POST", f"/api/v1/comments/{comment['id']}/reports", world.member(name),
                          json={"reason": "unkind"}).status_code == 201
    shown = world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"][0]
    assert shown["status"] == "hidden" and shown["body"] == ""
    admin = world.tokens["Ada Admin"]
    assert world.call("GET", "/api/v1/moderation/queue", world.member("Jill Park")).status_code == 403
    queue = world.call("GET", "/api/v1/moderation/queue", admin).json()["items"]
    assert [c["id"] for c in queue] == [comment["id"]] and queue[0]["report_count"] == 3
    kept = world.call("POST", f"/api/v1/comments/{comment['id']}/moderation", admin,
                      json={"decision": "keep", "note": "Robust but fair."})
    assert kept.status_code == 200
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"][0]["body"] == "Sharp words"
    assert world.call("GET", "/api/v1/moderation/queue", admin).json()["items"] == []
    log = world.call("GET", "/api/v1/moderation/log", admin).json()["items"]
    assert log[0]["action"] == "comment_kept" and log[0]["note"] == "Robust but fair."


def test_follow_and_unfollow(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    assert idea["follower_count"] == 1
    tariq = world.member("Tariq Haddad")
    followed = world.call("POST", f"/api/v1/ideas/{idea['id']}/follow", tariq).json()
    assert followed == {**followed, "following": True, "follower_count": 2}
    again = world.call("POST", f"/api/v1/ideas/{idea['id']}/follow", tariq)
    assert again.status_code == 200 and again.json()["follower_count"] == 2
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}", tariq).json()["following"] is True
    unfollowed = world.call("DELETE", f"/api/v1/ideas/{idea['id']}/follow", tariq).json()
    assert unfollowed["follower_count"] == 1
    with world.platform.rpc() as rpc:
        assert rpc.ideas.followers_of(idea["id"]) == [world.ids["Rosa Nguyen"]]


def test_commenting_or_rating_follows_the_idea_unless_the_member_chose_not_to(world):
    idea = world.submit(world.member("Rosa Nguyen"))
    tariq, mei = world.member("Tariq Haddad"), world.member("Mei Chen")
    assert world.call("GET", "/api/v1/following-preference", mei).json() == {"follow_when_taking_part": True}
    assert world.call("PUT", "/api/v1/following-preference", mei, json={"follow_when_taking_part": "no"}).status_code == 422
    chosen = world.call("PUT", "/api/v1/following-preference", mei, json={"follow_when_taking_part": False})
    assert chosen.json() == {"follow_when_taking_part": False}

    assert world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Count me in"}).ok
    assert world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", mei, json={"stars": 4}).ok
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}", tariq).json()["following"] is True
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}", mei).json()["following"] is False
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["follower_count"] == 2
    # Following by submitting is an event of its own; a follow that commenting or rating starts is told by that event.
    outbox = world.platform.db("ideas").outbox
    followed = [row["envelope"]["data"]["member_id"] for row in outbox.find({"type": "idea.followed"}).sort("_id", 1)]
    assert followed == [world.ids["Rosa Nguyen"]]
    assert outbox.find_one({"type": "comment.posted"})["envelope"]["data"]["started_following"] is True
    assert outbox.find_one({"type": "idea.rated"})["envelope"]["data"]["started_following"] is False
