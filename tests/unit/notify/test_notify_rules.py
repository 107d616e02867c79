"""Who is told what, how each member wants it, digests and webhooks: the notify service's pure rules."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common.contract import spec_for
from services.common.rules import RuleBroken
from services.notify import domain

COMMENT = {**spec_for("comment.posted").example, "author_id": "commenter", "author_name": "Tariq",
           "idea_author_id": "author", "parent_id": None, "parent_author_id": None}


def recipients(notices):
    return [(n.recipient, n.kind) for n in notices]


def test_a_comment_tells_the_author_and_followers_but_not_the_commenter():
    notices = domain.notices_for_comment(COMMENT, ["author", "follower", "commenter"])
    assert recipients(notices) == [("author", "comments"), ("follower", "comments")]
    assert notices[1].link.endswith(f"#comment-{COMMENT['comment_id']}")


def test_a_reply_tells_the_parent_comments_author_once():
    reply = {**COMMENT, "parent_id": "c-0", "parent_author_id": "follower"}
    assert recipients(domain.notices_for_comment(reply, ["follower"])) == [("follower", "replies"), ("author", "comments")]


def test_replying_to_yourself_tells_you_nothing():
    reply = {**COMMENT, "parent_id": "c-0", "parent_author_id": "commenter"}
    assert ("commenter", "replies") not in recipients(domain.notices_for_comment(reply, []))


def test_a_mention_tells_the_member_mentioned_unless_they_mentioned_themselves():
    mention = spec_for("member.mentioned").example
    assert recipients(domain.notices_for_mention(mention)) == [(mention["member_id"], "mentions")]
    assert domain.notices_for_mention({**mention, "by_member_id": mention["member_id"]}) == []


def test_members_a_comment_mentions_are_left_to_their_mention_notice():
    mentioning = {**COMMENT, "parent_id": "c-0", "parent_author_id": "follower",
                  "mentioned_member_ids": ["follower", "author"]}
    assert recipients(domain.notices_for_comment(mentioning, ["follower", "reader"])) == [("reader", "comments")]


def test_notices_of_a_comment_name_it_so_that_its_removal_can_blank_them():
    mention = spec_for("member.mentioned").example
    assert {n.comment_id for n in domain.notices_for_comment(COMMENT, ["follower"])} == {COMMENT["comment_id"]}
    assert domain.notices_for_mention(mention)[0].comment_id == mention["comment_id"]


def test_a_state_change_tells_the_author_and_followers_but_not_who_changed_it():
    change = {**spec_for("idea.state_changed").example, "author_id": "author", "changed_by": "moderator"}
    notices = domain.notices_for_state_change(change, ["follower", "moderator"])
    assert recipients(notices) == [("author", "idea_updates"), ("follower", "idea_updates")]
    assert "adopted" in notices[0].title


def test_a_new_idea_is_announced_to_its_network_except_its_author():
    idea = {**spec_for("idea.submitted").example, "author_id": "author", "network": "n-1"}
    assert recipients(domain.notices_for_new_idea(idea, ["author", "peer"])) == [("peer", "new_ideas")]
    assert domain.is_first_opening(idea, "idea.submitted")
    assert not domain.is_first_opening({**idea, "state": "draft"}, "idea.submitted")
    assert domain.is_first_opening({"from_state": "draft", "to_state": "open"}, "idea.state_changed")


def test_ratings_are_told_at_most_once_an_hour():
    now = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    assert domain.rating_notice_due(None, now, hour)
    assert not domain.rating_notice_due(now - timedelta(minutes=59), now, hour)
    assert domain.rating_notice_due(now - hour, now, hour)
    assert "got 3 new ratings" in domain.ratings_notice("a", "i", "Idea", 3, 4.25, 8).title


def test_preferences_default_per_kind_and_refuse_unknown_kinds_and_modes():
    prefs = domain.preferences_with_defaults({"comments": "daily"})
    assert prefs["comments"] == "daily" and prefs["mentions"] == "email" and prefs["new_ideas"] == "off"
    with pytest.raises(RuleBroken) as caught:
        domain.changed_preferences({"gossip": "email"})
    assert caught.value.field == "gossip"
    with pytest.raises(RuleBroken):
        domain.changed_preferences({"comments": "carrier pigeon"})


@pytest.mark.parametrize("mode, in_app, email_now, digest", [
    ("off", False, False, None), ("in_app", True, False, None), ("email", True, True, None),
    ("daily", True, False, "daily"), ("weekly", True, False, "weekly")])
def test_each_mode_plans_its_delivery(mode, in_app, email_now, digest):
    assert domain.plan_delivery(mode) == domain.DeliveryPlan(in_app, email_now, digest)


def test_an_unsubscribe_token_names_its_member_and_kind_and_cannot_be_forged():
    tokens = domain.UnsubscribeTokens("secret-one")
    token = tokens.make("m-1", "comments")
    assert tokens.read(token) == ("m-1", "comments")
    with pytest.raises(RuleBroken):
        domain.UnsubscribeTokens("secret-two").read(token)
    with pytest.raises(RuleBroken):
        tokens.read(token[:-2] + "xx")


def test_unsubscribing_turns_that_kind_off_and_the_list_link_stops_all_email():
    assert domain.unsubscribe_changes("comments", {}) == {"comments": "off"}
    current = {"comments": "daily", "mentions": "email", "ratings": "in_app"}
    assert domain.unsubscribe_changes(domain.EVERY_KIND, current) == {"comments": "in_app", "mentions": "in_app"}


def test_the_digest_period_is_the_last_whole_local_day_or_week():
    now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)  # Wednesday 2 pm in Sydney
    start, end = domain.last_completed_period("daily", now, "Australia/Sydney")
    assert (start, end) == (datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc),
                            datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc))
    start, end = domain.last_completed_period("weekly", now, "Australia/Sydney")
    assert end == datetime(2026, 11, 22, 13, 0, tzinfo=timezone.utc)  # Monday 00:00 in Sydney
    assert end - start == timedelta(days=7)


def test_the_message_id_is_stable_for_one_event_and_recipient():
    first = domain.stable_message_id("e-1|m-1|notice", "engage.example")
    assert first == domain.stable_message_id("e-1|m-1|notice", "engage.example")
    assert first != domain.stable_message_id("e-1|m-2|notice", "engage.example")
    assert first.startswith("<") and first.endswith("@engage.example>")


def resolver(table):
    def resolve(host):
        if host not in table:
            raise OSError("unknown host")
        return table[host]
    return resolve


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "file:///etc/passwd", "javascript:alert(1)", "example.org/hook"])
def test_webhook_urls_must_be_http_or_https(url):
    with pytest.raises(RuleBroken) as caught:
        domain.check_webhook_target(url, resolver({"example.org": ["93.184.215.14"]}), allow_private=True)
    assert caught.value.field == "url"


@pytest.mark.parametrize("url, table", [
    ("http://127.0.0.1:9000/hook", {}), ("http://localhost/hook", {"localhost": ["127.0.0.1"]}),
    ("http://[::1]/hook", {}), ("http://169.254.169.254/latest", {}), ("http://10.1.2.3/hook", {}),
    ("https://intranet.example/hook", {"intranet.example": ["192.168.1.20"]}),
    ("http://[::ffff:127.0.0.1]/hook", {})])
def test_private_loopback_and_link_local_targets_are_refused_unless_allowed(url, table):
    with pytest.raises(RuleBroken) as caught:
        domain.check_webhook_target(url, resolver(table), allow_private=False)
    assert caught.value.field == "url"
    assert domain.check_webhook_target(url, resolver(table), allow_private=True) == url


def test_a_public_target_is_accepted():
    url = "https://hooks.example.org/engage"
    assert domain.check_webhook_target(url, resolver({"hooks.example.org": ["93.184.215.14"]}), False) == url


def test_unknown_event_types_are_refused_naming_the_field():
    assert domain.check_event_types(["comment.posted", "idea.rated"]) == ["comment.posted", "idea.rated"]
    with pytest.raises(RuleBroken) as caught:
        domain.check_event_types(["comment.posted", "idea.exploded"])
    assert caught.value.field == "event_types" and "idea.exploded" in str(caught.value)
    with pytest.raises(RuleBroken):
        domain.check_event_types(["member.password_reset_requested"])  # carries a one-time link


def test_a_subscription_filters_by_type_agency_and_network():
    sub = {"state": "active", "event_types": ["idea.submitted"], "agency": "dta", "network": None}
    assert domain.subscription_matches(sub, "idea.submitted", {"agency": "dta"})
    assert not domain.subscription_matches(sub, "idea.submitted", {"agency": "ato"})
    assert not domain.subscription_matches(sub, "comment.posted", {"agency": "dta"})
    assert not domain.subscription_matches({**sub, "state": "disabled"}, "idea.submitted", {"agency": "dta"})
    networked = {**sub, "agency": None, "network": "n-1"}
    assert domain.subscription_matches(networked, "idea.submitted", {"network": "n-1"})
    assert not domain.subscription_matches(networked, "idea.submitted", {"network": "n-2"})


def test_a_delivery_retries_with_the_configured_delays_then_dies_after_eight_tries():
    delays = domain.DEFAULT_WEBHOOK_RETRY_DELAYS
    assert domain.after_try(True, 1, delays).state == "delivered"
    assert domain.after_try(False, 1, delays) == domain.TryOutcome("retrying", 60.0)
    assert domain.after_try(False, 7, delays) == domain.TryOutcome("retrying", 43200.0)
    assert domain.after_try(False, 8, delays).state == "dead"
    assert 20 * 3600 < sum(delays) < 26 * 3600  # about a day


def test_retry_delays_from_config_are_checked():
    assert domain.parse_delays("0.2, 0.4", (1,)) == (0.2, 0.4)
    assert domain.parse_delays(None, (1, 2)) == (1.0, 2.0)
    with pytest.raises(ValueError):
        domain.parse_delays("1,2,3,4,5,6,7,8", (1,))
    with pytest.raises(ValueError):
        domain.parse_delays("0", (1,))


def test_a_subscription_failing_for_three_days_is_disabled():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    three_days = timedelta(days=3)
    assert not domain.should_disable(None, now, three_days)
    assert not domain.should_disable(now - timedelta(days=2, hours=23), now, three_days)
    assert domain.should_disable(now - three_days, now, three_days)


def test_old_secrets_sign_only_during_their_overlap_newest_first():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    secrets = [{"value": "old", "created_at": now - timedelta(days=9), "expires_at": now + timedelta(hours=1)},
               {"value": "older", "created_at": now - timedelta(days=20), "expires_at": now - timedelta(days=8)},
               {"value": "new", "created_at": now, "expires_at": None}]
    assert domain.signing_secrets(secrets, now) == ["new", "old"]


def test_a_notice_keeps_which_member_each_mention_names_so_the_page_can_link_it():
    mention = {**spec_for("member.mentioned").example}
    notice = domain.notices_for_mention(mention)[0]
    assert notice.mention_links == tuple(sorted(mention["mention_links"].items()))
    comment = {**COMMENT, "mention_links": {"rosa nguyen": "m-rosa"}}
    assert {n.mention_links for n in domain.notices_for_comment(comment, ["follower"])} == {(("rosa nguyen", "m-rosa"),)}
    assert domain.notices_for_comment({**COMMENT}, ["follower"])[0].mention_links == ()


def test_mail_shows_a_mention_as_the_name_without_its_markup():
    assert domain.readable("@[Rosa Nguyen] and @Tariq_Haddad, <b>see</b>") == "@Rosa Nguyen and @Tariq Haddad, <b>see</b>"
