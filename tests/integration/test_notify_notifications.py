"""In-app notifications from real events on the real broker and storage server."""
import pytest

from services.common.errors import NotFound
from services.common.events import utc_now
from services.notify import domain
from services.notify.store import NotifyStore
from tests.integration.notify_world import World
from tests.support.platform import wait_for


@pytest.fixture
def world(platform):
    platform.overrides["notify"] = {"MAIL_SEND_SECONDS": 0.2, "SMTP_URL": "smtp://127.0.0.1:9"}
    platform.start("members", "notify")
    world = World(platform)
    for name in ("Rosa", "Tariq", "Mei"):
        world.member(name)
    return world


def notifications(world, name):
    with world.rpc(name) as rpc:
        return rpc.notify.list_notifications()


def processed(platform, event_id):
    return platform.db("notify").processed_events.find_one({"_id": {"$regex": f"\\|{event_id}$"}})


def test_a_comment_on_a_followed_idea_gives_the_follower_one_notification_even_when_delivered_twice(world, platform):
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    wait_for(lambda: platform.db("notify").followers.find_one({"member_id": world.ids["Mei"], "following": True}),
             message="the follow to be known")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa")

    listed = wait_for(lambda: notifications(world, "Mei")["items"], message="Mei's notification")
    assert len(listed) == 1
    assert listed[0]["kind"] == "comments" and "Tariq commented" in listed[0]["title"]
    assert listed[0]["link"] == "/ideas/idea-1#comment-c-1" and listed[0]["read"] is False
    assert notifications(world, "Mei")["unread"] == 1

    world.publish(comment)  # the same envelope again, as after a redelivery
    wait_for(lambda: platform.db("notify").processed_events.count_documents({}) >= 3, message="events handled")
    marker = world.submit_idea("idea-2", "Rosa")  # events on one queue are handled in order
    wait_for(lambda: processed(platform, marker["id"]), message="a later event")
    assert len(notifications(world, "Mei")["items"]) == 1
    assert platform.db("notify").notifications.count_documents({"event_id": comment["id"]}) == 2  # Mei and Rosa
    assert not [n for n in notifications(world, "Tariq")["items"]]  # the commenter is not told


def test_a_member_whose_rating_started_following_hears_of_the_next_comment(world, platform):
    world.submit_idea("idea-1", "Rosa")
    world.publish(world.envelope("idea.rated", {
        "idea_id": "idea-1", "member_id": world.ids["Mei"], "stars": 4, "previous_stars": None, "average": 4.0,
        "count": 1, "started_following": True, "version": world.next_version("idea-1")}, "idea-1"))
    wait_for(lambda: platform.db("notify").followers.find_one({"member_id": world.ids["Mei"], "following": True}),
             message="the rating's follow to be known")
    world.comment("idea-1", "Tariq", idea_author="Rosa")
    listed = wait_for(lambda: notifications(world, "Mei")["items"], message="Mei's notification")
    assert [n["kind"] for n in listed] == ["comments"]


def test_a_member_mentioned_in_a_comment_on_an_idea_they_follow_gets_one_notice_the_mention(world, platform):
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    wait_for(lambda: platform.db("notify").followers.find_one({"member_id": world.ids["Mei"], "following": True}),
             message="the follow to be known")
    world.mention("idea-1", "Tariq", "Mei")  # the two events of one comment, in either order
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa", body="@[Mei] could your team host it?",
                            mentioning=("Mei",))
    wait_for(lambda: processed(platform, comment["id"]), message="the comment to be handled")

    listed = notifications(world, "Mei")["items"]
    assert [(item["kind"], item["title"]) for item in listed] == [
        ("mentions", "Tariq mentioned you in “A network for engagement practitioners”")]
    assert len(notifications(world, "Rosa")["items"]) == 1  # the author, not mentioned, hears of the comment


def test_a_removed_comment_leaves_no_text_in_notifications_and_no_notice_made_after(world, platform):
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    wait_for(lambda: platform.db("notify").followers.find_one({"member_id": world.ids["Mei"], "following": True}),
             message="the follow to be known")
    world.comment("idea-1", "Tariq", idea_author="Rosa", body="Something Tariq regrets writing")
    wait_for(lambda: len(notifications(world, "Mei")["items"]) == 1, message="Mei's notification")
    assert notifications(world, "Mei")["items"][0]["body"] == "Something Tariq regrets writing"

    removed = world.remove_comment("idea-1", "Tariq")
    wait_for(lambda: processed(platform, removed["id"]), message="the removal to be handled")
    for name in ("Mei", "Rosa"):
        [item] = notifications(world, name)["items"]
        assert (item["body"], item["comment_removed"]) == ("", True), name
    assert not platform.db("notify").notifications.find_one({"body": {"$regex": "regrets"}})

    late = world.mention("idea-1", "Tariq", "Mei")  # handled after the removal, as after a retry
    wait_for(lambda: processed(platform, late["id"]), message="the late mention to be handled")
    assert [item["kind"] for item in notifications(world, "Mei")["items"]] == ["comments"]


def test_reading_one_or_all_notifications_lowers_the_unread_count(world, platform):
    world.submit_idea("idea-1", "Rosa")
    for number in range(3):
        world.comment("idea-1", "Tariq", idea_author="Rosa", comment_id=f"c-{number}")
    listed = wait_for(lambda: (n := notifications(world, "Rosa"))["unread"] == 3 and n, message="three notifications")
    assert [item["id"] for item in listed["items"]] == sorted((item["id"] for item in listed["items"]), reverse=True)
    with world.rpc("Rosa") as rpc:
        read = rpc.notify.mark_read(listed["items"][0]["id"])
        assert read["read"] is True and rpc.notify.unread_count() == 2
        page = rpc.notify.list_notifications(None, 2)
        assert len(page["items"]) == 2 and page["next_cursor"]
        assert len(rpc.notify.list_notifications(page["next_cursor"], 2)["items"]) == 1
        assert rpc.notify.mark_all_read()["unread"] == 0
        assert rpc.notify.unread_count() == 0
    with world.rpc("Tariq") as rpc:  # nobody reads another member's notifications
        with pytest.raises(NotFound):
            rpc.notify.mark_read(listed["items"][1]["id"])


def test_a_deactivated_follower_is_told_nothing_more(world, platform):
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    with world.rpc("Mei") as rpc:
        rpc.members.deactivate(world.ids["Mei"])
    wait_for(lambda: platform.db("notify").deactivated_members.find_one({"_id": world.ids["Mei"]}),
             message="the deactivation to be known")
    world.comment("idea-1", "Tariq", idea_author="Rosa")
    wait_for(lambda: notifications(world, "Rosa")["items"], message="Rosa's notification")
    assert platform.db("notify").notifications.count_documents({"recipient": world.ids["Mei"]}) == 0
    assert not platform.db("notify").followers.find_one({"member_id": world.ids["Mei"], "following": True})


def test_the_store_keeps_one_notification_per_event_and_recipient_whatever_the_caller_does(world, platform):
    store = NotifyStore(platform.db("notify"))
    notice = domain.Notice(world.ids["Mei"], "comments", "Tariq commented")
    made = [store.transaction(lambda tx: tx.add_notification("event-1", notice, None, utc_now()))
            for _ in range(3)]
    assert made == [True, False, False]
    assert platform.db("notify").notifications.count_documents({"event_id": "event-1"}) == 1


def test_ratings_reach_the_author_at_most_once_per_window_with_the_rest_batched(platform):
    platform.overrides["notify"] = {"RATING_BATCH_SECONDS": 2, "RATING_FLUSH_SECONDS": 0.3,
                                    "SMTP_URL": "smtp://127.0.0.1:9"}
    platform.start("members", "notify")
    world = World(platform)
    for name in ("Rosa", "Tariq", "Mei", "Ana"):
        world.member(name)
    world.submit_idea("idea-1", "Rosa")
    for rater, count in (("Tariq", 1), ("Mei", 2), ("Ana", 3)):
        world.publish(world.envelope("idea.rated", {
            "idea_id": "idea-1", "member_id": world.ids[rater], "stars": 4, "previous_stars": None,
            "average": 4.0, "count": count, "version": world.next_version("idea-1")}, "idea-1"))
    first = wait_for(lambda: notifications(world, "Rosa")["items"], message="the first ratings notice")
    assert len(first) == 1 and "got 1 new rating" in first[0]["title"]
    batched = wait_for(lambda: len(n := notifications(world, "Rosa")["items"]) == 2 and n, timeout=15,
                       message="the batched notice")
    assert "got 2 new ratings" in batched[0]["title"] and "Average 4.0 from 3" in batched[0]["body"]
