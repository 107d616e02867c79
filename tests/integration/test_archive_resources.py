"""Resources through the gateway: publish, revise, diff, revert, propose and review, safe pages, events, metrics."""
import re

import pytest
import requests

from tests.integration.archive_support import ArchiveClient
from tests.support.bus import Subscriber


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    return ArchiveClient(platform)


def edit(archive, resource, token=None, **changes):
    body = {name: resource[name] for name in ("kind", "title", "summary", "body", "link", "licence", "attribution",
                                              "tags", "related_ideas")}
    return archive.call("PUT", f"/api/v1/archive/resources/{resource['id']}", token or archive.admin,
                        json={**body, **changes})


def test_every_edit_is_a_revision_with_author_time_and_note_and_any_two_can_be_diffed(archive):
    resource = archive.publish(body="Step one.\nStep two.")
    edited = edit(archive, resource, body="Step one.\nStep two, in pairs.\nStep three.", note="Added pairs.",
                  base_revision=1)
    assert edited.status_code == 200, edited.text
    edit(archive, edited.json(), title="Workshop planning canvas (2nd edition)", note="New edition.").raise_for_status()
    revisions = archive.call("GET", f"/api/v1/archive/resources/{resource['id']}/revisions").json()["items"]
    assert [(r["number"], r["author_name"], r["note"]) for r in revisions] == [
        (3, "Grace Okafor", "New edition."), (2, "Grace Okafor", "Added pairs."), (1, "Grace Okafor", "First published.")]
    assert all(r["at"].endswith(("+10:00", "+11:00")) for r in revisions)
    diff = archive.call("GET", f"/api/v1/archive/resources/{resource['id']}/diff", params={"from": 1, "to": 3}).json()
    changes = {c["field"]: c["lines"] for c in diff["changes"]}
    assert set(changes) == {"title", "body"}
    assert "+Step two, in pairs." in changes["body"] and "-Step two." in changes["body"]


def test_a_revert_is_a_new_revision_holding_the_old_content(archive):
    resource = archive.publish(summary="First summary.")
    edit(archive, resource, summary="Second summary.").raise_for_status()
    reverted = archive.call("POST", f"/api/v1/archive/resources/{resource['id']}/revert", archive.admin,
                            json={"revision": 1})
    assert reverted.status_code == 201, reverted.text
    assert reverted.json()["revision"] == 3 and reverted.json()["summary"] == "First summary."
    latest = archive.call("GET", f"/api/v1/archive/resources/{resource['id']}/revisions/3").json()
    assert latest["action"] == "reverted" and latest["note"] == "Reverted to revision 1."


def test_an_edit_from_a_stale_revision_is_a_conflict_and_changes_nothing(archive):
    resource = archive.publish()
    edit(archive, resource, summary="Newer.", base_revision=1).raise_for_status()
    stale = edit(archive, resource, summary="Based on an old copy.", base_revision=1)
    assert stale.status_code == 409 and "base_revision" in stale.json()["error"]["fields"]
    assert archive.call("GET", f"/api/v1/archive/resources/{resource['id']}").json()["summary"] == "Newer."


def test_members_propose_and_a_publisher_reviews(archive):
    body = {"kind": "research", "title": "What panels changed", "summary": "A review of twenty panels.",
            "licence": "CC-BY-4.0", "attribution": "Mei Chen", "note": "From my thesis."}
    assert archive.call("POST", "/api/v1/archive/resources", archive.member, json=body).status_code == 403
    proposal = archive.call("POST", "/api/v1/archive/proposals", archive.member, json=body)
    assert proposal.status_code == 201
    assert archive.call("GET", "/api/v1/archive/search", params={"q": "panels"}).json()["items"] == []
    waiting = archive.call("GET", "/api/v1/archive/proposals", archive.admin).json()["items"]
    assert [p["id"] for p in waiting] == [proposal.json()["id"]]
    assert archive.call("POST", f"/api/v1/archive/proposals/{proposal.json()['id']}/review", archive.member,
                        json={"decision": "accept"}).status_code == 403
    accepted = archive.call("POST", f"/api/v1/archive/proposals/{proposal.json()['id']}/review", archive.admin,
                            json={"decision": "accept", "note": "Thank you."})
    assert accepted.status_code == 200
    resource = accepted.json()["resource"]
    assert resource["author_name"] == "Mei Chen" and resource["status"] == "published"
    assert [h["id"] for h in archive.call("GET", "/api/v1/archive/search", params={"q": "panels"}).json()["items"]] \
        == [resource["id"]]
    again = archive.call("POST", f"/api/v1/archive/proposals/{proposal.json()['id']}/review", archive.admin,
                         json={"decision": "reject"})
    assert again.status_code == 409


def test_bad_input_names_the_field_and_writes_nothing(archive, platform):
    answer = archive.call("POST", "/api/v1/archive/resources", archive.admin, json={
        "kind": "poster", "title": "", "summary": "x", "licence": "GPL-3.0", "attribution": "x",
        "link": "javascript:alert(1)", "tags": ["Not A Tag"]})
    assert answer.status_code == 422
    assert {"kind", "title", "licence", "link", "tags.0"} <= set(answer.json()["error"]["fields"])
    assert archive.call("POST", "/api/v1/archive/resources", archive.admin, json={"$where": "1"}).status_code == 422
    assert archive.call("POST", "/api/v1/archive/resources", archive.admin, data="{",
                        headers={"Content-Type": "application/json"}).status_code == 400
    assert platform.db("archive").resources.count_documents({}) == 0


def test_the_resource_page_renders_markdown_safely_with_licence_and_history(archive):
    resource = archive.publish(body="## Steps\n\n<script>alert('x')</script>\n\n[guide](https://example.gov.au) "
                                    "[trap](javascript:alert(1))", licence="CC-BY-SA-4.0")
    page = archive.call("GET", f"/archive/resources/{resource['id']}")
    assert page.status_code == 200
    html = page.text
    assert "<h2>Steps</h2>" in html and "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="https://example.gov.au"' in html and 'href="javascript' not in html
    assert "CC-BY-SA-4.0" in html and "creativecommons.org/licenses/by-sa/4.0/" in html
    assert re.search(r'data-revision="1"', html)


def test_publishing_and_revising_are_events_and_the_gauge_counts_items(archive, platform):
    subscriber = Subscriber(platform.amqp_uri, "archive.events", "resource.published", "resource.revised")
    try:
        resource = archive.publish(kind="course")
        edit(archive, resource, summary="Changed.", note="Tightened.").raise_for_status()
        published, _ = subscriber.next()
        revised, _ = subscriber.next()
        assert published["type"] == "au.gov.engage.resource.published.v1"
        assert published["data"]["licence"] == "CC-BY-4.0" and published["data"]["revision"] == 1
        assert revised["data"]["revision"] == 2 and revised["data"]["note"] == "Tightened."
        assert revised["data"]["version"] == 2
    finally:
        subscriber.close()
    metrics = requests.get(f"{platform.url('archive')}/metrics", timeout=5).text
    assert 'engage_archive_items{kind="course"} 1.0' in metrics
    assert 'engage_archive_items{kind="idea"} 0.0' in metrics
