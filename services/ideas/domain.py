"""Ideas' rules: lifecycle, who may do what, ratings, threads, mentions, list keys. Pure functions.

Nothing here touches storage or the network, so every rule is tested on its own.
"""
from __future__ import annotations

import base64
import copy
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from services.common import mentions
from services.common.contract.ideas import STATES
from services.common.rules import RuleBroken
from services.common.timeseries import count_by_month

# Who may move an idea where. Moderators and agency administrators of the
# idea's agency make every move; the author only publishes their draft.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("open", "archived"),
    "open": ("under_review", "declined", "archived"),
    "under_review": ("open", "adopted", "declined", "archived"),
    "adopted": ("archived",),
    "declined": ("archived",),
    "archived": (),
}
AUTHOR_EDITABLE_STATES = ("draft", "open")
LISTED_STATES = ("open", "under_review", "adopted", "declined", "archived")
STARS = (1, 2, 3, 4, 5)

# "Top rated" orders by a damped (Bayesian) average: every idea starts as if
# it already had PRIOR_VOTES votes of PRIOR_MEAN stars, so one 5-star vote
# does not outrank twenty votes averaging 4.6.
PRIOR_MEAN = 3.0
PRIOR_VOTES = 5

MAX_DEPTH = 3
EDIT_WINDOW = timedelta(minutes=15)
REPORTS_TO_HIDE = 3
FORMER_MEMBER = "former member"
MODERATOR_ROLES = ("moderator", "agency_admin")

SORT_FIELDS = {"newest": "sort_newest", "top": "sort_top", "discussed": "sort_discussed"}


def allows(check: Callable[..., None], *args) -> bool:
    """Whether the ``check`` rule lets ``args`` through: how a page learns what to offer from the rule itself."""
    try:
        check(*args)
    except RuleBroken:
        return False
    return True


@dataclass(frozen=True)
class Actor:
    """The member acting, as far as these rules care."""

    member_id: str
    agency: str
    roles: tuple[str, ...] = ("member",)

    def moderates(self, agency: str) -> bool:
        """Moderators and agency administrators of ``agency``, and operators everywhere."""
        if "operator" in self.roles:
            return True
        return self.agency == agency and any(role in self.roles for role in MODERATOR_ROLES)


# -- lifecycle ---------------------------------------------------------------

def initial_state(draft: bool) -> str:
    """A new idea opens at once unless its author keeps it as a draft."""
    return "draft" if draft else "open"


def check_transition(idea: dict, to_state: str, actor: Actor) -> None:
    """Raise ``RuleBroken`` unless ``actor`` may move ``idea`` to ``to_state``."""
    current = idea["state"]
    if to_state not in STATES:
        raise RuleBroken(f"State must be one of {', '.join(STATES)}.", field="state")
    if to_state == current:
        raise RuleBroken(f"The idea is already {current.replace('_', ' ')}.", field="state", kind="conflict")
    if to_state not in TRANSITIONS[current]:
        raise RuleBroken(f"An idea that is {current.replace('_', ' ')} cannot become {to_state.replace('_', ' ')}.",
                         field="state", kind="conflict")
    if actor.moderates(idea["agency"]):
        return
    if idea["author_id"] == actor.member_id and current == "draft" and to_state == "open":
        return
    raise RuleBroken("Only moderators and administrators of the idea's agency change its state.", kind="forbidden")


def responder_role(actor: Actor, agency: str) -> str:
    """The role in which ``actor`` answers officially for an idea of ``agency``: the highest they hold there."""
    if actor.agency == agency and "agency_admin" in actor.roles:
        return "agency_admin"
    if actor.agency == agency and "moderator" in actor.roles:
        return "moderator"
    return "operator" if "operator" in actor.roles else "member"


def with_states(entry: dict) -> dict:
    """A moderation log entry with ``from_state`` and ``to_state`` (None for entries that are not state changes),
    read from its ``detail`` for entries written before the log kept them apart."""
    if entry.get("action") != "state_changed":
        return {**entry, "from_state": None, "to_state": None}
    if entry.get("from_state") and entry.get("to_state"):
        return entry
    before, _, after = str(entry.get("detail", "")).partition(" → ")
    known = before in STATES and after in STATES
    return {**entry, "from_state": before if known else None, "to_state": after if known else None}


def allowed_moves(idea: dict, actor: Actor) -> tuple[str, ...]:
    """The states ``actor`` may move ``idea`` to, in lifecycle order: what the idea's page offers them."""
    return tuple(state for state in TRANSITIONS[idea["state"]] if allows(check_transition, idea, state, actor))


def check_network(network: str | None, member_networks: set[str]) -> None:
    """An idea may name a network of practice only when its author belongs to it.

    A network of another agency, one the author has left, or one that does
    not exist is refused the same way, so the answer names no one's networks.
    """
    if network is not None and network not in member_networks:
        raise RuleBroken("Choose a network of practice you belong to, or none.", field="network")


def check_author_edit(idea: dict, actor: Actor) -> None:
    if idea["author_id"] != actor.member_id:
        raise RuleBroken("Only the idea's author edits it.", kind="forbidden")
    if idea["state"] not in AUTHOR_EDITABLE_STATES:
        raise RuleBroken("An idea can be edited only while it is a draft or open.", kind="conflict")


def may_view(idea: dict, member_id: str | None, member_networks: Iterable[str] = ()) -> bool:
    """Drafts are seen by their author only; an idea of a closed network by that network's members only
    (``member_networks``: the networks the viewer belongs to); everything else is open content."""
    if idea["state"] == "draft" and (member_id is None or idea["author_id"] != member_id):
        return False
    return is_public(idea) or idea.get("network") in set(member_networks)


# -- networks: open and closed, and their guests ------------------------------
#
# An idea's audience is fixed when it names its network: ``public`` for an
# agency-wide idea or one in an open network, ``network:<slug>`` for one in a
# closed network. Its events carry the same value, so every consumer can keep
# it from anyone outside the network.

PUBLIC = "public"
GUEST = "guest"


def audience_for(network: str | None, closed: bool) -> str:
    """Who may see an idea in ``network``: everyone, or the members of a closed network."""
    return f"network:{network}" if network and closed else PUBLIC


def is_public(idea: Mapping[str, Any]) -> bool:
    return idea.get("audience", PUBLIC) == PUBLIC


def check_audience_change(before: str, after: str) -> None:
    """An idea does not move into or out of a closed network: who has already seen it cannot unsee it, and
    what its members said in private is not made public."""
    if before != after:
        raise RuleBroken("An idea cannot move into or out of a closed network; submit it there as a new idea.",
                         field="network", kind="conflict")


def check_guest_part(idea: Mapping[str, Any], roles: Iterable[str], member_networks: Iterable[str]) -> None:
    """A guest (a partner invited into a network) comments and rates in their network's ideas only."""
    if GUEST in roles and idea.get("network") not in set(member_networks):
        raise RuleBroken("As a guest you take part only in the ideas of the network you were invited to.",
                         kind="forbidden")


def check_guest_submission(network: str | None, roles: Iterable[str]) -> None:
    """A guest shares ideas within their network only, never agency-wide."""
    if GUEST in roles and network is None:
        raise RuleBroken("As a guest you share ideas within the network you were invited to: choose it.",
                         field="network", kind="forbidden")


def check_network_list(network: str | None, closed: bool, member_networks: Iterable[str]) -> None:
    """A closed network's list of ideas is for its members."""
    if network and closed and network not in set(member_networks):
        raise RuleBroken("Only members of this closed network see its ideas; ask to join it.", field="network",
                         kind="forbidden")


def network_discussion(comments: Iterable[Mapping[str, Any]], ideas: Mapping[str, Mapping[str, Any]],
                       limit: int) -> list[dict]:
    """The newest visible comments on a network's ideas, newest first, each with its idea's title."""
    shown = [c for c in comments if c.get("status") == "visible" and c.get("idea_id") in ideas]
    shown.sort(key=lambda c: (c["created_at"], c["id"]), reverse=True)
    return [{"id": c["id"], "idea_id": c["idea_id"], "idea_title": ideas[c["idea_id"]]["title"],
             "author_id": c["author_id"], "author_name": c["author_name"], "excerpt": excerpt(c["body"]),
             "created_at": c["created_at"]} for c in shown[:limit]]


def is_listed(state: str) -> bool:
    return state in LISTED_STATES


# -- ratings -----------------------------------------------------------------

def check_can_rate(idea: dict, member_id: str) -> None:
    if idea["author_id"] == member_id:
        raise RuleBroken("Authors cannot rate their own idea.", field="stars", kind="forbidden")
    if idea["state"] != "open":
        raise RuleBroken("Only open ideas can be rated.", field="stars", kind="conflict")


def rating_change(stars: int, previous: int | None) -> dict[str, int]:
    """The ``$inc`` a rating makes to the idea's running totals (exact under concurrency: no recount)."""
    change = {"rating.sum": stars - (previous or 0), "rating.count": 0 if previous else 1,
              f"rating.distribution.{stars}": 1}
    if previous:
        change[f"rating.distribution.{previous}"] = change.get(f"rating.distribution.{previous}", 0) - 1
    return change


def changed_document(document: dict, set_fields: dict, inc: dict) -> dict:
    """``document`` after ``$set`` of ``set_fields`` and ``$inc`` of ``inc`` (dotted paths), as storage would make it."""
    after = copy.deepcopy(document)
    for path, value in set_fields.items():
        *parents, last = path.split(".")
        _subdocument(after, parents)[last] = value
    for path, amount in inc.items():
        *parents, last = path.split(".")
        held = _subdocument(after, parents)
        held[last] = (held.get(last) or 0) + amount
    return after


def _subdocument(document: dict, path: list[str]) -> dict:
    for name in path:
        document = document.setdefault(name, {})
    return document


def empty_rating() -> dict:
    return {"sum": 0, "count": 0, "distribution": {str(n): 0 for n in STARS}}


def average(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def damped_score(total: int, count: int) -> float:
    """The Bayesian average used for "top rated" (prior: PRIOR_VOTES votes of PRIOR_MEAN stars)."""
    return (PRIOR_MEAN * PRIOR_VOTES + total) / (PRIOR_VOTES + count)


def rating_summary(rating: dict | None) -> dict:
    """``{average, count, distribution}`` with all five keys, as the API shows it."""
    rating = rating or empty_rating()
    distribution = {str(n): int((rating.get("distribution") or {}).get(str(n), 0)) for n in STARS}
    return {"average": average(rating.get("sum", 0), rating.get("count", 0)), "count": int(rating.get("count", 0)),
            "distribution": distribution}


# -- list order keys ---------------------------------------------------------
#
# Each sort keeps one string field on the idea that orders exactly as the list
# does (ties broken by creation time, then id), so a page is "the next N below
# the cursor" on one index: the same cost on page 1 and on page 1 000.

def newest_key(created_at: datetime, idea_id: str) -> str:
    return f"{_stamp(created_at)}|{idea_id}"


def top_key(total: int, count: int, created_at: datetime, idea_id: str) -> str:
    return f"{damped_score(total, count):09.6f}|{_stamp(created_at)}|{idea_id}"


def discussed_key(comment_count: int, created_at: datetime, idea_id: str) -> str:
    return f"{max(comment_count, 0):010d}|{_stamp(created_at)}|{idea_id}"


def _stamp(moment: datetime) -> str:
    return f"{moment.timestamp():017.6f}"


def facets(state: str, agency: str, network: str | None, tags: Iterable[str], author_id: str,
           audience: str = PUBLIC) -> list[str]:
    """The filter values an idea can be listed under; a list query names exactly one of them.

    Listed ideas carry ``all`` and one facet per filter (``state:…``, ``agency:…``,
    ``network:…``, ``tag:…``) plus each filter combined with their state, so
    "open ideas tagged budget" is also one index lookup. Drafts carry only
    ``draft:<author>``, so they never appear in anyone else's list. An idea of
    a closed network is listed under its network alone, so no other list (all
    ideas, an agency's, a tag's) can show it to someone outside the network.
    """
    if state == "draft":
        return [f"draft:{author_id}"]
    if audience != PUBLIC:
        return [f"network:{network}", f"state:{state}|network:{network}"]
    single = [f"agency:{agency}"] + ([f"network:{network}"] if network else []) + [f"tag:{t}" for t in tags]
    return ["all", f"state:{state}"] + single + [f"state:{state}|{facet}" for facet in single]


def active_networks(recent_ideas: Iterable[Mapping[str, Any]], limit: int) -> list[dict]:
    """The networks with the most of ``recent_ideas``, most first (ties: the newest idea first)."""
    counts: dict[str, int] = {}
    for idea in recent_ideas:  # newest first, so insertion order breaks ties by recency
        if idea.get("network"):
            counts[idea["network"]] = counts.get(idea["network"], 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [{"slug": slug, "ideas": count} for slug, count in ranked[:limit]]


def activity_by_month(ideas: list[Mapping[str, Any]], comments: list[Mapping[str, Any]],
                      ratings: list[Mapping[str, Any]], months: list[str]) -> dict:
    """Ideas, comments and ratings per month, for the agency and for each of its networks."""
    network_of = {idea["id"]: idea.get("network") for idea in ideas}

    def series(network: str | None = None) -> dict:
        def mine(row: Mapping[str, Any]) -> bool:
            return network is None or network_of.get(row.get("idea_id", row.get("id"))) == network
        return {"ideas": count_by_month((i["created_at"] for i in ideas if mine(i)), months),
                "comments": count_by_month((c["created_at"] for c in comments if mine(c)), months),
                "ratings": count_by_month((r.get("rated_at") for r in ratings if mine(r)), months)}

    networks = sorted({n for n in network_of.values() if n})
    return {"months": months, **series(), "networks": [{"slug": n, **series(n)} for n in networks]}


def facet_for(filters: dict, member_id: str | None) -> tuple[str, dict]:
    """The one facet a list query looks up, and the remaining filters to check on each document."""
    state = filters.get("state")
    # the network first: an idea of a closed network is listed under its network alone
    named = [(name, filters[name]) for name in ("network", "tag", "agency") if filters.get(name)]
    if state == "draft":
        if member_id is None:
            raise RuleBroken("Log in to see your drafts.", field="state", kind="forbidden")
        return f"draft:{member_id}", {}
    rest: dict = {}
    if named:
        (first, value), others = named[0], named[1:]
        facet = f"{first}:{value}"
        if state:
            facet = f"state:{state}|{facet}"
        for name, other in others:
            rest[name] = other
        return facet, rest
    return (f"state:{state}" if state else "all"), rest


def page_count(total: int, per_page: int) -> int:
    """How many numbered pages ``total`` ideas fill, ``per_page`` to a page; an empty list still has its page 1."""
    return max(1, -(-total // per_page))


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor stands for; ``RuleBroken`` naming ``cursor`` when it is not one of ours."""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise RuleBroken("The cursor is not valid; start from the first page.", field="cursor") from None
    if not re.fullmatch(r"[0-9.|a-f-]{10,200}", key):
        raise RuleBroken("The cursor is not valid; start from the first page.", field="cursor")
    return key


# -- comments ----------------------------------------------------------------

def reply_depth(parent: dict | None) -> int:
    """The depth a new comment takes under ``parent`` (top level is 1); replies stop at MAX_DEPTH."""
    if parent is None:
        return 1
    if parent["depth"] >= MAX_DEPTH:
        raise RuleBroken(f"Replies go at most {MAX_DEPTH} levels deep; reply to the comment above instead.",
                         field="parent_id")
    if parent.get("status") == "removed":
        raise RuleBroken("That comment has been removed.", field="parent_id", kind="conflict")
    return parent["depth"] + 1


def check_can_comment(idea: dict) -> None:
    if idea["state"] in ("draft", "archived"):
        raise RuleBroken(f"Comments are closed on an idea that is {idea['state']}.", kind="conflict")


def editable_until(comment: dict) -> datetime | None:
    """Until when its author may edit ``comment``; None once it is removed.

    A time rather than a yes or no, so a page kept for a while still knows when the window closed.
    """
    return None if comment["status"] == "removed" else comment["created_at"] + EDIT_WINDOW


def check_comment_edit(comment: dict, member_id: str, now: datetime) -> None:
    if comment["author_id"] != member_id:
        raise RuleBroken("Only the comment's author edits it.", kind="forbidden")
    until = editable_until(comment)
    if until is None:
        raise RuleBroken("A removed comment cannot be edited.", kind="conflict")
    if now > until:
        raise RuleBroken("Comments can be edited for 15 minutes after posting.", kind="conflict")


def may_reply(idea: dict, comment: dict) -> bool:
    """Whether ``comment`` takes replies: the idea is open to comments and the thread is not at its deepest."""
    return allows(check_can_comment, idea) and allows(reply_depth, comment)


def check_comment_removal(comment: dict, actor: Actor) -> bool:
    """Authors remove their own comments; moderators any in their agency. Returns whether a moderator did it."""
    if comment["status"] == "removed":
        raise RuleBroken("The comment is already removed.", kind="conflict")
    if comment["author_id"] == actor.member_id:
        return False
    if actor.moderates(comment["agency"]):
        return True
    raise RuleBroken("Only the comment's author or a moderator removes it.", kind="forbidden")


def check_report(comment: dict, member_id: str) -> None:
    if comment["author_id"] == member_id:
        raise RuleBroken("You cannot report your own comment.", kind="forbidden")
    if comment["status"] == "removed":
        raise RuleBroken("The comment is already removed.", kind="conflict")


def hidden_after_reports(report_count: int) -> bool:
    return report_count >= REPORTS_TO_HIDE


def thread(comments: Iterable[dict]) -> list[dict]:
    """Comments in reading order: each followed by its replies (oldest first at every level).

    Input is any order; a reply whose parent is missing is shown at the top
    level rather than lost.
    """
    items = sorted(comments, key=lambda c: (c["created_at"], c["id"]))
    ids = {c["id"] for c in items}
    children: dict[str | None, list[dict]] = {}
    for comment in items:
        parent = comment.get("parent_id") if comment.get("parent_id") in ids else None
        children.setdefault(parent, []).append(comment)
    ordered: list[dict] = []

    def walk(parent: str | None) -> None:
        for child in children.get(parent, []):
            ordered.append(child)
            walk(child["id"])

    walk(None)
    return ordered


def shown_discussion(threaded: list[dict]) -> tuple[set[str], int]:
    """Which of an idea's ``threaded`` comments (as :func:`thread` orders them) its page shows, and the count
    its "Comments (N)" heading gives.

    The count is the comments whose words can be read (``visible``), the same number the idea keeps as
    ``comment_count`` for lists. A removed or hidden comment is shown only as the place its shown replies hang
    from, and is not counted; without shown replies it is left out, so the heading never counts fewer entries
    than a reader can read, nor more.
    """
    children: dict[str, list[str]] = {}
    for comment in threaded:
        if comment.get("parent_id"):
            children.setdefault(comment["parent_id"], []).append(comment["id"])
    shown: set[str] = set()
    for comment in reversed(threaded):  # replies come after their parent: each child is decided first
        if comment["status"] == "visible" or any(c in shown for c in children.get(comment["id"], [])):
            shown.add(comment["id"])
    return shown, sum(1 for comment in threaded if comment["status"] == "visible")


def visible_count_change(before: str, after: str) -> int:
    """How a comment's move from status ``before`` to ``after`` changes the idea's count of readable comments."""
    return (after == "visible") - (before == "visible")


# -- mentions ---------------------------------------------------------------
#
# A mention is "@[Display Name]" or "@First_Last", matched without regard to
# case, accents or repeated spaces, within the idea's agency. The markup is
# read in one place, ``services.common.mentions``, shared with notify.

name_key = mentions.name_key
mentioned_names = mentions.mentioned_names


def mention_links(members: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Name key → member id for the ``members`` a mention may link to: a name two members share links to neither,
    since the page could not say which of them was meant."""
    holders: dict[str, list[str]] = {}
    for member in members:
        holders.setdefault(member["name_key"], []).append(member["id"])
    return {key: ids[0] for key, ids in holders.items() if len(ids) == 1}


def excerpt(text: str, width: int = 200) -> str:
    clean = " ".join(text.split())
    return clean if len(clean) <= width else clean[: width - 1].rstrip() + "…"


# -- tags --------------------------------------------------------------------

def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, dash-separated, unique, in the order given."""
    out: dict[str, None] = {}
    for tag in tags:
        ascii_tag = unicodedata.normalize("NFKD", tag).encode("ascii", "ignore").decode().lower()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_tag).strip("-")
        if slug:
            out.setdefault(slug[:40], None)
    return list(out)
