"""An idea concluded through the ideas API is kept in the archive from events alone."""
import pytest
import requests

from tests.integration.archive_support import PASSWORD, ArchiveClient
from tests.support.accounts import register_confirmed
from tests.support.bus import Subscriber
from tests.support.platform import wait_for


@pytest.fixture
def archive(platform):
    platform.start("members", "ideas", "archive", "web")
    client = ArchiveClient(platform)
    for email, name in (("ola@health.example.gov.au", "Ola Berg"), ("kai@health.example.gov.au", "Kai Moana")):
        register_confirmed(platform, {"email": email, "display_name": name, "password": PASSWORD,
                                      "agency": "health"})
    client.third = client.token("ola@health.example.gov.au")
    client.fourth = client.token("kai@health.example.gov.au")
    return client


def conclude_an_idea(archive) -> tuple[dict, list[dict]]:
    """Submit, rate, discuss and adopt an idea through the ideas API; the live idea and comments just before."""
    created = archive.call("POST", "/api/v1/ideas", archive.member, json={
        "title": "Shared register of community panels",
        "description": "One register of the community panels agencies have run.",
        "what_it_might_look_like": "A page per panel with who took part and what changed.",
        "why_it_matters": "Teams keep re-learning how to run a panel.",
        "prompts": ["Who should keep it?", "What must stay private?"], "tags": ["panels"]})
    assert created.status_code == 201, created.text
    idea_id = created.json()["id"]
    for token, stars in ((archive.fourth, 5), (archive.third, 2), (archive.admin, 4), (archive.third, 3)):
        answer = archive.call("PUT", f"/api/v1/ideas/{idea_id}/rating", token, json={"stars": stars})
        assert answer.status_code == 200, answer.text
    first = archive.call("POST", f"/api/v1/ideas/{idea_id}/comments", archive.third,
                         json={"body": "We ran two panels last year and would add both."}).json()
    archive.call("POST", f"/api/v1/ideas/{idea_id}/comments", archive.member,
                 json={"body": "Thank you, that would be a good start.", "parent_id": first["id"]}).raise_for_status()
    removed = archive.call("POST", f"/api/v1/ideas/{idea_id}/comments", archive.third, json={"body": "Oops, twice."}).json()
    archive.call("DELETE", f"/api/v1/comments/{removed['id']}", archive.third).raise_for_status()
    for state, response in (("under_review", None), ("adopted", "We will keep the register from July.")):
        answer = archive.call("POST", f"/api/v1/ideas/{idea_id}/state", archive.admin,
                              json={"state": state, "official_response": response})
        assert answer.status_code == 200, answer.text
    live = archive.call("GET", f"/api/v1/ideas/{idea_id}").json()
    comments = archive.call("GET", f"/api/v1/ideas/{idea_id}/comments").json()["items"]
    return live, comments


def test_a_concluded_idea_appears_in_the_archive_with_comments_and_rating_from_events_alone(archive, platform):
    subscriber = Subscriber(platform.amqp_uri, "archive.events", "idea.archived")
    try:
        live, live_comments = conclude_an_idea(archive)
        path = f"/api/v1/archive/ideas/{live['id']}"
        wait_for(lambda: archive.call("GET", path).status_code == 200
                 and archive.call("GET", path).json()["outcome"] == "adopted"
                 and len(archive.call("GET", path).json()["comments"]) == 2, timeout=20, message="the snapshot")
        platform.stop_service("ideas")  # nothing below can ask the ideas service
        kept = archive.call("GET", path).json()

        assert kept["title"] == live["title"] and kept["description"] == live["description"]
        assert kept["what_it_might_look_like"] == live["what_it_might_look_like"]
        assert kept["why_it_matters"] == live["why_it_matters"]
        assert kept["prompts"] == ["Who should keep it?", "What must stay private?"] and kept["tags"] == ["panels"]
        assert kept["author_name"] == "Mei Chen" and kept["origin"] == "platform" and kept["archived"] is True
        assert kept["outcome"] == "adopted" and kept["official_response"] == "We will keep the register from July."
        assert kept["rating"] == {"average": live["rating"]["average"], "count": 3,
                                  "distribution": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}}
        assert live["rating"]["distribution"] == kept["rating"]["distribution"]
        shown = [c for c in live_comments if c.get("body") and not c.get("removed")]
        assert [(c["author_name"], c["body"]) for c in kept["comments"]] == [
            ("Ola Berg", "We ran two panels last year and would add both."),
            ("Mei Chen", "Thank you, that would be a good start.")]
        assert kept["comments"][1]["parent_id"] == kept["comments"][0]["id"]
        for kept_comment, live_comment in zip(kept["comments"], shown):
            assert _instant(kept_comment["posted_at"]) == _instant(live_comment["created_at"])
        assert kept["submitted_at"].endswith(("+10:00", "+11:00"))

        envelope, _ = subscriber.next(timeout=10)
        assert envelope["subject"] == live["id"]
        assert envelope["data"]["outcome"] == "adopted" and envelope["data"]["comment_count"] == 2
        assert envelope["data"]["rating"]["count"] == 3
    finally:
        subscriber.close()


def test_a_deactivated_member_is_a_former_member_in_snapshots_and_exports(archive, platform):
    live, _ = conclude_an_idea(archive)
    path = f"/api/v1/archive/ideas/{live['id']}"
    wait_for(lambda: archive.call("GET", path).status_code == 200, timeout=20, message="the snapshot")
    me = archive.call("GET", "/api/v1/me", archive.third).json()
    archive.call("POST", f"/api/v1/members/{me['id']}/deactivation", archive.third).raise_for_status()

    def anonymised():
        comments = archive.call("GET", path).json()["comments"]
        return comments[0]["author_name"] == "former member"

    wait_for(anonymised, timeout=20, message="the name to go")
    export = archive.call("GET", "/api/v1/archive/export/comments.csv").text
    assert "Ola Berg" not in export and "former member" in export
    assert "Ola Berg" not in archive.call("GET", "/api/v1/archive/export/ideas.json").text


def _instant(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
