"""The archive's pages: browse by kind, the archived idea marked with its outcome, forms.

Searching the archive is the site's one search (tests/integration/test_site_search.py)."""
import re

import pytest
import requests

from tests.integration.archive_support import ADMIN, MEMBER, PAGES, PASSWORD, ArchiveClient


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    return ArchiveClient(platform)


def logged_in(archive, email) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{archive.url}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = session.post(f"{archive.url}/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    return session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_browse_by_kind(archive):
    archive.publish(kind="course", title="Facilitation basics", summary="A course on facilitating workshops.")
    archive.publish(kind="tool", title="Workshop planning canvas", summary="Plan a workshop on one page.")
    everything = archive.call("GET", "/archive").text
    assert "Facilitation basics" in everything and "Workshop planning canvas" in everything
    courses = archive.call("GET", "/archive", params={"kind": "course"}).text
    assert "Facilitation basics" in courses and "Workshop planning canvas" not in courses


def test_the_archived_idea_page_is_marked_archived_with_its_outcome_rating_and_comments(archive):
    idea = archive.import_page((PAGES / "library_of_plain_letters.txt").read_text()).json()
    html = archive.call("GET", f"/archive/ideas/{idea['id']}").text
    assert "Archived" in html and "outcome-archived" in html
    assert "Plain-English Letter Library" in html and "What it might look like" in html
    assert "4.3" in html and "12" in html and "Lucía Ferreira" in html
    assert 'datetime="2020-03-08T23:30:00+11:00"' in html


def test_an_admin_edits_through_the_form_and_a_member_proposes_through_it(archive):
    resource = archive.publish()
    admin = logged_in(archive, ADMIN)
    form = admin.get(f"{archive.url}/archive/resources/{resource['id']}/edit", timeout=10).text
    assert 'name="base_revision" value="1"' in form
    fields = {"csrf_token": csrf_of(form), "base_revision": "1", "mode": "publish", "kind": "tool",
              "title": resource["title"], "summary": "A canvas, now with facilitator notes.", "body": resource["body"],
              "link": "", "licence": "CC-BY-4.0", "attribution": resource["attribution"], "tags": "workshops",
              "related_ideas": "", "note": "Added facilitator notes."}
    saved = admin.post(f"{archive.url}/archive/resources/{resource['id']}/edit", data=fields, timeout=10)
    assert saved.status_code == 200 and "Added facilitator notes." in saved.text
    assert archive.call("GET", f"/api/v1/archive/resources/{resource['id']}").json()["revision"] == 2

    member = logged_in(archive, MEMBER)
    form = member.get(f"{archive.url}/archive/resources/{resource['id']}/edit", timeout=10).text
    assert "Send for review" in form
    proposed = member.post(f"{archive.url}/archive/resources/{resource['id']}/edit",
                           data={**fields, "csrf_token": csrf_of(form), "base_revision": "2",
                                 "summary": "A member's better summary."}, timeout=10)
    assert proposed.status_code == 200
    assert archive.call("GET", f"/api/v1/archive/resources/{resource['id']}").json()["revision"] == 2
    assert len(archive.call("GET", "/api/v1/archive/proposals", archive.admin).json()["items"]) == 1


def test_a_form_with_bad_input_shows_the_field_error(archive):
    admin = logged_in(archive, ADMIN)
    form = admin.get(f"{archive.url}/archive/resources/new", timeout=10).text
    answer = admin.post(f"{archive.url}/archive/resources/new", data={
        "csrf_token": csrf_of(form), "mode": "publish", "kind": "tool", "title": "", "summary": "s",
        "licence": "CC-BY-4.0", "attribution": "a", "link": "ftp://x"}, timeout=10)
    assert answer.status_code == 422 and 'aria-invalid="true"' in answer.text
