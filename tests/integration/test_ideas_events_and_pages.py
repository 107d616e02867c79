"""Ideas events as an outside system sees them, the idea page, its read cache, and deactivated members."""
import re

import pytest
import requests

from services.common.contract import spec_for
from tests.integration.ideas_support import start_world
from tests.support.bus import Subscriber
from tests.support.platform import wait_for


@pytest.fixture
def world(platform):
    return start_world(platform)


def metric(url: str, name: str, **labels) -> float:
    """One sample from a service's /metrics (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}{{{re.escape(wanted)}}} ([0-9.e+]+)$" if labels
                         else rf"^{re.escape(name)} ([0-9.e+]+)$", re.M)
    found = pattern.search(requests.get(f"{url}/metrics", timeout=10).text)
    return float(found.group(1)) if found else 0.0


def page_rpcs(world) -> float:
    return metric(world.platform.url("ideas"), "engage_ideas_entrypoint_calls_total",
                  entrypoint="idea_page", outcome="success")


def test_a_bare_pika_consumer_receives_idea_rated_valid_against_its_schema(world):
    subscriber = Subscriber(world.platform.amqp_uri, "ideas.events", "idea.rated")
    idea = world.submit(world.member("Rosa Nguyen"))
    tariq = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 4})
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 2})
    first, properties = subscriber.next()
    second, _ = subscriber.next()
    subscriber.close()
    assert first["type"] == "au.gov.engage.idea.rated.v1" and first["subject"] == idea["id"]
    assert properties.content_type.startswith("application/cloudevents+json")
    for envelope in (first, second):
        assert spec_for("idea.rated").schema().validate(envelope["data"]) == {}
        assert {"idea_id", "member_id", "stars", "previous_stars", "average", "count", "version"} <= set(envelope["data"])
    assert first["data"] | {"version": 0} == {**first["data"], "idea_id": idea["id"], "member_id": world.ids["Tariq Haddad"],
                                              "stars": 4, "previous_stars": None, "average": 4.0, "count": 1, "version": 0}
    assert (second["data"]["stars"], second["data"]["previous_stars"], second["data"]["count"]) == (2, 4, 1)
    assert second["data"]["version"] == first["data"]["version"] + 1


def test_comment_events_name_whom_a_notification_concerns(world):
    subscriber = Subscriber(world.platform.amqp_uri, "ideas.events", "comment.posted", "member.mentioned")
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    tariq = world.member("Tariq Haddad")
    top = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Count me in."}).json()
    world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", world.member("Jill Park"),
               json={"body": "Agreed, @[rosa nguyen] and @Tariq_Haddad: start small.", "parent_id": top["id"]})
    received = [subscriber.next()[0] for _ in range(4)]
    subscriber.close()
    posted = [e["data"] for e in received if e["type"].endswith("comment.posted.v1")]
    mentioned = sorted(e["data"]["member_id"] for e in received if e["type"].endswith("member.mentioned.v1"))
    assert posted[1]["parent_author_id"] == world.ids["Tariq Haddad"]
    assert posted[1]["idea_author_id"] == world.ids["Rosa Nguyen"]
    assert posted[1]["ancestor_author_ids"] == [world.ids["Tariq Haddad"]]
    assert mentioned == sorted([world.ids["Rosa Nguyen"], world.ids["Tariq Haddad"]])


def test_a_rating_and_a_comment_show_on_the_very_next_view_and_a_repeat_view_costs_no_rpc(world):
    web = world.platform.url("web")
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    wait_for(lambda: metric(web, "engage_web_page_cache_subscribed") == 1, timeout=15, message="cache subscribed")
    first = requests.get(f"{web}/ideas/{idea['id']}", timeout=10)
    assert first.status_code == 200 and "No votes yet." in first.text
    before = page_rpcs(world)
    for _ in range(3):
        assert requests.get(f"{web}/ideas/{idea['id']}", timeout=10).status_code == 200
        world.call("GET", f"/api/v1/ideas/{idea['id']}")
    assert page_rpcs(world) == before, "repeat views were served from the cache"

    tariq = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 4})
    after_rating = requests.get(f"{web}/ideas/{idea['id']}", timeout=10).text
    assert re.search(r'class="rating-average">4\.0<', after_rating)
    assert re.search(r'class="rating-count">1<', after_rating)
    world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Happy to host the first one."})
    assert "Happy to host the first one." in requests.get(f"{web}/ideas/{idea['id']}", timeout=10).text
    # A write by another gateway user reaches the cache through the event alone.
    with world.platform.rpc(author) as rpc:
        rpc.ideas.post_comment(idea["id"], {"body": "Thank you, noted."})
    wait_for(lambda: "Thank you, noted." in requests.get(f"{web}/ideas/{idea['id']}", timeout=10).text,
             timeout=5, message="the event to refresh the cached page")


def test_the_idea_page_offers_each_viewer_only_what_the_rules_let_them_do_even_from_the_cache(world):
    web = world.platform.url("web")
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    tariq = world.member("Tariq Haddad")
    comment = world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Count me in."}).json()
    wait_for(lambda: metric(web, "engage_web_page_cache_subscribed") == 1, timeout=15, message="cache subscribed")

    def page(token: str) -> str:
        return world.call("GET", f"/ideas/{idea['id']}", token).text

    moderator = page(world.tokens["Ada Admin"])
    assert '<option value="under_review">' in moderator and "Official response (optional)" in moderator
    assert f'action="/comments/{comment["id"]}/edit"' not in moderator and 'name="stars"' in moderator
    commenter = page(tariq)
    assert 'name="state"' not in commenter, "a moderator's moves are not shared with the next viewer"
    assert f'action="/comments/{comment["id"]}/edit"' in commenter and 'name="parent_id"' in commenter
    own = page(author)
    assert "Authors cannot rate their own idea." in own and f'href="/ideas/{idea["id"]}/edit"' in own
    assert 'name="state"' not in own and f'href="/ideas/{idea["id"]}/edit"' not in commenter


def test_member_text_is_escaped_on_the_page(world):
    idea = world.submit(world.member("Rosa Nguyen"), title="<b>Bold</b> idea")
    world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", world.member("Tariq Haddad"),
               json={"body": "<script>alert('x')</script>"})
    html = requests.get(f"{world.url}/ideas/{idea['id']}", timeout=10).text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; idea" in html


def test_visitors_see_the_log_in_prompt_and_no_rating_form(world):
    idea = world.submit(world.member("Rosa Nguyen"))
    html = requests.get(f"{world.url}/ideas/{idea['id']}", timeout=10).text
    assert "to comment and rate ideas." in html and 'href="/login?next=/ideas/' in html
    assert 'name="stars"' not in html and "Post comment" not in html
    for part in ("What it might look like", "Why it matters", "Questions for discussion", "Would you take part?",
                 "by <span class=\"author\">Rosa Nguyen</span>", "<time datetime="):
        assert part in html


def test_a_deactivated_members_comments_say_former_member_on_the_page_and_in_the_api(world):
    author = world.member("Rosa Nguyen")
    idea = world.submit(author)
    tariq = world.member("Tariq Haddad")
    world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", tariq, json={"stars": 5})
    world.call("POST", f"/api/v1/ideas/{idea['id']}/comments", tariq, json={"body": "Keen to help run it."})
    assert "Tariq Haddad" in requests.get(f"{world.url}/ideas/{idea['id']}", timeout=10).text
    assert world.call("POST", f"/api/v1/members/{world.ids['Tariq Haddad']}/deactivation", tariq).status_code == 200

    def anonymised():
        comments = world.call("GET", f"/api/v1/ideas/{idea['id']}/comments").json()["items"]
        return comments and comments[0]["author_name"] == "former member"

    wait_for(anonymised, timeout=10, message="the comment to be anonymised")
    html = requests.get(f"{world.url}/ideas/{idea['id']}", timeout=10).text
    assert "Tariq Haddad" not in html and '<span class="comment-author">former member</span>' in html
    assert world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["rating"]["count"] == 1
