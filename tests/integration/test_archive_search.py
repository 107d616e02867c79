"""Search across resources and archived ideas: ranking, stemming, filters, and reading only matching index entries."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.archive import domain
from services.archive.store import ArchiveStore
from services.common import search
from services.common.contract.archive import RESOURCE_KINDS
from tests.integration.archive_support import PAGES, ArchiveClient


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    return ArchiveClient(platform)


def find(archive, **query):
    answer = archive.call("GET", "/api/v1/archive/search", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_title_match_ranks_above_body_matches_and_a_stemmed_form_finds_it(archive):
    in_body = archive.publish(kind="research", title="Deliberation in practice",
                              summary="What three agencies learned from deliberative processes.",
                              body="One chapter covers how a citizens' jury was recruited.", licence="CC-BY-SA-4.0")
    in_title = archive.publish(kind="framework", title="Citizen juries: a framework",
                               summary="When a citizens' jury fits, and when it does not.", licence="CC-BY-4.0")
    archive.publish(kind="course", title="Running a workshop", summary="Facilitation basics.")
    hits = find(archive, q="juries")
    assert [hit["id"] for hit in hits] == [in_title["id"], in_body["id"]]
    assert hits[0]["title"] == "Citizen juries: a framework"  # plain text, no markup
    assert "<mark>jury</mark>" in hits[1]["snippet"]
    assert [hit["id"] for hit in find(archive, q="jury")] == [in_title["id"], in_body["id"]]


def test_filters_by_licence_kind_tag_and_agency(archive):
    shared = archive.publish(title="Consultation plan template", summary="A plan template for consultations.",
                             licence="CC-BY-SA-4.0", tags=["planning", "templates"])
    archive.publish(kind="course", title="Consultation skills", summary="A short course on consultation.",
                    licence="CC-BY-4.0", tags=["skills"])
    assert [h["id"] for h in find(archive, q="consultation", licence="CC-BY-SA-4.0")] == [shared["id"]]
    assert [h["id"] for h in find(archive, q="consultation", kind="tool")] == [shared["id"]]
    assert [h["id"] for h in find(archive, q="consultation", tag="planning")] == [shared["id"]]
    assert len(find(archive, q="consultation", agency="health")) == 2
    assert find(archive, q="consultation", agency="dta") == []
    bad = archive.call("GET", "/api/v1/archive/search", params={"q": "x", "licence": "GPL"})
    assert bad.status_code == 422 and "licence" in bad.json()["error"]["fields"]


def test_equal_matches_put_the_newer_first_and_archived_ideas_are_found_too(archive):
    older = archive.publish(title="Letter testing kit", summary="Test letters with readers.")
    newer = archive.publish(title="Letter testing kit", summary="Test letters with readers.")
    assert [h["id"] for h in find(archive, q="letter kit")] == [newer["id"], older["id"]]
    idea = archive.import_page((PAGES / "library_of_plain_letters.txt").read_text()).json()
    hits = find(archive, q="letters", kind="idea")
    assert [(h["id"], h["kind"], h["url"]) for h in hits] == [(idea["id"], "idea", f"/archive/ideas/{idea['id']}")]


def test_html_in_a_title_stays_text_in_results(archive):
    archive.publish(title="<b>Bold</b> survey design", summary="How to design a survey <script>x</script>.")
    hit = find(archive, q="survey")[0]
    assert hit["title"] == "<b>Bold</b> survey design"
    assert "<script>" not in hit["snippet"] and "&lt;script&gt;" in hit["snippet"]


def test_among_two_thousand_entries_a_query_examines_only_the_matching_index_entries(archive, platform):
    db = platform.db("archive")
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    entries = []
    for number in range(2_000):
        rare = number % 80 == 0  # 25 of them mention kiosks
        resource = {"_id": str(uuid.uuid4()), "kind": list(RESOURCE_KINDS)[number % 7],
                    "title": f"Engagement note {number}" + (" on kiosk feedback" if rare else ""),
                    "summary": "Notes on engagement with communities.",
                    "body": "Kiosks in libraries." if rare else "Workshops, surveys and panels.",
                    "licence": "CC-BY-4.0", "tags": [], "agency": "health",
                    "published_at": start + timedelta(minutes=number)}
        entries.append(domain.resource_search_entry(resource))
    db.search_entries.insert_many(entries)

    assert len(find(archive, q="kiosk", limit=50)) == 25
    assert len(find(archive, q="kiosk engagement", limit=50)) == 25

    store = ArchiveStore(db)
    terms = search.query_terms("kiosk engagement")
    frequencies = store.term_frequencies(terms, cap=1_000)
    assert frequencies == {"kiosk": 25, "engag": 1_000}
    lead = search.mongo_filter(terms, frequencies=frequencies)["search_terms"]
    assert lead == "kiosk"
    plan = store.explain_term_lookup(lead)
    stats = plan["executionStats"]
    assert plan["queryPlanner"]["winningPlan"]["stage"] == "FETCH"
    assert plan["queryPlanner"]["winningPlan"]["inputStage"]["stage"] == "IXSCAN"
    assert stats["totalKeysExamined"] == 25 and stats["totalDocsExamined"] == 25 and stats["nReturned"] == 25
