"""The ideas service's rules, without storage or broker."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common.rules import RuleBroken
from services.ideas import domain
from services.ideas.domain import Actor

AUTHOR = Actor("author", "dta")
MEMBER = Actor("member", "dta")
MODERATOR = Actor("mod", "dta", ("member", "moderator"))
OTHER_AGENCY_ADMIN = Actor("admin", "ato", ("member", "agency_admin"))
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)


def idea(state="open", **changes):
    return {"state": state, "agency": "dta", "author_id": "author", **changes}


def test_a_new_idea_opens_unless_kept_as_a_draft():
    assert domain.initial_state(False) == "open" and domain.initial_state(True) == "draft"


def test_moderators_of_the_ideas_agency_move_it_along_its_lifecycle():
    domain.check_transition(idea("open"), "under_review", MODERATOR)
    domain.check_transition(idea("under_review"), "adopted", MODERATOR)
    with pytest.raises(RuleBroken) as refused:
        domain.check_transition(idea("open"), "under_review", OTHER_AGENCY_ADMIN)
    assert refused.value.kind == "forbidden"


def test_the_author_only_publishes_their_draft():
    domain.check_transition(idea("draft"), "open", AUTHOR)
    with pytest.raises(RuleBroken):
        domain.check_transition(idea("open"), "under_review", AUTHOR)


@pytest.mark.parametrize("current,target", [("open", "adopted"), ("adopted", "open"), ("archived", "open"),
                                            ("open", "open")])
def test_moves_outside_the_lifecycle_are_conflicts(current, target):
    with pytest.raises(RuleBroken) as refused:
        domain.check_transition(idea(current), target, MODERATOR)
    assert refused.value.kind == "conflict"


def test_the_moves_offered_are_the_ones_the_lifecycle_allows_this_actor():
    assert domain.allowed_moves(idea("under_review"), MODERATOR) == ("open", "adopted", "declined", "archived")
    assert domain.allowed_moves(idea("draft"), AUTHOR) == ("open",)
    assert domain.allowed_moves(idea("open"), AUTHOR) == ()
    assert domain.allowed_moves(idea("open"), OTHER_AGENCY_ADMIN) == ()
    assert domain.allowed_moves(idea("archived"), MODERATOR) == ()


def test_authors_edit_only_while_draft_or_open():
    domain.check_author_edit(idea("draft"), AUTHOR)
    domain.check_author_edit(idea("open"), AUTHOR)
    with pytest.raises(RuleBroken):
        domain.check_author_edit(idea("under_review"), AUTHOR)
    with pytest.raises(RuleBroken):
        domain.check_author_edit(idea("open"), MEMBER)


def test_drafts_are_seen_by_their_author_only():
    assert domain.may_view(idea("draft"), "author")
    assert not domain.may_view(idea("draft"), "member") and not domain.may_view(idea("draft"), None)
    assert domain.may_view(idea("open"), None)


def test_members_rate_only_open_ideas_of_others():
    domain.check_can_rate(idea("open"), "member")
    with pytest.raises(RuleBroken) as own:
        domain.check_can_rate(idea("open"), "author")
    assert own.value.kind == "forbidden"
    with pytest.raises(RuleBroken) as closed:
        domain.check_can_rate(idea("adopted"), "member")
    assert closed.value.kind == "conflict"


def apply(rating, change):
    out = {"sum": rating["sum"], "count": rating["count"], "distribution": dict(rating["distribution"])}
    for path, amount in change.items():
        if path == "rating.sum":
            out["sum"] += amount
        elif path == "rating.count":
            out["count"] += amount
        else:
            key = path.rsplit(".", 1)[1]
            out["distribution"][key] += amount
    return out


def test_rating_again_replaces_the_old_rating():
    rating = domain.empty_rating()
    for stars in (5, 4, 3):
        rating = apply(rating, domain.rating_change(stars, None))
    rating = apply(rating, domain.rating_change(1, 3))
    assert domain.rating_summary(rating) == {"average": 3.33, "count": 3,
                                             "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}}


def test_an_empty_rating_shows_all_five_keys_and_no_average():
    assert domain.rating_summary(None) == {"average": None, "count": 0,
                                           "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}


def test_the_damped_score_lets_many_good_votes_beat_one_perfect_vote():
    assert domain.damped_score(0, 0) == domain.PRIOR_MEAN
    assert domain.damped_score(5, 1) < domain.damped_score(92, 20)


def test_list_keys_sort_as_the_list_does():
    early, late = NOW, NOW + timedelta(seconds=1)
    assert domain.newest_key(late, "a") > domain.newest_key(early, "b")
    assert domain.top_key(92, 20, early, "a") > domain.top_key(5, 1, late, "b")
    assert domain.discussed_key(10, early, "a") > domain.discussed_key(9, late, "b")


def test_an_idea_is_listed_under_each_filter_and_drafts_under_their_author_only():
    facets = domain.facets("open", "dta", "practitioners", ["budget"], "author")
    assert {"all", "state:open", "agency:dta", "network:practitioners", "tag:budget", "state:open|tag:budget"} <= set(facets)
    assert domain.facets("draft", "dta", None, ["budget"], "author") == ["draft:author"]


def test_a_list_query_looks_up_one_facet():
    assert domain.facet_for({}, None) == ("all", {})
    assert domain.facet_for({"state": "open", "tag": "budget", "agency": "dta"}, None) == (
        "state:open|tag:budget", {"agency": "dta"})
    assert domain.facet_for({"state": "draft"}, "author") == ("draft:author", {})
    with pytest.raises(RuleBroken):
        domain.facet_for({"state": "draft"}, None)


def test_cursors_round_trip_and_foreign_ones_name_the_cursor():
    key = domain.top_key(12, 3, NOW, "7b0c2d1e-4f3a-4e5b-8c6d-9e0f1a2b3c4d")
    assert domain.decode_cursor(domain.encode_cursor(key)) == key
    for bad in ("!!", domain.encode_cursor('{"$gt": ""}')):
        with pytest.raises(RuleBroken) as refused:
            domain.decode_cursor(bad)
        assert refused.value.field == "cursor"


def test_replies_go_three_levels_deep():
    assert domain.reply_depth(None) == 1
    assert domain.reply_depth({"depth": 2, "status": "visible"}) == 3
    with pytest.raises(RuleBroken) as refused:
        domain.reply_depth({"depth": 3, "status": "visible"})
    assert refused.value.field == "parent_id"


def test_comments_are_edited_by_their_author_within_fifteen_minutes():
    comment = {"author_id": "member", "status": "visible", "created_at": NOW}
    domain.check_comment_edit(comment, "member", NOW + timedelta(minutes=14))
    with pytest.raises(RuleBroken):
        domain.check_comment_edit(comment, "member", NOW + timedelta(minutes=16))
    with pytest.raises(RuleBroken):
        domain.check_comment_edit(comment, "other", NOW)


def test_a_comment_says_until_when_it_may_be_edited_and_a_removed_one_never():
    assert domain.editable_until({"status": "visible", "created_at": NOW}) == NOW + timedelta(minutes=15)
    assert domain.editable_until({"status": "removed", "created_at": NOW}) is None


def test_a_comment_takes_replies_while_the_idea_is_open_to_comments_and_the_thread_is_not_at_its_deepest():
    assert domain.may_reply(idea("open"), {"depth": 2, "status": "visible"})
    assert not domain.may_reply(idea("open"), {"depth": 3, "status": "visible"})
    assert not domain.may_reply(idea("archived"), {"depth": 1, "status": "visible"})


def test_authors_and_moderators_remove_comments():
    comment = {"author_id": "member", "status": "visible", "agency": "dta"}
    assert domain.check_comment_removal(comment, MEMBER) is False
    assert domain.check_comment_removal(comment, MODERATOR) is True
    with pytest.raises(RuleBroken):
        domain.check_comment_removal(comment, AUTHOR)


def test_the_third_report_hides_a_comment():
    assert not domain.hidden_after_reports(2) and domain.hidden_after_reports(3)


def test_a_thread_reads_each_comment_followed_by_its_replies():
    def c(cid, minute, parent=None):
        return {"id": cid, "parent_id": parent, "created_at": f"2026-11-23T03:{minute:02d}:00+00:00"}

    ordered = domain.thread([c("b", 2), c("a1", 3, "a"), c("a", 1), c("a1x", 5, "a1"), c("b1", 4, "b"),
                             c("orphan", 6, "gone")])
    assert [x["id"] for x in ordered] == ["a", "a1", "a1x", "b", "b1", "orphan"]


def test_mentions_are_bracketed_names_or_underscored_names():
    body = "Thanks @[Rosa  Nguyen] and @Tariq_Haddad; email me at jill@example.gov.au. @[rosa nguyen] again"
    assert domain.mentioned_names(body) == ["rosa nguyen", "tariq haddad"]
    assert domain.name_key("Zoë  O'Brien") == "zoe o'brien"


def test_tags_are_normalised():
    assert domain.normalise_tags(["Budget", "budget", " Open Data ", "!!"]) == ["budget", "open-data"]


def test_active_networks_rank_by_recent_ideas_and_break_ties_by_the_newest():
    newest_first = [{"network": "co-design"}, {"network": None}, {"network": "plain-language"},
                    {"network": "plain-language"}, {"network": "co-design"}, {"network": "rural"}, {}]
    assert domain.active_networks(newest_first, 2) == [{"slug": "co-design", "ideas": 2},
                                                        {"slug": "plain-language", "ideas": 2}]
    assert domain.active_networks(newest_first, 5)[-1] == {"slug": "rural", "ideas": 1}
    assert domain.active_networks([{"network": None}], 3) == []


# -- what the idea's page shows of its discussion ------------------------------

def shown(comment_id, status="visible", parent_id=None):
    return {"id": comment_id, "status": status, "parent_id": parent_id}


def test_the_count_is_the_readable_comments_and_a_removed_comment_without_replies_is_not_shown():
    threaded = [shown("a"), shown("b", "removed"), shown("c")]
    kept, count = domain.shown_discussion(threaded)
    assert kept == {"a", "c"}
    assert count == 2


def test_a_removed_or_hidden_comment_is_shown_only_where_readable_replies_hang_from_it_and_is_not_counted():
    threaded = [shown("a", "removed"), shown("b", "hidden", "a"), shown("c", "visible", "b"),
                shown("d", "hidden"), shown("e", "removed", "d")]
    kept, count = domain.shown_discussion(threaded)
    assert kept == {"a", "b", "c"}
    assert count == 1


def test_the_readable_count_moves_only_when_a_comment_starts_or_stops_being_readable():
    assert domain.visible_count_change("visible", "hidden") == -1
    assert domain.visible_count_change("hidden", "visible") == 1
    assert domain.visible_count_change("hidden", "removed") == 0
    assert domain.visible_count_change("visible", "removed") == -1
    assert domain.visible_count_change("visible", "visible") == 0


def test_a_name_two_members_share_links_to_neither():
    members = [{"name_key": "sam lee", "id": "1"}, {"name_key": "sam lee", "id": "2"}, {"name_key": "ana", "id": "3"}]
    assert domain.mention_links(members) == {"ana": "3"}


def test_an_official_response_is_given_in_the_highest_role_held_in_the_ideas_agency():
    assert domain.responder_role(Actor("a", "dta", ("member", "moderator", "agency_admin")), "dta") == "agency_admin"
    assert domain.responder_role(MODERATOR, "dta") == "moderator"
    assert domain.responder_role(Actor("o", "ato", ("member", "moderator", "operator")), "dta") == "operator"
    assert domain.responder_role(AUTHOR, "dta") == "member"


def test_a_log_entry_names_the_states_it_moved_between_also_when_written_before_they_were_kept_apart():
    old = {"action": "state_changed", "detail": "under_review → adopted"}
    assert domain.with_states(old)[("from_state")] == "under_review"
    assert domain.with_states(old)["to_state"] == "adopted"
    new = {"action": "state_changed", "detail": "x", "from_state": "open", "to_state": "declined"}
    assert (domain.with_states(new)["from_state"], domain.with_states(new)["to_state"]) == ("open", "declined")
    removal = domain.with_states({"action": "comment_removed", "detail": "a → b"})
    assert (removal["from_state"], removal["to_state"]) == (None, None)
    garbled = domain.with_states({"action": "state_changed", "detail": "somewhere → else"})
    assert garbled["to_state"] is None


def test_page_count_rounds_up_and_an_empty_list_has_one_page():
    assert [domain.page_count(n, 20) for n in (0, 1, 20, 21, 40, 41)] == [1, 1, 1, 2, 2, 3]
