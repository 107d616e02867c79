"""Importing legacy consultation pages through the gateway: exactly what the page says, once, or not at all."""
import pytest

from tests.integration.archive_support import PAGES, ArchiveClient
from tests.support.bus import Subscriber
from tests.support.platform import wait_for


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    return ArchiveClient(platform)


def test_importing_the_example_page_gives_exactly_its_content(archive):
    answer = archive.import_page((PAGES / "library_of_plain_letters.txt").read_text())
    assert answer.status_code == 201, answer.text
    idea = answer.json()
    assert idea["title"] == "Plain-English Letter Library"
    assert idea["description"] == (
        "Keep a shared library of letters that agencies send to the public, each rewritten in plain English and "
        "tested with the people who receive them.\n\nTeams could borrow a tested letter instead of starting from a "
        "blank page, and note what they changed.")
    assert idea["what_it_might_look_like"].startswith("A shared folder with one page per letter")
    assert idea["why_it_matters"].startswith("Confusing letters create calls")
    assert idea["prompts"] == ["Would your team use it?", "Which letters should go in first?",
                               "Who checks that a borrowed letter still fits the law it cites?"]
    assert idea["author_name"] == "Harriet Lowe"
    assert idea["submitted_at"] == "2020-03-05T14:45:00+11:00"
    assert idea["rating"] == {"average": 4.3, "count": 12, "distribution": None, "imported": True}
    assert [(c["author_name"], c["posted_at"], c["body"]) for c in idea["comments"]] == [
        ("Ben Achebe", "2020-03-06T09:05:00+11:00",
         "Our debt letters would be a good first test. We already have reader feedback on them."),
        ("Lucía Ferreira", "2020-03-08T23:30:00+11:00",
         "Please include letters in community languages too.\n\nThey are often translated from the confusing version."),
        ("Harriet Lowe", "2020-04-14T17:20:00+10:00",
         "Thanks, both. Debt letters and translated versions are on the first list."),
    ]
    stored = archive.call("GET", f"/api/v1/archive/ideas/{idea['id']}")
    assert stored.status_code == 200
    assert {k: v for k, v in stored.json().items() if k != "lessons"} == idea


def test_importing_the_same_page_again_answers_200_with_the_same_record_and_changes_nothing(archive, platform):
    text = (PAGES / "library_of_plain_letters.txt").read_text()
    first = archive.import_page(text)
    assert first.status_code == 201
    counts = {name: platform.db("archive")[name].count_documents({})
              for name in ("archived_ideas", "imports", "search_entries", "outbox")}
    again = archive.import_page(text.replace("\n", "\r\n").replace("- Posted", "• Posted"))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert counts == {name: platform.db("archive")[name].count_documents({}) for name in counts}


def test_a_truncated_page_is_refused_naming_the_line_and_nothing_is_stored(archive, platform):
    answer = archive.import_page((PAGES / "library_of_plain_letters_truncated.txt").read_text())
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert "line 25" in error["message"] and "Based on: N votes" in error["message"]
    assert error["fields"]["line"] == ["25"]
    for name in ("archived_ideas", "imports", "search_entries", "outbox"):
        assert platform.db("archive")[name].count_documents({}) == 0, name


def test_only_agency_admins_and_operators_import(archive):
    text = (PAGES / "library_of_plain_letters.txt").read_text()
    assert archive.import_page(text, token=archive.member).status_code == 403
    assert archive.call("POST", "/api/v1/archive/imports", data=text,
                        headers={"Content-Type": "text/plain"}).status_code == 401
    assert archive.call("POST", "/api/v1/archive/imports", archive.admin, json={"text": text}).status_code == 400


def test_an_import_publishes_idea_archived(archive, platform):
    subscriber = Subscriber(platform.amqp_uri, "archive.events", "idea.archived")
    try:
        idea = archive.import_page((PAGES / "library_of_plain_letters.txt").read_text()).json()
        envelope, _ = subscriber.next(timeout=10)
        assert envelope["subject"] == idea["id"]
        assert envelope["data"]["origin"] == "import" and envelope["data"]["comment_count"] == 3
        assert envelope["data"]["rating"] == {"average": 4.3, "count": 12, "distribution": None, "imported": True}
    finally:
        subscriber.close()
    wait_for(lambda: platform.db("archive").outbox.count_documents({"state": "sent"}) == 1)
