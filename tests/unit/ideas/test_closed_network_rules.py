"""The ideas service's rules for closed networks and their guests, with plain values."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common.contract import ideas as contract
from services.common.contract import spec_for
from services.common.rules import RuleBroken
from services.ideas import domain

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)


def idea(state="open", network=None, audience="public", **changes):
    return {"state": state, "agency": "dta", "author_id": "author", "network": network, "audience": audience,
            **changes}


CLOSED = idea(network="tax-circle", audience="network:tax-circle")


def test_an_idea_in_a_closed_network_is_for_that_networks_members_and_any_other_is_public():
    assert domain.audience_for("tax-circle", closed=True) == "network:tax-circle"
    assert domain.audience_for("open-practice", closed=False) == "public"
    assert domain.audience_for(None, closed=True) == "public"


def test_a_closed_networks_idea_is_seen_by_its_members_only():
    assert domain.may_view(CLOSED, "member", {"tax-circle"})
    assert not domain.may_view(CLOSED, "member", {"open-practice"})
    assert not domain.may_view(CLOSED, None)
    assert not domain.may_view(CLOSED, "author")  # even its author, once they have left the network
    assert domain.may_view(idea(network="open-practice"), None)
    assert not domain.may_view({**CLOSED, "state": "draft"}, "member", {"tax-circle"})


def test_a_closed_networks_idea_is_listed_under_its_network_alone():
    facets = domain.facets("open", "dta", "tax-circle", ["budget"], "author", "network:tax-circle")
    assert facets == ["network:tax-circle", "state:open|network:tax-circle"]
    assert "all" in domain.facets("open", "dta", "open-practice", ["budget"], "author", "public")


def test_a_list_query_naming_a_network_looks_it_up_first_so_its_filters_still_work():
    assert domain.facet_for({"network": "tax-circle", "tag": "budget", "state": "open"}, None) == (
        "state:open|network:tax-circle", {"tag": "budget"})


def test_only_members_list_a_closed_networks_ideas():
    domain.check_network_list("tax-circle", True, {"tax-circle"})
    domain.check_network_list("open-practice", False, set())
    domain.check_network_list(None, False, set())
    with pytest.raises(RuleBroken) as refused:
        domain.check_network_list("tax-circle", True, {"open-practice"})
    assert refused.value.kind == "forbidden" and refused.value.field == "network"


def test_an_idea_does_not_move_into_or_out_of_a_closed_network():
    domain.check_audience_change("public", "public")
    for before, after in (("public", "network:tax-circle"), ("network:tax-circle", "public"),
                          ("network:tax-circle", "network:other")):
        with pytest.raises(RuleBroken) as refused:
            domain.check_audience_change(before, after)
        assert refused.value.kind == "conflict" and refused.value.field == "network"


def test_a_guest_takes_part_in_their_networks_ideas_only():
    guest = ("member", "guest")
    domain.check_guest_part(CLOSED, guest, {"tax-circle"})
    domain.check_guest_part(idea(), ("member",), set())  # members are not held to it
    for elsewhere in (idea(), idea(network="open-practice"), {**CLOSED, "network": "other-circle"}):
        with pytest.raises(RuleBroken) as refused:
            domain.check_guest_part(elsewhere, guest, {"tax-circle"})
        assert refused.value.kind == "forbidden" and "guest" in str(refused.value)


def test_a_guest_shares_ideas_within_a_network_only():
    domain.check_guest_submission("tax-circle", ("member", "guest"))
    domain.check_guest_submission(None, ("member",))
    with pytest.raises(RuleBroken) as refused:
        domain.check_guest_submission(None, ("member", "guest"))
    assert refused.value.field == "network"


def test_a_networks_newest_discussion_is_its_visible_comments_newest_first_with_their_ideas_titles():
    ideas = {"i1": {"title": "First"}, "i2": {"title": "Second"}}

    def comment(cid, idea_id, minutes, status="visible"):
        return {"id": cid, "idea_id": idea_id, "author_id": "a", "author_name": "Ann", "body": f"Body {cid}",
                "status": status, "created_at": NOW + timedelta(minutes=minutes)}

    rows = [comment("c1", "i1", 1), comment("c2", "i2", 3), comment("c3", "i1", 2, "removed"),
            comment("c4", "elsewhere", 4)]
    shown = domain.network_discussion(rows, ideas, limit=5)
    assert [(c["id"], c["idea_title"]) for c in shown] == [("c2", "Second"), ("c1", "First")]
    assert domain.network_discussion(rows, ideas, limit=1)[0]["id"] == "c2"


def test_an_event_says_who_may_know_of_it_and_old_events_were_public():
    assert contract.is_public({}) and contract.network_of_audience({}) is None
    assert not contract.is_public({"audience": "network:tax-circle"})
    assert contract.network_of_audience({"audience": "network:tax-circle"}) == "tax-circle"
    example = spec_for("comment.posted").example
    assert contract.CommentPosted().validate(example) == {}
    assert "audience" in contract.CommentPosted().validate({**example, "audience": "everyone"})
