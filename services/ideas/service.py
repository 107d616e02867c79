"""The ideas service: ideas and their lifecycle, ratings, threaded comments, follows, moderation, search.

Entrypoints only: each validates with a schema, applies the rules in
``domain``, writes through ``IdeaStore`` and records its events in the same
transaction, so a change and its events commit together or not at all.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from services.common import mentions, search, service_base, sessions
from services.common.consumer import consume_events
from services.common.contract.api.search import FACETS
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed, refusal
from services.common.events import Event, as_json_safe, isoformat, utc_now
from services.common.http import count_argument, load
from services.common.rpc import ANYONE, MEMBER, OPERATOR, role, rpc, service
from services.common.rules import RuleBroken
from services.common.storage import Storage
from services.common.timeseries import last_months
from services.common.tokens import Principal
from services.ideas import domain, schemas
from services.ideas.store import IdeaStore

PUBLIC_FIELDS = ("title", "description", "what_it_might_look_like", "why_it_matters", "prompts", "tags", "agency",
                 "network", "network_name", "author_id", "author_name", "state", "official_response",
                 "official_response_by", "official_response_role")


def _actor(principal: Principal) -> domain.Actor:
    return domain.Actor(principal.member_id, principal.agency, tuple(principal.roles))


def idea_view(idea: dict) -> dict:
    """An idea as the API shows it (and as ``idea.*`` events carry it, with ``idea_id``)."""
    view = {"id": idea["id"], **{name: idea.get(name) for name in PUBLIC_FIELDS}}
    view.update({
        "audience": idea.get("audience", domain.PUBLIC), "prompts": list(idea.get("prompts") or []), "tags": list(idea.get("tags") or []),
        "rating": domain.rating_summary(idea.get("rating")), "comment_count": idea.get("comment_count", 0),
        "follower_count": idea.get("follower_count", 0), "created_at": isoformat(idea["created_at"]),
        "updated_at": isoformat(idea["updated_at"]), "version": idea["version"],
        "official_response_at": isoformat(at) if (at := idea.get("official_response_at")) else None,
    })
    return view


def idea_event_data(idea: dict, **extra) -> dict:
    view = idea_view(idea)
    view["idea_id"] = view.pop("id")
    return {**view, **extra}


def record_unless_draft(tx: IdeaStore, idea: dict, name: str, data: dict) -> None:
    """Record an event about ``idea`` unless it is a draft.

    ``ideas.events`` is public and a draft is its author's alone, so while an
    idea is a draft nothing about it is published: not its creation, edits or
    follows. The state change that takes it out of draft carries all of its
    public fields, and consumers start from that.
    """
    if idea["state"] == "draft":
        return
    record_about(tx, idea, name, idea["id"], data)


def record_about(tx: IdeaStore, idea: dict, name: str, subject: str, data: dict) -> None:
    """Record an event about ``idea`` (or its discussion), saying who may know of it (``audience``).

    ``ideas.events`` is read by everyone, so an event about an idea of a closed network says so, and every
    consumer keeps it from anyone outside the network: notify's notices and webhooks, the archive, the
    subscriber client (docs/architecture.md, "Closed networks").
    """
    tx.record(name, subject=subject, data={**data, "audience": idea.get("audience", domain.PUBLIC)})


def comment_view(comment: dict) -> dict:
    """A comment as anyone may see it: removed and hidden comments keep their place but not their text."""
    status = comment["status"]
    return {
        "id": comment["id"], "idea_id": comment["idea_id"], "parent_id": comment.get("parent_id"),
        "depth": comment["depth"], "author_id": comment["author_id"], "author_name": comment["author_name"],
        "body": comment["body"] if status == "visible" else "", "status": status,
        "created_at": isoformat(comment["created_at"]),
        "edited_at": isoformat(comment["edited_at"]) if comment.get("edited_at") else None,
        "editable_until": isoformat(until) if (until := domain.editable_until(comment)) else None,
    }


class IdeasService(service_base.ServiceBase, sessions.KeepsSessionVersions):
    name = "ideas"

    store = Storage(IdeaStore)

    # -- ideas --------------------------------------------------------------

    @rpc(allow=MEMBER)
    def submit_idea(self, payload: dict) -> dict:
        """A new idea by the caller: open at once, or a draft when ``draft`` is true. The author follows it."""
        principal = self.caller.required("ideas:write")
        data = load(schemas.IdeaSubmission(), payload)
        network = self._check_network(principal, data["network"])
        try:
            domain.check_guest_submission(data["network"], principal.roles)
        except RuleBroken as error:
            raise refusal(error) from None
        now = utc_now()
        idea = {
            "_id": str(uuid.uuid4()), "title": data["title"], "description": data["description"],
            "what_it_might_look_like": data["what_it_might_look_like"], "why_it_matters": data["why_it_matters"],
            "prompts": data["prompts"], "tags": domain.normalise_tags(data["tags"]), "agency": principal.agency,
            "network": data["network"], "network_name": network.get("name") if network else None,
            "audience": domain.audience_for(data["network"], bool(network and network.get("closed"))),
            "author_id": principal.member_id,
            "author_name": principal.display_name or domain.FORMER_MEMBER,
            "state": domain.initial_state(data["draft"]), "official_response": None,
            "rating": domain.empty_rating(), "comment_count": 0, "follower_count": 1,
            "created_at": now, "updated_at": now, "version": 1,
        }

        def write(tx: IdeaStore) -> dict:
            tx.add_idea(idea)
            tx.add_follow(idea["_id"], principal.member_id, now)
            stored = tx.idea(idea["_id"])
            record_unless_draft(tx, stored, "idea.submitted", idea_event_data(stored))
            record_unless_draft(tx, stored, "idea.followed", {
                "idea_id": stored["id"], "member_id": principal.member_id, "follower_count": 1,
                "version": stored["version"]})
            return stored

        return idea_view(self.store.transaction(write))

    def _check_network(self, principal: Principal, network: str | None) -> dict | None:
        """The network an idea names, when its author belongs to it (memberships as the members service's
        events told this service; a join is known within moments)."""
        if network is None:
            return None
        try:
            domain.check_network(network, self.store.networks_of(principal.member_id))
        except RuleBroken as error:
            raise refusal(error) from None
        return self.store.network(network) or {"closed": False}

    def _networks_of(self, principal: Principal | None) -> set[str]:
        """The networks the caller belongs to: what decides whether they see a closed network's ideas."""
        return self.store.networks_of(principal.member_id) if principal else set()

    @rpc(allow=ANYONE)
    def get_idea(self, idea_id: str) -> dict:
        principal = self.caller.optional("ideas:read")
        idea = self._visible_idea(str(idea_id), principal)
        return idea_view(idea)

    @rpc(allow=ANYONE)
    def idea_page(self, idea_id: str) -> dict:
        """Everything anyone sees on the idea's page: the idea and its thread in reading order.

        Each comment says whether it takes replies, until when its author may
        edit it, whether the page shows it (``shown``: readable, or where readable
        replies hang from it) and its text as paragraphs of parts with the member
        ids its mentions link to. ``comment_count`` is the readable comments. The
        gateway caches this by idea and version; nothing in it depends on who asks.
        """
        principal = self.caller.optional("ideas:read")
        idea = self._visible_idea(str(idea_id), principal)
        threaded = domain.thread(comment_view(c) for c in self.store.comments_of(idea["id"]))
        shown, count = domain.shown_discussion(threaded)
        named = self._members_named(idea["agency"], (c["body"] for c in threaded))
        comments = [{**comment, "may_reply": domain.may_reply(idea, comment), "shown": comment["id"] in shown,
                     "paragraphs": mentions.paragraphs(comment["body"], named)} for comment in threaded]
        return {"idea": {**idea_view(idea), "comment_count": count}, "comments": comments, "version": idea["version"]}

    def _members_named(self, agency: str, bodies) -> dict[str, str]:
        """Name key → member id for every member of ``agency`` the ``bodies`` mention: what a mention links to."""
        keys = sorted({key for body in bodies for key in mentions.mentioned_names(body)})
        return domain.mention_links(self.store.members_named(agency, keys))

    @rpc(allow=MEMBER)
    def viewer_state(self, idea_id: str) -> dict:
        """What is the caller's own on an idea (their rating, whether they follow it) and what the rules let them do.

        ``allowed_moves`` are the states they may move it to; ``moderates``,
        ``may_rate`` and ``may_edit`` say whether they moderate its discussion,
        may rate it and may edit it.
        """
        principal = self.caller.required("ideas:read")
        idea = self._visible_idea(str(idea_id), principal)
        actor = _actor(principal)
        return {"idea_id": idea["id"], "my_rating": self.store.rating_of(idea["id"], principal.member_id),
                "following": self.store.is_following(idea["id"], principal.member_id), "version": idea["version"],
                "allowed_moves": list(domain.allowed_moves(idea, actor)), "moderates": actor.moderates(idea["agency"]),
                "may_rate": domain.allows(domain.check_can_rate, idea, actor.member_id)
                and domain.allows(domain.check_guest_part, idea, principal.roles, self._networks_of(principal)),
                "may_take_part": domain.allows(domain.check_guest_part, idea, principal.roles,
                                               self._networks_of(principal)),
                "may_edit": domain.allows(domain.check_author_edit, idea, actor)}

    def _visible_idea(self, idea_id: str, principal: Principal | None) -> dict:
        idea = self.store.idea(idea_id)
        if not domain.may_view(idea, principal.member_id if principal else None, self._networks_of(principal)):
            raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
        return idea

    @rpc(allow=MEMBER)
    def update_idea(self, idea_id: str, payload: dict) -> dict:
        """The author's edit, while the idea is a draft or open."""
        principal = self.caller.required("ideas:write")
        data = load(schemas.IdeaEdit(), payload)
        network = self._check_network(principal, data["network"]) if data.get("network") is not None else None
        if "network" in data:
            data["network_name"] = network.get("name") if network else None
        if "tags" in data:
            data["tags"] = domain.normalise_tags(data["tags"])

        def write(tx: IdeaStore) -> dict:
            idea = tx.idea(str(idea_id))
            try:
                domain.check_author_edit(idea, _actor(principal))
                if "network" in data:
                    domain.check_audience_change(idea.get("audience", domain.PUBLIC), domain.audience_for(
                        data["network"], bool(network and network.get("closed"))))
                    domain.check_guest_submission(data["network"], principal.roles)
            except RuleBroken as error:
                raise refusal(error) from None
            changed = tx.change_idea(idea["id"], set_fields={**data, "updated_at": utc_now()})
            record_unless_draft(tx, changed, "idea.updated", idea_event_data(changed))
            return changed

        return idea_view(self.store.transaction(write))

    @rpc(allow=MEMBER)
    def change_state(self, idea_id: str, payload: dict) -> dict:
        """Move an idea along its lifecycle (moderators and agency admins; authors publish drafts)."""
        principal = self.caller.required("ideas:write")
        data = load(schemas.StateChange(), payload)

        def write(tx: IdeaStore) -> dict:
            idea = tx.idea(str(idea_id))
            if not domain.may_view(idea, principal.member_id, self._networks_of(principal)):
                raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
            actor = _actor(principal)
            try:
                domain.check_transition(idea, data["state"], actor)
            except RuleBroken as error:
                raise refusal(error) from None
            now = utc_now()
            changes = {"state": data["state"], "updated_at": now}
            if data["official_response"] is not None:
                changes.update(official_response=data["official_response"], official_response_at=now,
                               official_response_by=principal.display_name or domain.FORMER_MEMBER,
                               official_response_role=domain.responder_role(actor, idea["agency"]))
            changed = tx.change_idea(idea["id"], set_fields=changes)
            record_about(tx, changed, "idea.state_changed", changed["id"], idea_event_data(
                changed, from_state=idea["state"], to_state=data["state"], changed_by=principal.member_id))
            if idea["author_id"] != principal.member_id:
                tx.log_moderation({"_id": str(uuid.uuid4()), "agency": idea["agency"], "actor_id": principal.member_id,
                                   "actor_name": principal.display_name, "action": "state_changed",
                                   "idea_id": idea["id"], "comment_id": None,
                                   "detail": f"{idea['state']} → {data['state']}",
                                   "from_state": idea["state"], "to_state": data["state"],
                                   "note": data["official_response"] or "", "at": utc_now()})
            return changed

        return idea_view(self.store.transaction(write))

    # -- listing and search -------------------------------------------------

    @rpc(allow=ANYONE)
    def list_ideas(self, query: dict | None = None) -> dict:
        """``{items, next_cursor}``: one facet of the ideas in one order, a page below the cursor; with ``page``
        (numbered from 1) that page instead, and also ``page``, ``pages`` and ``total``."""
        principal = self.caller.optional("ideas:read")
        data = load(schemas.ListQuery(), query or {})
        if data["tag"]:
            data["tag"] = (domain.normalise_tags([data["tag"]]) or ["-"])[0]
        try:
            network = self.store.network(data["network"]) or {}
            domain.check_network_list(data["network"], bool(network.get("closed")), self._networks_of(principal))
            facet, rest = domain.facet_for(data, principal.member_id if principal else None)
            after = domain.decode_cursor(data["cursor"]) if data["cursor"] else None
        except RuleBroken as error:
            raise refusal(error) from None
        skip = (data["page"] - 1) * data["limit"] if data["page"] else 0
        found = self.store.list_ideas(facet, rest, data["sort"], after, data["limit"] + 1, skip=skip)
        more = len(found) > data["limit"]
        page = found[: data["limit"]]
        next_cursor = domain.encode_cursor(page[-1][domain.SORT_FIELDS[data["sort"]]]) if more else None
        answer = {"items": [idea_view(idea) for idea in page], "next_cursor": next_cursor}
        if data["page"]:
            total = self.store.count_ideas(facet, rest)
            answer.update(page=data["page"], total=total, pages=domain.page_count(total, data["limit"]))
        return answer

    @rpc(allow=ANYONE)
    def network_activity(self, slug: str, limit: int = 10) -> dict:
        """What a network's page shows of ideas: its newest ideas and its newest discussion (the latest comments
        on them). A closed network's are for its members: anyone else gets ``visible: false`` and nothing."""
        principal = self.caller.optional("ideas:read")
        limit = count_argument(limit, 50)
        network = self.store.network(str(slug)) or {}
        if not domain.allows(domain.check_network_list, str(slug), bool(network.get("closed")),
                             self._networks_of(principal)):
            return {"visible": False, "closed": True, "ideas": [], "discussion": []}
        ideas = self.store.list_ideas(f"network:{slug}", {}, "newest", None, 50)
        comments = self.store.recent_comments_on([idea["id"] for idea in ideas], limit)
        by_id = {idea["id"]: idea for idea in ideas}
        discussion = domain.network_discussion(comments, by_id, limit)
        # Mentions link to the members they name, looked up in each idea's own agency, as on the idea's page.
        agencies = {by_id[item["idea_id"]]["agency"] for item in discussion}
        named = {agency: self._members_named(agency, (item["excerpt"] for item in discussion
                                                      if by_id[item["idea_id"]]["agency"] == agency))
                 for agency in agencies}
        discussion = [{**item, "excerpt_parts": mentions.parts(item["excerpt"],
                                                               named[by_id[item["idea_id"]]["agency"]])}
                      for item in discussion]
        return {"visible": True, "closed": bool(network.get("closed")),
                "ideas": [idea_view(idea) for idea in ideas[:limit]], "discussion": as_json_safe(discussion)}

    @rpc(allow=ANYONE)
    def highlights(self, limit: int = 5) -> dict:
        """What the home page shows of ideas, the same for everyone: newest, top rated, recently adopted,
        and the networks with the most of the newest hundred ideas."""
        limit = count_argument(limit, 20)
        newest = self.store.list_ideas("all", {}, "newest", None, 100)
        return {
            "newest": [idea_view(idea) for idea in newest[:limit]],
            "top": [idea_view(idea) for idea in self.store.list_ideas("all", {}, "top", None, limit)],
            "adopted": [idea_view(idea) for idea in self.store.list_ideas("state:adopted", {}, "newest", None, limit)],
            "networks": domain.active_networks(newest, limit),
        }

    @rpc(allow=MEMBER)
    def my_ideas(self, limit: int = 5) -> dict:
        """The caller's newest ideas, drafts included: their own activity on the home page."""
        principal = self.caller.required("ideas:read")
        limit = count_argument(limit, 50)
        return {"items": [idea_view(idea) for idea in self.store.ideas_by_author(principal.member_id, limit)]}

    @rpc(allow=role("agency_admin"))
    def insights(self, agency: str, months: int = 12) -> dict:
        """Ideas, comments and ratings per month over the last ``months``, for the agency and each network."""
        principal = self.caller.required()
        principal.require_role("agency_admin", str(agency))
        ideas, comments, ratings = self.store.agency_activity(str(agency))
        shown = last_months(utc_now(), count_argument(months, 36, "months"))
        return domain.activity_by_month(ideas, comments, ratings, shown)

    @rpc(allow=ANYONE)
    def site_search(self, query: dict) -> dict:
        """This service's part of the site's one search (``services.common.search.answer_part``).

        Ideas in every public state holding every word of ``q`` in their own
        text or in one visible comment; drafts are never found. A caller who
        belongs to closed networks finds their ideas too, and the answer then
        says ``personal: true`` (it is theirs, not to be shared); for everyone
        else the answer is the same.
        """
        principal = self.caller.optional("ideas:read")
        data = load(schemas.SiteSearchQuery(), query)
        closed = self.store.closed_among(self._networks_of(principal))
        part = search.answer_part(data["q"], {name: data[name] for name in FACETS}, data["cursor"] + data["limit"],
                                  lambda terms: self._search_hits(terms, closed), self.store.stems_near)
        return {**part, "personal": bool(closed)}

    def _search_hits(self, terms: list[str], networks: set[str] = frozenset()) -> list[dict]:
        """Every listed idea found by ``terms`` (of closed networks, only ``networks``'): by its own text, else by
        its best-matching visible comment."""
        hits = {doc["id"]: _search_hit(doc, terms) for doc in self.store.search_candidates(terms, networks)}
        best_comment: dict[str, dict] = {}
        for comment in self.store.comment_search_candidates(terms):
            idea_id = comment["idea_id"]
            held = best_comment.get(idea_id)
            if idea_id not in hits and (held is None or search.score(comment, terms) > search.score(held, terms)):
                best_comment[idea_id] = comment
        for doc in self.store.listed_ideas(sorted(best_comment), networks):
            hits[doc["id"]] = _search_hit(doc, terms, found_in=best_comment[doc["id"]])
        return list(hits.values())

    @rpc(allow=ANYONE)
    def similar_ideas(self, title: str, limit: int = 5) -> list[dict]:
        """Listed ideas sharing words with a title being written: the ones sharing most, and best, first."""
        terms = search.query_terms(title if isinstance(title, str) else "")
        if not terms:
            return []
        candidates: dict[str, dict] = {}
        for term in sorted(terms, key=len, reverse=True)[:6]:
            for doc in self.store.ideas_with_term(term):
                candidates[doc["id"]] = doc
        ranked = search.rank(candidates.values(), terms, time_field="created_at")[: max(1, min(int(limit), 10))]
        return [search.presented(_search_hit(doc, terms), terms) for doc in ranked]

    # -- ratings ------------------------------------------------------------

    @rpc(allow=MEMBER)
    def rate(self, idea_id: str, payload: dict) -> dict:
        """The caller's 1–5 stars (again replaces their earlier rating); answers the idea's new summary.

        A first rating makes the rater follow the idea unless their following preference says not to.
        """
        principal = self.caller.required("ratings:write")
        stars = load(schemas.Rating(), payload)["stars"]

        def write(tx: IdeaStore) -> dict:
            idea = tx.idea(str(idea_id))
            if not domain.may_view(idea, principal.member_id, self._networks_of(principal)):
                raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
            try:
                domain.check_can_rate(idea, principal.member_id)
                domain.check_guest_part(idea, principal.roles, self._networks_of(principal))
            except RuleBroken as error:
                raise refusal(error) from None
            previous = tx.rating_of(idea["id"], principal.member_id)
            if previous == stars:
                return idea, stars
            now = utc_now()
            tx.put_rating(idea["id"], principal.member_id, stars, now)
            # Only a first rating follows: changing one's mind is not a reason to follow again after unfollowing.
            followed = previous is None and _follow_on_taking_part(tx, idea, principal.member_id, now)
            changed = tx.change_idea(idea["id"], before=idea, inc={**domain.rating_change(stars, previous),
                                                                   **({"follower_count": 1} if followed else {})})
            summary = domain.rating_summary(changed["rating"])
            record_about(tx, changed, "idea.rated", changed["id"], {
                "idea_id": changed["id"], "member_id": principal.member_id, "stars": stars,
                "previous_stars": previous, "average": summary["average"], "count": summary["count"],
                "distribution": summary["distribution"], "agency": changed["agency"], "started_following": followed,
                "version": changed["version"]})
            return changed, stars

        idea, mine = self.store.transaction(write)
        return {**domain.rating_summary(idea["rating"]), "my_rating": mine, "idea_id": idea["id"],
                "version": idea["version"]}

    # -- comments -----------------------------------------------------------

    @rpc(allow=MEMBER)
    def post_comment(self, idea_id: str, payload: dict) -> dict:
        """A comment on an idea, or a reply (``parent_id``) down to depth 3. Mentions are resolved in the idea's agency.

        The commenter follows the idea from now on unless their following preference says not to.
        """
        principal = self.caller.required("comments:write")
        data = load(schemas.CommentPost(), payload)
        now = utc_now()

        def write(tx: IdeaStore) -> dict:
            idea = tx.idea(str(idea_id))
            if not domain.may_view(idea, principal.member_id, self._networks_of(principal)):
                raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
            parent = None
            if data["parent_id"]:
                parent = tx.comment(data["parent_id"])
                if parent["idea_id"] != idea["id"]:
                    raise ValidationFailed("The comment replied to is on another idea.",
                                           {"parent_id": ["not a comment on this idea"]})
            try:
                domain.check_can_comment(idea)
                domain.check_guest_part(idea, principal.roles, self._networks_of(principal))
                depth = domain.reply_depth(parent)
            except RuleBroken as error:
                raise refusal(error) from None
            ancestors = [*parent.get("path", []), parent["id"]] if parent else []
            comment = {"_id": str(uuid.uuid4()), "idea_id": idea["id"], "agency": idea["agency"],
                       "parent_id": parent["id"] if parent else None, "path": ancestors, "depth": depth,
                       "author_id": principal.member_id, "author_name": principal.display_name or domain.FORMER_MEMBER,
                       "body": data["body"], "status": "visible", "report_count": 0, "created_at": now,
                       "edited_at": None}
            tx.add_comment(comment)
            followed = _follow_on_taking_part(tx, idea, principal.member_id, now)
            changed = tx.change_idea(idea["id"], before=idea,
                                     inc={"comment_count": 1, **({"follower_count": 1} if followed else {})})
            stored = tx.comment(comment["_id"])
            mentioned = _mentioned(tx, stored, changed, principal)
            record_about(tx, changed, "comment.posted", stored["id"],
                         {**self._comment_event(tx, stored, changed, mentioned), "started_following": followed})
            _record_mentions(tx, stored, changed, principal, mentioned)
            return stored, changed["version"]

        return _with_version(*self.store.transaction(write))

    def _comment_event(self, tx: IdeaStore, comment: dict, idea: dict, mentioned: list[dict]) -> dict:
        ancestors = tx.comments_by(comment.get("path", [])) if comment.get("path") else {}
        ancestor_authors = [ancestors[cid]["author_id"] for cid in comment.get("path", []) if cid in ancestors]
        parent = ancestors.get(comment.get("parent_id") or "")
        return {
            "comment_id": comment["id"], "idea_id": idea["id"], "idea_title": idea["title"], "agency": idea["agency"],
            "parent_id": comment.get("parent_id"), "depth": comment["depth"], "author_id": comment["author_id"],
            "author_name": comment["author_name"], "body": comment["body"],
            "created_at": isoformat(comment["created_at"]),
            "edited_at": isoformat(comment["edited_at"]) if comment.get("edited_at") else None,
            "idea_author_id": idea["author_id"], "parent_author_id": parent["author_id"] if parent else None,
            "ancestor_author_ids": ancestor_authors, "mentioned_member_ids": [member["id"] for member in mentioned],
            "mention_links": _mention_links(tx, comment, idea),
            "version": idea["version"],
        }

    @rpc(allow=MEMBER)
    def edit_comment(self, comment_id: str, payload: dict) -> dict:
        """The author's correction, within 15 minutes of posting. Newly mentioned members are told."""
        principal = self.caller.required("comments:write")
        data = load(schemas.CommentEdit(), payload)
        now = utc_now()

        def write(tx: IdeaStore) -> dict:
            comment = tx.comment(str(comment_id))
            try:
                domain.check_comment_edit(comment, principal.member_id, now)
            except RuleBroken as error:
                raise refusal(error) from None
            changed = tx.change_comment(comment["id"], {"body": data["body"], "edited_at": now})
            idea = tx.change_idea(comment["idea_id"])
            newly_mentioned = _mentioned(tx, changed, idea, principal, set(domain.mentioned_names(comment["body"])))
            record_about(tx, idea, "comment.edited", changed["id"],
                         self._comment_event(tx, changed, idea, newly_mentioned))
            _record_mentions(tx, changed, idea, principal, newly_mentioned)
            return changed, idea["version"]

        return _with_version(*self.store.transaction(write))

    @rpc(allow=MEMBER)
    def remove_comment(self, comment_id: str) -> dict:
        """Soft delete by the author or a moderator: the comment shows as removed and its replies stay."""
        principal = self.caller.required("comments:write")

        def write(tx: IdeaStore) -> dict:
            comment = tx.comment(str(comment_id))
            try:
                by_moderator = domain.check_comment_removal(comment, _actor(principal))
            except RuleBroken as error:
                raise refusal(error) from None
            return self._remove(tx, comment, principal, by_moderator, note="")

        return _with_version(*self.store.transaction(write))

    def _remove(self, tx: IdeaStore, comment: dict, principal: Principal, by_moderator: bool, note: str) -> dict:
        now = utc_now()
        changed = tx.change_comment(comment["id"], {"status": "removed", "removed_at": now,
                                                    "removed_by": principal.member_id})
        idea = tx.change_idea(comment["idea_id"],
                              inc={"comment_count": domain.visible_count_change(comment["status"], "removed")})
        record_about(tx, idea, "comment.removed", comment["id"], {
            "comment_id": comment["id"], "idea_id": idea["id"], "author_id": comment["author_id"],
            "removed_by": principal.member_id, "by_moderator": by_moderator, "version": idea["version"]})
        if by_moderator:
            self._log(tx, principal, comment, "comment_removed", note)
        return changed, idea["version"]

    def _log(self, tx: IdeaStore, principal: Principal, comment: dict, action: str, note: str) -> None:
        tx.log_moderation({"_id": str(uuid.uuid4()), "agency": comment["agency"], "actor_id": principal.member_id,
                           "actor_name": principal.display_name, "action": action, "idea_id": comment["idea_id"],
                           "comment_id": comment["id"], "detail": domain.excerpt(comment["body"], 120),
                           "note": note, "at": utc_now()})

    @rpc(allow=MEMBER)
    def report_comment(self, comment_id: str, payload: dict) -> dict:
        """One report per member; the third hides the comment until a moderator decides."""
        principal = self.caller.required("comments:write")
        data = load(schemas.Report(), payload)

        def write(tx: IdeaStore) -> dict:
            comment = tx.comment(str(comment_id))
            if not domain.may_view(tx.idea(comment["idea_id"]), principal.member_id, self._networks_of(principal)):
                raise NotFound("There is no such comment.", {"comment_id": ["no such comment"]})
            try:
                domain.check_report(comment, principal.member_id)
            except RuleBroken as error:
                raise refusal(error) from None
            if not tx.add_report(comment["id"], principal.member_id, data["reason"], utc_now()):
                return comment, None
            count = comment.get("report_count", 0) + 1
            changes: dict = {"report_count": count}
            hide = comment["status"] == "visible" and domain.hidden_after_reports(count)
            if hide:
                changes.update(status="hidden", flagged_at=utc_now())
            changed = tx.change_comment(comment["id"], changes)
            idea = tx.change_idea(comment["idea_id"], inc={
                "comment_count": domain.visible_count_change(comment["status"], changed["status"])})
            record_about(tx, idea, "comment.flagged", comment["id"], {
                "comment_id": comment["id"], "idea_id": idea["id"], "agency": comment["agency"],
                "reported_by": principal.member_id, "reason": data["reason"], "report_count": count,
                "hidden": changed["status"] == "hidden", "version": idea["version"]})
            return changed, idea["version"]

        return {**_with_version(*self.store.transaction(write)), "reported": True}

    @rpc(allow=role("moderator", "agency_admin"))
    def moderate_comment(self, comment_id: str, payload: dict) -> dict:
        """A moderator's decision on a reported comment: keep it (it shows again) or remove it."""
        principal = self.caller.required()
        data = load(schemas.ModerationDecision(), payload)

        def write(tx: IdeaStore) -> dict:
            comment = tx.comment(str(comment_id))
            if not _actor(principal).moderates(comment["agency"]):
                raise Forbidden("Only moderators of the idea's agency decide on reported comments.")
            if comment["status"] == "removed":
                raise Conflict("The comment is already removed.")
            if data["decision"] == "remove":
                return self._remove(tx, comment, principal, True, data["note"])
            changed = tx.change_comment(comment["id"], {"status": "visible", "kept_at": utc_now()})
            idea = tx.change_idea(comment["idea_id"],
                                  inc={"comment_count": domain.visible_count_change(comment["status"], "visible")})
            record_about(tx, idea, "comment.restored", comment["id"], {
                "comment_id": comment["id"], "idea_id": idea["id"], "moderator_id": principal.member_id,
                "version": idea["version"]})
            self._log(tx, principal, comment, "comment_kept", data["note"])
            return changed, idea["version"]

        return _with_version(*self.store.transaction(write))

    @rpc(allow=role("moderator", "agency_admin"))
    def moderation_queue(self) -> dict:
        """Hidden comments waiting for a decision, oldest first, with their reports (the caller's agency)."""
        principal = self.caller.required()
        agency = None if principal.is_operator else principal.agency
        if not _actor(principal).moderates(principal.agency):
            raise Forbidden("The moderation queue is for moderators and agency administrators.")
        hidden = self.store.hidden_comments(agency)
        reports = self.store.reports_of([c["id"] for c in hidden])
        items = [{**comment_view(c), "body": c["body"], "agency": c["agency"], "report_count": c.get("report_count", 0),
                  "reports": [{"member_id": r["member_id"], "reason": r["reason"], "at": isoformat(r["at"])}
                              for r in reports.get(c["id"], [])]} for c in hidden]
        return {"items": items, "next_cursor": None}

    @rpc(allow=role("moderator", "agency_admin"))
    def moderation_log(self) -> dict:
        """Every moderator action in the caller's agency, newest first."""
        principal = self.caller.required()
        if not _actor(principal).moderates(principal.agency):
            raise Forbidden("The moderation log is for moderators and agency administrators.")
        agency = None if principal.is_operator else principal.agency
        entries = [domain.with_states(entry) for entry in self.store.moderation_log(agency)]
        return {"items": as_json_safe(entries), "next_cursor": None}

    # -- follows ------------------------------------------------------------

    @rpc(allow=MEMBER)
    def follow(self, idea_id: str) -> dict:
        return self._set_following(str(idea_id), True)

    @rpc(allow=MEMBER)
    def unfollow(self, idea_id: str) -> dict:
        return self._set_following(str(idea_id), False)

    def _set_following(self, idea_id: str, follow: bool) -> dict:
        principal = self.caller.required("ideas:write")

        def write(tx: IdeaStore) -> dict:
            idea = tx.idea(idea_id)
            if not domain.may_view(idea, principal.member_id, self._networks_of(principal)):
                raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
            done = (tx.add_follow(idea_id, principal.member_id, utc_now()) if follow
                    else tx.remove_follow(idea_id, principal.member_id))
            if not done:
                return idea
            changed = tx.change_idea(idea_id, inc={"follower_count": 1 if follow else -1})
            _record_follow(tx, changed, principal.member_id, follow)
            return changed

        idea = self.store.transaction(write)
        return {"idea_id": idea["id"], "following": follow, "follower_count": idea.get("follower_count", 0),
                "version": idea["version"]}

    @rpc(allow=MEMBER)
    def following_preference(self) -> dict:
        """Whether the caller starts following an idea when they comment on it or first rate it."""
        principal = self.caller.required("ideas:read")
        return {"follow_when_taking_part": self.store.follows_when_taking_part(principal.member_id)}

    @rpc(allow=MEMBER)
    def set_following_preference(self, payload: dict) -> dict:
        principal = self.caller.required("ideas:write")
        follow = load(schemas.FollowingPreference(), payload)["follow_when_taking_part"]
        self.store.set_follows_when_taking_part(principal.member_id, follow)
        return {"follow_when_taking_part": follow}

    @rpc(allow=service("notify") | OPERATOR)
    def followers_of(self, idea_id: str) -> list[str]:
        """Member ids following an idea (for notifications)."""
        return self.store.followers(str(idea_id))

    # -- events from the members service ------------------------------------

    @consume_events("members", "member.registered", "member.deactivated")
    def keep_member_names(self, event: Event) -> None:
        """Names for @mentions; on deactivation the member's ideas and comments say "former member"."""
        data = event.data
        if event.name == "member.registered":
            self.store.transaction(lambda tx: tx.remember_member(
                data["member_id"], data["display_name"], data["agency"], data["version"]), handling=event)
            return

        def anonymise(tx: IdeaStore) -> None:
            tx.forget_member(data["member_id"], data["agency"], data["version"])
            tx.mark_member_deactivated(data["member_id"])
            touched = sorted(set(tx.idea_ids_by_author(data["member_id"]))
                             | set(tx.comment_ideas_by_author(data["member_id"])))
            tx.rename_author(data["member_id"], domain.FORMER_MEMBER)
            for idea_id in touched:
                changed = tx.change_idea(idea_id)
                record_unless_draft(tx, changed, "idea.updated", idea_event_data(changed))

        self.store.transaction(anonymise, handling=event)

    @consume_events("members", "member.joined_network", "member.left_network", "network.created")
    def keep_memberships(self, event: Event) -> None:
        """Which networks each member belongs to (an idea names only a network its author is in, and a closed
        network's ideas are seen by its members), and each network's name and whether it is closed."""
        data = event.data
        if event.name == "network.created":
            self.store.transaction(lambda tx: tx.note_network(data["slug"], data["name"], data["closed"]),
                                   handling=event)
            return
        joined = event.name == "member.joined_network"

        def note(tx: IdeaStore) -> None:
            # The network's own event may come later than its first join: both say whether it is closed.
            if data.get("network_name") is not None:
                tx.note_network(data["network_slug"], data["network_name"], data["closed"])
            tx.note_membership(data["member_id"], data["network_slug"], joined, data["version"])

        self.store.transaction(note, handling=event)


def _follow_on_taking_part(tx: IdeaStore, idea: dict, member_id: str, at: datetime) -> bool:
    """Make a member who comments on or rates ``idea`` a follower, so they hear how it ends, unless they
    said not to; True when they follow it now and did not before."""
    return tx.follows_when_taking_part(member_id) and tx.add_follow(idea["id"], member_id, at)


def _record_follow(tx: IdeaStore, idea: dict, member_id: str, follow: bool) -> None:
    record_unless_draft(tx, idea, "idea.followed" if follow else "idea.unfollowed", {
        "idea_id": idea["id"], "member_id": member_id, "follower_count": idea["follower_count"],
        "version": idea["version"]})


def _mentioned(tx: IdeaStore, comment: dict, idea: dict, principal: Principal,
               already: set[str] = frozenset()) -> list[dict]:
    """Members of the idea's agency the comment names (``@[Name]``), except its author and names in ``already``."""
    keys = [key for key in domain.mentioned_names(comment["body"]) if key not in already]
    return [member for member in tx.members_named(idea["agency"], keys) if member["id"] != principal.member_id
            and domain.may_view(idea, member["id"], tx.networks_of(member["id"]))]


def _record_mentions(tx: IdeaStore, comment: dict, idea: dict, principal: Principal, mentioned: list[dict]) -> None:
    for member in mentioned:
        record_about(tx, idea, "member.mentioned", member["id"], {
            "member_id": member["id"], "idea_id": idea["id"], "idea_title": idea["title"],
            "comment_id": comment["id"], "by_member_id": principal.member_id,
            "by_name": comment["author_name"], "excerpt": domain.excerpt(comment["body"]),
            "mention_links": _mention_links(tx, comment, idea), "version": idea["version"]})


def _mention_links(tx: IdeaStore, comment: dict, idea: dict) -> dict[str, str]:
    """Name key → member id for each mention in the comment that names one member of the idea's agency:
    what notices quoting it link to."""
    return domain.mention_links(tx.members_named(idea["agency"], domain.mentioned_names(comment["body"])))


def _with_version(comment: dict, idea_version: int | None) -> dict:
    """A comment as answered to a write, with the idea's version after it (None when nothing changed)."""
    return {**comment_view(comment), "idea_version": idea_version}


def _search_hit(idea: dict, terms: list[str], found_in: dict | None = None) -> dict:
    """A listed idea as search finds it, by its own text or by ``found_in``, one of its comments."""
    text = found_in["body"] if found_in else " ".join(
        [idea["description"], idea.get("what_it_might_look_like", ""), idea.get("why_it_matters", ""),
         *idea.get("prompts", [])])
    return {"id": idea["id"], "kind": "idea", "title": idea["title"], "text": text,
            "found_in": "comment" if found_in else "text", "url": f"/ideas/{idea['id']}",
            "score": search.score(found_in or idea, terms), "at": isoformat(idea["created_at"]),
            "state": idea["state"], "agency": idea["agency"], "network": idea.get("network"), "resource_kind": None,
            "tags": idea.get("tags", []), "author_name": idea.get("author_name", ""),
            "comment_count": idea.get("comment_count", 0), "rating": domain.rating_summary(idea.get("rating")),
            "created_at": isoformat(idea["created_at"])}
