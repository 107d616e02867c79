"""The running copy of a live idea, built from its events in any order, and the snapshot kept when it concludes."""
from datetime import datetime, timezone
from pathlib import Path

from services.archive import domain
from services.archive.legacy_page import parse_legacy_page
from services.common import contract

IDEA = "idea-1"
AUTHOR, COMMENTER = "m-author", "m-c"
NOW = datetime(2026, 5, 1, 4, 0, tzinfo=timezone.utc)
PAGE = Path(__file__).resolve().parents[2] / "fixtures" / "archive" / "library_of_plain_letters.txt"


def public(version: int, **changes) -> dict:
    """An idea's public fields as the ideas contract's own example carries them."""
    example = contract.spec_for("idea.submitted").example
    return {**example, "idea_id": IDEA, "author_id": AUTHOR, "author_name": "Rosa Nguyen",
            "version": version, **changes}


def comment(version, comment_id, body, *, author=COMMENTER, name="Tariq Haddad", at="2026-04-02T01:00:00+00:00"):
    example = contract.spec_for("comment.posted").example
    return {**example, "idea_id": IDEA, "comment_id": comment_id, "author_id": author, "author_name": name,
            "body": body, "created_at": at, "version": version}


FINAL_RATING = {"average": 4.0, "count": 2, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}


def concluded(version, outcome="adopted", response="We will pilot it.") -> dict:
    return public(version, title="Shared register of community panels", rating=FINAL_RATING, state=outcome, from_state="under_review", to_state=outcome, changed_by="m-admin",
                  official_response=response)


def fold(events) -> dict:
    copy = domain.new_copy(IDEA)
    for name, data in events:
        if name in ("idea.submitted", "idea.updated", "idea.state_changed"):
            domain.apply_idea_fields(copy, data, at="2026-05-01T04:00:00+00:00")
        else:
            domain.apply_comment(copy, name, data)
    return copy


STORY = [
    ("idea.submitted", public(1, title="Shared panel register")),
    ("comment.posted", comment(3, "c1", "Count me in.")),
    ("idea.updated", public(4, title="Shared register of community panels")),
    ("comment.posted", comment(6, "c2", "What about privacy?", at="2026-04-03T01:00:00+00:00")),
    ("comment.edited", {**comment(7, "c2", "What about panel members' privacy?", at="2026-04-03T01:00:00+00:00"),
                        "edited_at": "2026-04-03T01:05:00+00:00"}),
    ("comment.posted", comment(8, "c3", "Spam", at="2026-04-04T01:00:00+00:00")),
    ("comment.removed", {"comment_id": "c3", "idea_id": IDEA, "author_id": COMMENTER, "removed_by": "m-mod",
                         "by_moderator": True, "version": 9}),
    ("idea.state_changed", concluded(10)),
]


def test_every_story_event_fits_the_ideas_contract():
    for name, data in STORY:
        assert contract.spec_for(name).schema().validate(data) == {}, name


def test_a_concluded_idea_snapshot_has_its_text_outcome_rating_and_live_comments():
    copy = fold(STORY)
    assert domain.is_concluded(copy)
    snapshot = domain.snapshot_from_copy(copy, former=set(), archived_at=NOW)
    assert snapshot["title"] == "Shared register of community panels"
    assert snapshot["outcome"] == "adopted" and snapshot["official_response"] == "We will pilot it."
    assert snapshot["rating"] == {"average": 4.0, "count": 2, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    assert [(c["id"], c["body"]) for c in snapshot["comments"]] == [
        ("c1", "Count me in."), ("c2", "What about panel members' privacy?")]
    assert snapshot["comments"][1]["edited_at"] == datetime(2026, 4, 3, 1, 5, tzinfo=timezone.utc)
    assert snapshot["author_name"] == "Rosa Nguyen" and snapshot["prompts"] == ["Would you take part?"]
    assert snapshot["concluded_at"] == datetime(2026, 5, 1, 4, 0, tzinfo=timezone.utc)


def test_events_in_reverse_order_and_twice_give_the_same_snapshot():
    in_order = domain.snapshot_from_copy(fold(STORY), former=set(), archived_at=NOW)
    shuffled = list(reversed(STORY)) + STORY[3:6]
    assert domain.snapshot_from_copy(fold(shuffled), former=set(), archived_at=NOW) == in_order


def test_a_stale_update_does_not_put_old_text_back():
    copy = fold(STORY[:4])
    assert not domain.apply_idea_fields(copy, public(1, title="Shared panel register"))
    assert copy["idea"]["title"] == "Shared register of community panels"


def test_a_late_comment_posted_after_its_report_still_brings_its_text():
    copy = domain.new_copy(IDEA)
    flagged = {"comment_id": "c9", "idea_id": IDEA, "agency": "dta", "reported_by": "m-x", "reason": "rude",
               "report_count": 3, "hidden": True, "version": 5}
    assert domain.apply_comment(copy, "comment.flagged", flagged)
    assert domain.apply_comment(copy, "comment.posted", comment(4, "c9", "Late text"))
    assert copy["comments"]["c9"]["body"] == "Late text" and copy["comments"]["c9"]["hidden"]
    domain.apply_comment(copy, "comment.restored", {"comment_id": "c9", "idea_id": IDEA, "moderator_id": "m-mod",
                                                    "version": 6})
    assert not copy["comments"]["c9"]["hidden"]


def test_state_change_alone_carries_enough_to_snapshot():
    copy = fold([("idea.state_changed", concluded(12, outcome="declined", response="Not this year."))])
    snapshot = domain.snapshot_from_copy(copy, former=set(), archived_at=NOW)
    assert snapshot["outcome"] == "declined" and snapshot["rating"]["count"] == 2


def test_deactivated_members_are_former_members_in_snapshots():
    copy = fold(STORY)
    snapshot = domain.snapshot_from_copy(copy, former={COMMENTER}, archived_at=NOW)
    assert {c["author_name"] for c in snapshot["comments"]} == {domain.FORMER_MEMBER}
    assert domain.anonymise(snapshot, AUTHOR) and snapshot["author_name"] == domain.FORMER_MEMBER
    assert not domain.anonymise(snapshot, AUTHOR)


def test_the_snapshot_view_has_no_member_ids_and_times_carry_their_offset():
    view = domain.idea_view(domain.snapshot_from_copy(fold(STORY), former=set(), archived_at=NOW))
    assert "author_id" not in view and all("author_id" not in c for c in view["comments"])
    assert view["comments"][0]["posted_at"] == "2026-04-02T12:00:00+11:00"
    assert view["archived"] is True and view["outcome"] == "adopted"


def test_an_imported_page_keeps_its_figures_authors_and_canberra_times():
    page = parse_legacy_page(PAGE.read_text())
    view = domain.idea_view(domain.snapshot_from_legacy(page, idea_id="i-1", fingerprint=page.fingerprint(),
                                                        archived_at=NOW))
    assert view["title"] == "Plain-English Letter Library"
    assert view["rating"] == {"average": 4.3, "count": 12, "distribution": None, "imported": True}
    assert view["author_name"] == "Harriet Lowe" and view["submitted_at"] == "2020-03-05T14:45:00+11:00"
    assert [(c["author_name"], c["posted_at"]) for c in view["comments"]] == [
        ("Ben Achebe", "2020-03-06T09:05:00+11:00"),
        ("Lucía Ferreira", "2020-03-08T23:30:00+11:00"),
        ("Harriet Lowe", "2020-04-14T17:20:00+10:00"),  # daylight saving ended on 5 April 2020
    ]
    assert view["origin"] == "import" and view["outcome"] == "archived"


def test_the_archived_idea_keeps_its_reply_threads_and_who_gave_the_official_response():
    events = [
        ("idea.submitted", public(1)),
        ("comment.posted", {**comment(2, "c1", "Top one, @[Rosa Nguyen].", at="2026-04-02T01:00:00+00:00"),
                            "mention_links": {"rosa nguyen": AUTHOR}}),
        ("comment.posted", comment(3, "c2", "Another top one.", at="2026-04-02T02:00:00+00:00")),
        ("comment.posted", {**comment(4, "c3", "A reply to the first.", at="2026-04-02T03:00:00+00:00"),
                            "parent_id": "c1", "depth": 2}),
        ("comment.posted", {**comment(5, "c4", "A reply to the reply.", at="2026-04-02T04:00:00+00:00"),
                            "parent_id": "c3", "depth": 3}),
        ("idea.state_changed", {**concluded(6), "official_response_by": "Rosa Admin",
                                "official_response_role": "agency_admin",
                                "official_response_at": "2026-05-01T04:00:00.000+00:00"}),
    ]
    snapshot = domain.snapshot_from_copy(fold(events), former=set(), archived_at=NOW)
    view = domain.idea_view(snapshot)
    assert [(c["id"], c["depth"]) for c in view["comments"]] == [("c1", 1), ("c3", 2), ("c4", 3), ("c2", 1)]
    assert (view["official_response_by"], view["official_response_role"]) == ("Rosa Admin", "agency_admin")
    assert view["official_response_at"] == "2026-05-01T04:00:00.000+00:00"
    # Open data keeps comments in the order they were posted, as before.
    assert [c["comment_id"] for c in domain.comment_records(snapshot)] == ["c1", "c2", "c3", "c4"]
    assert view["comments"][0]["paragraphs"] == [[{"text": "Top one, "}, {"text": "@Rosa Nguyen", "member_id": AUTHOR},
                                                  {"text": "."}]]
    assert not {"depth", "paragraphs"} & set(domain.idea_record(snapshot)["comments"][0])


def test_a_reply_whose_parent_was_removed_moves_up_to_the_top_of_the_archived_thread():
    ordered = domain.threaded([{"id": "c2", "parent_id": "gone"}, {"id": "c3", "parent_id": "c2"}])
    assert [(c["id"], depth) for c, depth in ordered] == [("c2", 1), ("c3", 2)]
