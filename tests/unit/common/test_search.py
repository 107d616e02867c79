from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import Markup

from services.common import search

WEIGHTS = {"title": 10, "summary": 3, "body": 1}


def doc(title="", summary="", body="", **extra):
    stored = search.terms_for({"title": title, "summary": summary, "body": body}, WEIGHTS)
    return {**extra, **stored}


def test_stored_fields_hold_the_same_sorted_unique_stems():
    stored = search.terms_for(
        {"title": "Networks of practice", "body": "A network shares practice. Networks grow."},
        WEIGHTS,
    )
    assert set(stored) == {search.TERMS_FIELD, search.WEIGHTS_FIELD}
    terms = stored["search_terms"]
    assert terms == sorted(set(terms))
    assert set(stored["search_weights"]) == set(terms)
    assert "network" in terms and "practic" in terms
    assert "of" not in terms and "a" not in terms


def test_weight_is_best_field_plus_a_small_count_bonus():
    stored = search.terms_for(
        {"title": "Budget", "body": "budget budget budget consultation"}, WEIGHTS
    )
    weights = stored["search_weights"]
    assert weights["budget"] == pytest.approx(10.3)
    assert weights["consult"] == pytest.approx(1.0)
    many = search.terms_for({"body": "panel " * 50}, WEIGHTS)["search_weights"]
    assert many["panel"] < 2


def test_engaging_query_matches_a_document_about_engagement():
    terms = search.query_terms("engaging")
    assert terms
    about = doc(title="Community engagement toolkit")
    other = doc(title="Procurement rules")
    assert search.matches(about, terms)
    assert not search.matches(other, terms)


def test_every_query_term_must_match():
    terms = search.query_terms("engagement budget")
    assert search.matches(doc(body="engagement on the budget"), terms)
    assert not search.matches(doc(body="engagement only"), terms)


def test_title_hit_outranks_body_hits():
    terms = search.query_terms("citizen panels")
    in_body = doc(
        _id="body",
        title="Annual report",
        body="citizen panels " * 20,
        published_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    in_title = doc(
        _id="title",
        title="Citizen panels",
        body="nothing else",
        published_at=datetime(2001, 1, 1, tzinfo=timezone.utc),
    )
    ranked = search.rank([in_body, in_title], terms, time_field="published_at")
    assert [d["_id"] for d in ranked] == ["title", "body"]


def test_equal_scores_put_the_newer_document_first():
    terms = search.query_terms("workshop")
    now = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    older = doc(_id="older", title="Workshop", posted_at=now - timedelta(days=3))
    undated = doc(_id="undated", title="Workshop")
    # Naive datetimes, as pymongo returns them, are UTC.
    newer = doc(_id="newer", title="Workshop", posted_at=now.replace(tzinfo=None))
    ranked = search.rank([older, undated, newer], terms, time_field="posted_at")
    assert [d["_id"] for d in ranked] == ["newer", "older", "undated"]


def test_rank_reads_a_dotted_time_field_and_iso_strings():
    terms = search.query_terms("forum")
    first = doc(_id="a", title="Forum", meta={"at": "2020-01-01T00:00:00+00:00"})
    second = doc(_id="b", title="Forum", meta={"at": "2021-01-01T00:00:00+11:00"})
    ranked = search.rank([first, second], terms, time_field="meta.at")
    assert [d["_id"] for d in ranked] == ["b", "a"]


def test_snippet_escapes_html_and_marks_the_stemmed_hit():
    text = "Say <script>alert('x')</script> when engaging & sharing with the public."
    out = search.snippet(text, search.query_terms("engagement"))
    assert isinstance(out, Markup)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert "&amp;" in out
    assert "<mark>engaging</mark>" in out
    assert out.count("<mark>") == 1


def test_snippet_is_centred_on_the_first_hit_and_shows_cuts():
    text = " ".join(["filler"] * 60) + " the consulting forum " + " ".join(["padding"] * 60)
    out = search.snippet(text, search.query_terms("consultation"), width=80)
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>consulting</mark>" in out
    visible = out.replace("<mark>", "").replace("</mark>", "").strip("…")
    assert len(visible) <= 80
    assert "fille…" not in out and "paddin…" not in out
    before, after = visible.split("consulting")
    assert abs(len(before) - len(after)) < 20


def test_snippet_without_a_hit_starts_at_the_beginning():
    out = search.snippet("alpha beta gamma " * 30, ["zzz"], width=40)
    assert out.startswith("alpha") and out.endswith("…")
    assert "<mark>" not in out
    assert search.snippet("", ["x"]) == ""
    assert search.snippet("Short text", ["short"]) == "<mark>Short</mark> text"


def test_stop_word_only_query_has_no_terms():
    assert search.query_terms("the and of a to") == []
    assert search.query_terms("") == []
    assert search.query_terms("   ?!  ") == []
    assert search.mongo_filter([]) == {"search_terms": {"$in": []}}


def test_accents_are_folded_both_ways():
    assert search.query_terms("café") == search.query_terms("cafe")
    assert search.query_terms("CAFE\u0301") == search.query_terms("cafe")
    assert search.matches(doc(title="Café conversations"), search.query_terms("cafe"))
    assert search.matches(doc(title="Cafe conversations"), search.query_terms("Café"))
    out = search.snippet("Meet at the café.", search.query_terms("cafe"))
    assert "<mark>café</mark>" in out


def test_term_cap_keeps_the_most_weighted_terms():
    body = " ".join(f"word{i}x" for i in range(2000))
    stored = search.terms_for({"title": "Unique heading", "body": body}, WEIGHTS)
    assert len(stored["search_terms"]) == search.MAX_TERMS
    assert len(stored["search_weights"]) == search.MAX_TERMS
    assert "uniqu" in stored["search_terms"] and "head" in stored["search_terms"]
    again = search.terms_for({"title": "Unique heading", "body": body}, WEIGHTS)
    assert again == stored


def test_query_terms_are_unique_in_order():
    assert search.query_terms("Networks network NETWORKING budget") == ["network", "budget"]


def test_mongo_filter_is_one_indexed_equality_on_the_lead_term():
    terms = search.query_terms("engagement budget consultation")
    found = search.mongo_filter(terms)
    assert found == {"search_terms": "consult"}
    rarest = search.mongo_filter(terms, frequencies={"engag": 3, "budget": 40, "consult": 90})
    assert rarest["search_terms"] == "engag"
    assert search.INDEX_KEYS == [("search_terms", 1)]
    assert search.INDEX["keys"] == search.INDEX_KEYS


@pytest.mark.parametrize("bad", [{"$ne": None}, "a.b", "$where", "", 5])
def test_mongo_filter_refuses_anything_but_terms(bad):
    with pytest.raises(ValueError):
        search.mongo_filter(["budget", bad])


def test_unweighted_field_is_refused():
    with pytest.raises(ValueError):
        search.terms_for({"title": "x", "notes": "y"}, {"title": 10})


def test_lists_such_as_tags_are_searchable():
    stored = search.terms_for(
        {"title": "Idea", "tags": ["codesign", "youth"]}, {"title": 10, "tags": 3}
    )
    assert stored["search_weights"]["youth"] == 3
