"""An idea's change worked out from what the transaction read: the document after it, and only the derived
fields it moves."""
from datetime import datetime, timezone

from services.ideas import domain
from services.ideas.store import derived_changes, derived_fields

CREATED = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def idea(**changes) -> dict:
    stored = {"id": "idea-1", "title": "Community panels register", "description": "A shared list of panels.",
              "what_it_might_look_like": "A page per panel.", "why_it_matters": "Panels get reused.",
              "prompts": ["Would you use it?"], "tags": ["panels"], "state": "open", "agency": "dta",
              "network": None, "author_id": "rosa", "created_at": CREATED, "comment_count": 2,
              "rating": {"sum": 7, "count": 2, "distribution": {"3": 1, "4": 1}, "average": 3.5}, "version": 4}
    return {**stored, **changes}


def test_a_change_applies_sets_and_increments_at_dotted_paths_without_touching_the_original():
    before = idea()
    after = domain.changed_document(before, {"state": "adopted"}, {"version": 1, "rating.distribution.5": 1,
                                                                    "rating.sum": 5, "rating.count": 1})
    assert after["state"] == "adopted" and after["version"] == 5
    assert after["rating"] == {"sum": 12, "count": 3, "distribution": {"3": 1, "4": 1, "5": 1}, "average": 3.5}
    assert before["rating"]["count"] == 2 and before["state"] == "open"


def test_a_rating_moves_the_top_order_and_the_average_and_nothing_else():
    before = idea()
    after = domain.changed_document(before, {}, domain.rating_change(5, None))
    moved = derived_changes(before, after)
    assert set(moved) == {"sort_top", "rating.average"}
    assert moved["rating.average"] == 4.0
    assert moved["sort_top"] == derived_fields({**after, "_id": "idea-1"})["sort_top"]


def test_a_comment_moves_the_discussed_order_only_and_a_changed_title_its_search_terms():
    before = idea()
    assert set(derived_changes(before, domain.changed_document(before, {}, {"comment_count": 1}))) == {
        "sort_discussed"}
    retitled = derived_changes(before, domain.changed_document(before, {"title": "Panels everyone can find"}, {}))
    assert retitled and all(name not in retitled for name in ("sort_top", "sort_discussed", "rating.average"))
    assert derived_changes(before, domain.changed_document(before, {}, {"follower_count": 1})) == {}
