"""The site's one search, in its pure parts: snippets as pages show them, facets, merging, did you mean."""
import html

import pytest
from jinja2 import Environment
from markupsafe import Markup

from services.common import search

FACETS = {"kind": None, "state": None, "agency": None}


def shown(value) -> str:
    """What a page shows for ``value`` rendered as the search page renders snippets."""
    page = Environment(autoescape=True).from_string("{{ snippet }}").render(snippet=search.snippet_markup(value))
    return html.unescape(page.replace("<mark>", "").replace("</mark>", ""))


def hit(id, score, at="2026-01-01T00:00:00+00:00", **facets):
    return {"id": id, "score": score, "at": at, **{name: None for name in FACETS}, **facets}


# -- snippets ----------------------------------------------------------------

def test_a_snippet_that_crossed_a_process_boundary_shows_its_highlight_once_and_apostrophes_as_typed():
    made = str(search.snippet("Every agency runs its own and each other's service-wide network.",
                              search.query_terms("network")))
    assert "&#39;" in made and "<mark>network</mark>" in made
    rendered = Environment(autoescape=True).from_string("{{ s }}").render(s=search.snippet_markup(made))
    assert "<mark>network</mark>" in rendered and "&lt;mark&gt;" not in rendered
    assert "&amp;#39;" not in rendered
    assert shown(made) == "Every agency runs its own and each other's service-wide network."


def test_script_in_text_stays_inert_text_in_the_snippet():
    made = str(search.snippet('<script>alert("x")</script> <img src=x onerror=alert(1)> network plans',
                              search.query_terms("network")))
    markup = search.snippet_markup(made)
    assert "<script" not in markup and "<img" not in markup
    assert shown(made) == '<script>alert("x")</script> <img src=x onerror=alert(1)> network plans'


def test_a_snippet_holding_anything_but_escaped_text_and_marks_is_escaped_whole():
    for tampered in ("<script>alert(1)</script>", "<mark onclick=x>a</mark>", "<b>bold</b>", "a &copy b"):
        markup = search.snippet_markup(tampered)
        assert isinstance(markup, Markup) and "<" not in markup.replace("&lt;", "")
        assert shown(tampered) == tampered
    assert search.snippet_markup(None) == ""


# -- one part per source -------------------------------------------------------

def test_facet_counts_ignore_their_own_filter_and_apply_the_others():
    hits = [hit("a", 10, kind="idea", state="open", agency="dta"),
            hit("b", 5, kind="idea", state="adopted", agency="dta"),
            hit("c", 3, kind="resource", agency="health")]
    counts = search.facet_counts(hits, {**FACETS, "kind": "idea"})
    assert counts["kind"] == {"idea": 2, "resource": 1}  # choosing "idea" still shows what "resource" gives
    assert counts["state"] == {"open": 1, "adopted": 1}
    assert counts["agency"] == {"dta": 2}  # the resource does not pass the kind filter


class Source:
    """A service's searchable content in memory: hits for terms, and the stems near a stem."""

    def __init__(self, *docs):
        self.docs = [{**doc, **search.terms_for({"title": doc["title"], "body": doc["text"]})} for doc in docs]

    def hits_for(self, terms):
        return [{name: value for name, value in doc.items() if not name.startswith("search_")}
                | {"score": search.score(doc, terms)} for doc in self.docs if search.matches(doc, terms)]

    def stems_near(self, stem):
        return {known for doc in self.docs for known in doc["search_terms"] if known[:2] == stem[:2]}

    def part(self, q, count=10, **chosen):
        return search.answer_part(q, {**FACETS, **chosen}, count, self.hits_for, self.stems_near)


def doc(title, text="", **facets):
    return {"id": title, "title": title, "text": text, "at": "2026-01-01T00:00:00+00:00",
            **{name: None for name in FACETS}, **facets}


SOURCE = Source(doc("Service-wide network", "A network for each other's teams.", kind="idea", state="open"),
                doc("Network of practice", "Practitioners meet.", kind="idea", state="adopted"),
                doc("Kiosk toolkit", "A kiosk at the counter, for the network.", kind="resource"),
                doc("Community panels", "Plain letters and a consultation.", kind="resource"))


def test_a_part_answers_its_best_hits_passing_the_filters_with_snippets_and_every_count():
    part = SOURCE.part("network", count=1, kind="idea")
    assert [hit["id"] for hit in part["items"]] == ["Service-wide network"]
    assert part["items"][0]["snippet"] == "A <mark>network</mark> for each other&#39;s teams."
    assert "text" not in part["items"][0]
    assert part["total"] == 2 and part["suggestion"] is None
    assert part["facets"]["kind"] == {"idea": 2, "resource": 1}
    assert part["facets"]["state"] == {"open": 1, "adopted": 1}


def test_a_part_for_no_words_or_unknown_words_finds_nothing():
    assert SOURCE.part("the of")["items"] == [] and SOURCE.part("the of")["suggestion"] is None
    nothing = SOURCE.part("xylophone")
    assert (nothing["items"], nothing["total"], nothing["suggestion"]) == ([], 0, None)


# -- merging -------------------------------------------------------------------

def part(*items, total=None, facets=None, suggestion=None):
    return {"items": list(items), "total": len(items) if total is None else total,
            "facets": facets or {}, "suggestion": suggestion}


def test_merge_ranks_every_part_together_by_score_then_newer_first():
    ideas = part(hit("idea-title", 10), hit("idea-body", 1, at="2026-05-01T00:00:00+00:00"))
    archive = part(hit("resource-summary", 3), hit("resource-body", 1, at="2026-02-01T00:00:00+10:00"))
    merged = search.merge([ideas, archive], start=0, limit=10)
    assert [h["id"] for h in merged["items"]] == ["idea-title", "resource-summary", "idea-body", "resource-body"]
    assert merged["total"] == 4 and merged["next_cursor"] is None and merged["did_you_mean"] is None


def test_merge_pages_through_the_combined_ranking():
    ideas = part(*(hit(f"i{n}", 10 - n) for n in range(3)), total=7)
    archive = part(*(hit(f"r{n}", 9.5 - n) for n in range(3)), total=5)
    merged = search.merge([ideas, archive], start=2, limit=2)
    assert [h["id"] for h in merged["items"]] == ["i1", "r1"]
    assert merged["total"] == 12 and merged["next_cursor"] == "4"


def test_merge_sums_facet_counts_and_lists_values_by_count():
    ideas = part(facets={"kind": {"idea": 2}, "agency": {"dta": 2}})
    archive = part(facets={"kind": {"resource": 3}, "agency": {"dta": 1, "health": 2}})
    facets = search.merge([ideas, archive], start=0, limit=10)["facets"]
    assert facets["kind"] == [{"value": "resource", "count": 3}, {"value": "idea", "count": 2}]
    assert facets["agency"] == [{"value": "dta", "count": 3}, {"value": "health", "count": 2}]


def test_did_you_mean_is_the_closest_suggestion_and_only_when_nothing_is_found():
    far = part(suggestion={"q": "networks", "distance": 2})
    near = part(suggestion={"q": "network", "distance": 1})
    assert search.merge([far, near], start=0, limit=10)["did_you_mean"] == "network"
    found = part(hit("a", 1), suggestion=None)
    assert search.merge([found, near], start=0, limit=10)["did_you_mean"] is None


# -- did you mean --------------------------------------------------------------

def test_did_you_mean_corrects_a_slip_and_spells_it_as_the_hits_do():
    assert SOURCE.part("netwrk")["suggestion"] == {"q": "network", "distance": 1}
    assert SOURCE.part("kisok")["suggestion"]["q"] == "kiosk"
    assert SOURCE.part("comunity panels")["suggestion"]["q"] == "community panels"
    assert SOURCE.part("consultaton")["suggestion"]["q"] == "consultation"  # a slip that keeps the stemmer's ending
    assert SOURCE.part("Plain  leters?")["suggestion"]["q"] == "Plain letters?"  # the rest stays as typed
    nearby = Source(doc("A service", "for people"), doc("We serve", "people"))
    assert nearby.part("servce")["suggestion"]["q"] == "service"  # as near as "serve", and longer


def test_did_you_mean_offers_nothing_far_off_for_known_words_or_that_finds_nothing_with_the_filters():
    assert SOURCE.part("xylophone")["suggestion"] is None
    assert SOURCE.part("network kiosk", kind="idea")["suggestion"] is None  # known words: the filter found none
    assert SOURCE.part("kisok", kind="idea")["suggestion"] is None  # the kiosk is a resource
    assert SOURCE.part("kisok", kind="resource")["suggestion"]["q"] == "kiosk"


def test_edit_distance_counts_a_swap_of_neighbours_as_one():
    assert search.edit_distance("kitten", "sitting") == 3
    assert search.edit_distance("plian", "plain") == 1
    assert search.edit_distance("", "abc") == 3


def test_near_filter_reads_a_range_of_the_index_and_refuses_anything_but_a_term():
    assert search.near_filter("netwrk") == {"search_terms": {"$gte": "ne", "$lt": "nf"}}
    for bad in ("$gt", {"$ne": 1}, "a.b"):
        with pytest.raises(ValueError):
            search.near_filter(bad)
