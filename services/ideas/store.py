"""The ideas service's storage: ideas, ratings, comments, reports, follows, members' names, the moderation log.

Ideas and comments carry their own search terms (``services.common.search``),
so search finds an idea by its text or by what its discussion says.

Every query here is served by an index declared in ``IdeaStore.indexes``; a
list page is one range scan on ``(facets, sort_<order>)`` whatever the number
of ideas.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common import search
from services.common.errors import NotFound
from services.common.storage import Store, plain
from services.ideas import domain

# Title hits outrank everything else; the idea's other text fields count as body.
SEARCH_WEIGHTS = {"title": 10, "tags": 5, "summary": 3, "body": 1}
SEARCH_PROJECTION = {"title": 1, "description": 1, "what_it_might_look_like": 1, "why_it_matters": 1, "prompts": 1,
                     "state": 1, "agency": 1, "network": 1, "tags": 1, "author_name": 1, "created_at": 1, "rating": 1,
                     "comment_count": 1, "listed": 1, "audience": 1, search.WEIGHTS_FIELD: 1, search.TERMS_FIELD: 1}
COMMENT_SEARCH_PROJECTION = {"idea_id": 1, "body": 1, "status": 1, search.WEIGHTS_FIELD: 1, search.TERMS_FIELD: 1}
LIST_PROJECTION = {search.TERMS_FIELD: 0, search.WEIGHTS_FIELD: 0, "facets": 0}
COMMENT_PROJECTION = {search.TERMS_FIELD: 0, search.WEIGHTS_FIELD: 0}
log = logging.getLogger(__name__)
SORT_INDEX = {sort: f"facets_{field}" for sort, field in domain.SORT_FIELDS.items()}


def derived_fields(idea: dict) -> dict:
    """What an idea stores for listing and search, computed from its own fields."""
    created, idea_id = idea["created_at"], idea["_id"]
    rating = idea.get("rating") or domain.empty_rating()
    text = search.terms_for({
        "title": idea["title"], "tags": " ".join(idea.get("tags", [])), "summary": idea["description"],
        "body": [idea.get("what_it_might_look_like", ""), idea.get("why_it_matters", ""), *idea.get("prompts", [])],
    }, SEARCH_WEIGHTS)
    return {
        "listed": domain.is_listed(idea["state"]),
        "facets": domain.facets(idea["state"], idea["agency"], idea.get("network"), idea.get("tags", []),
                                idea["author_id"], idea.get("audience", domain.PUBLIC)),
        "sort_newest": domain.newest_key(created, idea_id),
        "sort_top": domain.top_key(rating["sum"], rating["count"], created, idea_id),
        "sort_discussed": domain.discussed_key(idea.get("comment_count", 0), created, idea_id),
        **text,
    }


# Which stored fields each group of derived fields is computed from: a change that touches none of a
# group's inputs leaves that group as it is (a rating moves two fields, not the search terms).
TEXT_INPUTS = ("title", "tags", "description", "what_it_might_look_like", "why_it_matters", "prompts")
FACET_INPUTS = ("state", "agency", "network", "tags", "author_id", "audience")


def derived_changes(before: dict, after: dict) -> dict:
    """The derived fields (as ``$set`` paths) whose value differs between two versions of an idea."""
    def moved(names) -> bool:
        return any(before.get(name) != after.get(name) for name in names)

    old, new = {}, {}
    if moved(TEXT_INPUTS) or moved(FACET_INPUTS) or moved(("created_at",)):
        old, new = derived_fields({**before, "_id": before["id"]}), derived_fields({**after, "_id": after["id"]})
    else:
        for name, inputs, key in (("sort_top", ("rating",), _top_key), ("sort_discussed", ("comment_count",),
                                                                        _discussed_key)):
            if moved(inputs):
                old[name], new[name] = key(before), key(after)
    if before.get("rating") != after.get("rating"):
        old["rating.average"] = _average(before)
        new["rating.average"] = _average(after)
    return {name: value for name, value in new.items() if old.get(name) != value}


def _rating(idea: dict) -> dict:
    return idea.get("rating") or domain.empty_rating()


def _average(idea: dict) -> float | None:
    rating = _rating(idea)
    return domain.average(rating.get("sum", 0), rating.get("count", 0))


def _top_key(idea: dict) -> str:
    rating = _rating(idea)
    return domain.top_key(rating.get("sum", 0), rating.get("count", 0), idea["created_at"], idea["id"])


def _discussed_key(idea: dict) -> str:
    return domain.discussed_key(idea.get("comment_count", 0), idea["created_at"], idea["id"])


def comment_terms(body: str) -> dict:
    """What a comment stores for search: its body's terms, weighted as an idea's body is."""
    return search.terms_for({"body": body}, SEARCH_WEIGHTS)


def _searchable(doc: dict, networks: Iterable[str] = ()) -> bool:
    """Search finds listed ideas everyone may see, and those of the closed ``networks`` the reader belongs to."""
    return bool(doc.get("listed")) and (domain.is_public(doc) or doc.get("network") in set(networks))


def _list_filter(facet: str, rest: dict) -> dict:
    query: dict = {"facets": facet}
    for name, value in rest.items():
        query["tags" if name == "tag" else name] = value
    return query


def _stored(doc: dict, dotted: str):
    """The value at ``dotted`` (``rating.average``) in a stored document, or None."""
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


class IdeaStore(Store):
    indexes = {
        "ideas": [
            *[IndexModel([("facets", ASCENDING), (field, DESCENDING)], name=SORT_INDEX[sort])
              for sort, field in domain.SORT_FIELDS.items()],
            IndexModel(**search.INDEX),
            IndexModel([("author_id", ASCENDING)]),
        ],
        "comments": [
            IndexModel([("idea_id", ASCENDING), ("created_at", ASCENDING)]),
            IndexModel(**search.INDEX),
            IndexModel([("author_id", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("agency", ASCENDING), ("flagged_at", ASCENDING)]),
        ],
        "ratings": [IndexModel([("idea_id", ASCENDING)])],
        "follows": [IndexModel([("idea_id", ASCENDING), ("followed_at", ASCENDING)]),
                    IndexModel([("member_id", ASCENDING)])],
        "member_names": [IndexModel([("agency", ASCENDING), ("name_key", ASCENDING)])],
        "network_memberships": [IndexModel([("member_id", ASCENDING), ("member", ASCENDING)])],
        "moderation_log": [IndexModel([("agency", ASCENDING), ("at", DESCENDING)])],
    }

    def prepare(self) -> None:
        """Comments posted before comment search existed get their search terms (see :meth:`add_missing_comment_terms`)."""
        added = self.add_missing_comment_terms()
        if added:
            log.info("gave %s earlier comments their search terms", added)

    def add_missing_comment_terms(self, batch: int = 500) -> int:
        """Give every comment stored without search terms the terms of its body; how many it gave.

        Idempotent: only comments still lacking the terms are read or written
        (one indexed read when none are), and a comment given them by another
        replica meanwhile is left as it is.
        """
        given = 0
        while True:
            lacking = list(self.db.comments.find({search.TERMS_FIELD: {"$exists": False}}, {"body": 1},
                                                 session=self.session).limit(batch))
            if not lacking:
                return given
            changed = 0
            for comment in lacking:
                done = self.db.comments.update_one({"_id": comment["_id"], search.TERMS_FIELD: {"$exists": False}},
                                                   {"$set": comment_terms(comment.get("body") or "")},
                                                   session=self.session)
                changed += done.modified_count
            given += changed
            if not changed:  # another replica gave this batch its terms: whatever is left, it is doing
                return given

    def gauges(self):
        return [
            ("ideas", "Ideas by state.", ["state"], self._ideas_by_state),
            ("ratings", "Ratings given (one per member per idea).", [],
             lambda: [((), float(self.db.ratings.estimated_document_count()))]),
        ]

    def _ideas_by_state(self):
        counts = {row["_id"]: row["n"] for row in
                  self.db.ideas.aggregate([{"$group": {"_id": "$state", "n": {"$sum": 1}}}])}
        return [((state,), float(counts.get(state, 0))) for state in domain.STATES]

    # -- ideas --------------------------------------------------------------

    def add_idea(self, idea: dict) -> None:
        self.db.ideas.insert_one({**idea, **derived_fields(idea)}, session=self.session)

    def idea(self, idea_id: str) -> dict:
        found = self.db.ideas.find_one({"_id": str(idea_id)}, LIST_PROJECTION, session=self.session)
        if found is None:
            raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
        return plain(found)

    def change_idea(self, idea_id: str, *, set_fields: dict | None = None, inc: dict | None = None,
                    before: dict | None = None) -> dict:
        """Apply a change, raise the version by one and refresh the derived fields; returns the idea after it.

        ``before`` is the idea as this transaction read it (``idea()``): then
        the idea after the change and the derived fields it moves are worked
        out here and written in one update, instead of an update, a read and
        an update of what moved. The transaction makes the read and the write
        one step: a concurrent change to the idea aborts one of them.
        """
        if before is not None:
            return self._change_read_idea(before, set_fields or {}, inc or {})
        update: dict = {"$inc": {"version": 1, **(inc or {})}}
        if set_fields:
            update["$set"] = set_fields
        found = self.update_and_get("ideas", {"_id": idea_id}, update)
        if found is None:
            raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
        rating = found.get("rating") or domain.empty_rating()
        derived = derived_fields(found)
        derived["rating.average"] = domain.average(rating["sum"], rating["count"])
        # Only what moved is written: a rating moves two fields, and rewriting the unchanged facet and
        # search-term arrays would rewrite their entries in every multikey index.
        moved = {name: value for name, value in derived.items() if _stored(found, name) != value}
        if moved:
            self.db.ideas.update_one({"_id": idea_id}, {"$set": moved}, session=self.session)
        return plain(found)

    def _change_read_idea(self, before: dict, set_fields: dict, inc: dict) -> dict:
        after = domain.changed_document(before, set_fields, {"version": 1, **inc})
        moved = derived_changes(before, after)
        after = domain.changed_document(after, moved, {})
        update: dict = {"$inc": {"version": 1, **inc}}
        if set_fields or moved:
            update["$set"] = {**set_fields, **moved}
        if not self.db.ideas.update_one({"_id": before["id"]}, update, session=self.session).matched_count:
            raise NotFound("There is no such idea.", {"idea_id": ["no such idea"]})
        return after

    def list_ideas(self, facet: str, rest: dict, sort: str, after: str | None, limit: int, skip: int = 0) -> list[dict]:
        """One page of a list: below the cursor ``after`` (the API's way), or after ``skip`` ideas (numbered pages)."""
        field = domain.SORT_FIELDS[sort]
        query = _list_filter(facet, rest)
        if after:
            query[field] = {"$lt": after}
        cursor = self.db.ideas.find(query, LIST_PROJECTION, session=self.session).sort(field, DESCENDING)
        if skip:
            cursor = cursor.skip(skip)
        return [plain(doc) for doc in cursor.limit(limit)]

    def count_ideas(self, facet: str, rest: dict) -> int:
        """How many ideas a list holds: what its page numbers are counted from."""
        return self.db.ideas.count_documents(_list_filter(facet, rest), session=self.session)

    def ideas_by_author(self, member_id: str, limit: int) -> list[dict]:
        """The member's newest ideas, drafts included (the ``author_id`` index; few per member)."""
        found = self.db.ideas.find({"author_id": member_id}, LIST_PROJECTION, session=self.session)
        return [plain(doc) for doc in found.sort("created_at", DESCENDING).limit(limit)]

    def agency_activity(self, agency: str) -> tuple[list[dict], list[dict], list[dict]]:
        """(ideas, comments, ratings) of the agency's listed ideas, with only the fields that date and place them."""
        ideas = [plain(doc) for doc in self.db.ideas.find({"facets": f"agency:{agency}"},
                                                           {"created_at": 1, "network": 1}, session=self.session)]
        ids = [idea["id"] for idea in ideas]
        comments = [plain(doc) for doc in self.db.comments.find({"idea_id": {"$in": ids}},
                                                                 {"idea_id": 1, "created_at": 1}, session=self.session)]
        ratings = [plain(doc) for doc in self.db.ratings.find({"idea_id": {"$in": ids}},
                                                               {"idea_id": 1, "rated_at": 1}, session=self.session)]
        return ideas, comments, ratings

    def search_candidates(self, terms: list[str], networks: Iterable[str] = (), limit: int = 300,
                          scan: int = 3000) -> list[dict]:
        """Listed ideas holding every one of ``terms`` (at most ``limit``, from the first ``scan`` holding the lead term)."""
        # ``listed`` is checked here rather than in the filter: any condition
        # beside the term makes the embedded server scan (see search.mongo_filter).
        found = self.db.ideas.find(search.mongo_filter(terms), SEARCH_PROJECTION, session=self.session).limit(scan)
        return [plain(doc) for doc in found
                if _searchable(doc, networks) and search.matches(doc, terms)][:limit]

    def comment_search_candidates(self, terms: list[str], limit: int = 300, scan: int = 3000) -> list[dict]:
        """Visible comments holding every one of ``terms``, read as :meth:`search_candidates` reads ideas."""
        found = self.db.comments.find(search.mongo_filter(terms), COMMENT_SEARCH_PROJECTION, session=self.session)
        return [plain(doc) for doc in found.limit(scan)
                if doc.get("status") == "visible" and search.matches(doc, terms)][:limit]

    def listed_ideas(self, idea_ids: list[str], networks: Iterable[str] = ()) -> list[dict]:
        """The ones among ``idea_ids`` search shows (see ``_searchable``)."""
        found = self.db.ideas.find({"_id": {"$in": idea_ids}}, SEARCH_PROJECTION, session=self.session)
        return [plain(doc) for doc in found if _searchable(doc, networks)]

    def stems_near(self, stem: str) -> set[str]:
        """The stems ideas and comments hold that start as ``stem`` does (drafts' too: see search.did_you_mean)."""
        near = search.near_filter(stem)
        return {term for collection in (self.db.ideas, self.db.comments)
                for term in collection.distinct(search.TERMS_FIELD, near, session=self.session)}

    def ideas_with_term(self, term: str, limit: int = 50) -> list[dict]:
        found = self.db.ideas.find(search.mongo_filter([term]), SEARCH_PROJECTION, session=self.session).limit(limit * 4)
        return [plain(doc) for doc in found if _searchable(doc)][:limit]

    def idea_ids_by_author(self, member_id: str) -> list[str]:
        return [doc["_id"] for doc in self.db.ideas.find({"author_id": member_id}, {"_id": 1}, session=self.session)]

    # -- ratings ------------------------------------------------------------

    def rating_of(self, idea_id: str, member_id: str) -> int | None:
        found = self.db.ratings.find_one({"_id": f"{idea_id}:{member_id}"}, {"stars": 1}, session=self.session)
        return found["stars"] if found else None

    def put_rating(self, idea_id: str, member_id: str, stars: int, at: datetime) -> None:
        self.db.ratings.update_one(
            {"_id": f"{idea_id}:{member_id}"},
            {"$set": {"stars": stars, "rated_at": at}, "$setOnInsert": {"idea_id": idea_id, "member_id": member_id}},
            upsert=True, session=self.session)

    # -- comments -----------------------------------------------------------

    def add_comment(self, comment: dict) -> None:
        self.db.comments.insert_one({**comment, **comment_terms(comment["body"])}, session=self.session)

    def comment(self, comment_id: str) -> dict:
        found = self.db.comments.find_one({"_id": str(comment_id)}, session=self.session)
        if found is None:
            raise NotFound("There is no such comment.", {"comment_id": ["no such comment"]})
        return plain(found)

    def change_comment(self, comment_id: str, changes: dict, inc: dict | None = None) -> dict:
        if "body" in changes:
            changes = {**changes, **comment_terms(changes["body"])}
        update: dict = {"$set": changes}
        if inc:
            update["$inc"] = inc
        found = self.update_and_get("comments", {"_id": comment_id}, update)
        return plain(found)

    def comments_of(self, idea_id: str, limit: int = 2000) -> list[dict]:
        cursor = self.db.comments.find({"idea_id": idea_id}, COMMENT_PROJECTION, session=self.session).sort(
            "created_at", ASCENDING)
        return [plain(doc) for doc in cursor.limit(limit)]

    def comments_by(self, ids: list[str]) -> dict[str, dict]:
        return {doc["_id"]: plain(doc) for doc in self.db.comments.find({"_id": {"$in": ids}}, session=self.session)}

    def comment_ideas_by_author(self, member_id: str) -> list[str]:
        return sorted({doc["idea_id"] for doc in
                       self.db.comments.find({"author_id": member_id}, {"idea_id": 1}, session=self.session)})

    def rename_author(self, member_id: str, name: str) -> None:
        self.db.ideas.update_many({"author_id": member_id}, {"$set": {"author_name": name}}, session=self.session)
        self.db.comments.update_many({"author_id": member_id}, {"$set": {"author_name": name}}, session=self.session)

    def add_report(self, comment_id: str, member_id: str, reason: str, at: datetime) -> bool:
        """One report per member per comment; False when this member already reported it.

        Looked up first rather than caught as a duplicate key: inside a
        MongoDB transaction a failed write aborts the whole transaction.
        Two concurrent reports by one member conflict and the retry sees the first.
        """
        key = f"{comment_id}:{member_id}"
        if self.db.reports.find_one({"_id": key}, {"_id": 1}, session=self.session) is not None:
            return False
        self.db.reports.insert_one({"_id": key, "comment_id": comment_id, "member_id": member_id, "reason": reason,
                                    "at": at}, session=self.session)
        return True

    def reports_of(self, comment_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for row in self.db.reports.find({"comment_id": {"$in": comment_ids}}, session=self.session):
            found.setdefault(row["comment_id"], []).append(row)
        return found

    def hidden_comments(self, agency: str | None, limit: int = 200) -> list[dict]:
        query: dict = {"status": "hidden"}
        if agency:
            query["agency"] = agency
        cursor = self.db.comments.find(query, session=self.session).sort("flagged_at", ASCENDING)
        return [plain(doc) for doc in cursor.limit(limit)]

    # -- follows ------------------------------------------------------------

    def add_follow(self, idea_id: str, member_id: str, at: datetime) -> bool:
        """False when already following. One upsert that only inserts: a duplicate key error would abort the
        transaction, and a look-up first would cost a second operation."""
        written = self.db.follows.update_one(
            {"_id": f"{idea_id}:{member_id}"},
            {"$setOnInsert": {"idea_id": idea_id, "member_id": member_id, "followed_at": at}},
            upsert=True, session=self.session)
        return written.upserted_id is not None

    def remove_follow(self, idea_id: str, member_id: str) -> bool:
        return bool(self.db.follows.delete_one({"_id": f"{idea_id}:{member_id}"}, session=self.session).deleted_count)

    def is_following(self, idea_id: str, member_id: str) -> bool:
        return self.db.follows.find_one({"_id": f"{idea_id}:{member_id}"}, {"_id": 1}, session=self.session) is not None

    def followers(self, idea_id: str, limit: int = 10000) -> list[str]:
        cursor = self.db.follows.find({"idea_id": idea_id}, {"member_id": 1}, session=self.session)
        return [row["member_id"] for row in cursor.sort("followed_at", ASCENDING).limit(limit)]

    def follows_when_taking_part(self, member_id: str) -> bool:
        """The member's choice; members who never chose follow what they comment on or rate."""
        found = self.db.following_preferences.find_one({"_id": member_id}, session=self.session)
        return found is None or bool(found["follow_when_taking_part"])

    def set_follows_when_taking_part(self, member_id: str, follow: bool) -> None:
        self.db.following_preferences.update_one({"_id": member_id}, {"$set": {"follow_when_taking_part": follow}},
                                                 upsert=True, session=self.session)

    # -- networks members belong to ------------------------------------------

    def note_network(self, slug: str, name: str | None, closed: bool) -> None:
        """A network's name and whether it is closed, as the members service announced them."""
        changes: dict = {"closed": bool(closed)}
        if name:
            changes["name"] = name
        self.db.networks.update_one({"_id": slug}, {"$set": changes}, upsert=True, session=self.session)

    def closed_among(self, slugs: Iterable[str]) -> set[str]:
        wanted = sorted(set(slugs))
        if not wanted:
            return set()
        return {row["_id"] for row in self.db.networks.find({"_id": {"$in": wanted}, "closed": True}, {"_id": 1},
                                                            session=self.session)}

    def network(self, slug: str | None) -> dict | None:
        if not slug:
            return None
        return plain(self.db.networks.find_one({"_id": slug}, session=self.session))

    def network_names(self, slugs: Iterable[str]) -> dict[str, str]:
        wanted = sorted({s for s in slugs if s})
        if not wanted:
            return {}
        return {row["_id"]: row.get("name") or row["_id"]
                for row in self.db.networks.find({"_id": {"$in": wanted}}, {"name": 1}, session=self.session)}

    def recent_comments_on(self, idea_ids: list[str], limit: int = 200) -> list[dict]:
        """The newest comments on ``idea_ids`` (the ``(idea_id, created_at)`` index, a few per idea)."""
        rows: list[dict] = []
        for idea_id in idea_ids:
            cursor = self.db.comments.find({"idea_id": idea_id}, COMMENT_PROJECTION, session=self.session)
            rows += [plain(doc) for doc in cursor.sort("created_at", DESCENDING).limit(limit)]
        return rows

    def note_membership(self, member_id: str, network: str, member: bool, version: int) -> None:
        """Keep the newest join or leave heard of for (network, member); an older event changes nothing.

        ``version`` is the network's, which every join and leave raises, so it
        orders the events about one member's membership.
        """
        key = f"{network}:{member_id}"
        found = self.db.network_memberships.find_one({"_id": key}, {"version": 1}, session=self.session)
        if found and found.get("version", 0) >= version:
            return
        self.db.network_memberships.update_one(
            {"_id": key}, {"$set": {"member_id": member_id, "network": network, "member": member, "version": version}},
            upsert=True, session=self.session)

    def networks_of(self, member_id: str) -> set[str]:
        rows = self.db.network_memberships.find({"member_id": member_id, "member": True}, {"network": 1},
                                                session=self.session)
        return {row["network"] for row in rows}

    # -- members' names -----------------------------------------------------

    def remember_member(self, member_id: str, name: str, agency: str, version: int) -> None:
        """Keep the newest name heard of; an older event, or any after deactivation, changes nothing."""
        if self._holds_newer(member_id, version):
            return
        self.db.member_names.update_one(
            {"_id": member_id},
            {"$set": {"display_name": name, "name_key": domain.name_key(name), "agency": agency,
                      "version": version, "status": "active"}},
            upsert=True, session=self.session)

    def forget_member(self, member_id: str, agency: str, version: int) -> None:
        self.db.member_names.update_one(
            {"_id": member_id},
            {"$set": {"display_name": domain.FORMER_MEMBER, "name_key": "", "agency": agency, "status": "deactivated",
                      "version": version}},
            upsert=True, session=self.session)

    def _holds_newer(self, member_id: str, version: int) -> bool:
        found = self.db.member_names.find_one({"_id": member_id}, {"version": 1, "status": 1}, session=self.session)
        return bool(found) and (found.get("status") == "deactivated" or found.get("version", 0) >= version)

    def members_named(self, agency: str, keys: list[str]) -> list[dict]:
        if not keys:
            return []
        cursor = self.db.member_names.find({"agency": agency, "name_key": {"$in": keys}, "status": "active"},
                                           session=self.session)
        return [plain(doc) for doc in cursor.limit(max(50, 4 * len(keys)))]

    def is_former_member(self, member_id: str) -> bool:
        found = self.db.member_names.find_one({"_id": member_id}, {"status": 1}, session=self.session)
        return bool(found) and found.get("status") == "deactivated"

    # -- the moderation log -------------------------------------------------

    def log_moderation(self, entry: dict) -> None:
        self.db.moderation_log.insert_one(entry, session=self.session)

    def moderation_log(self, agency: str | None, limit: int = 200) -> list[dict]:
        query = {"agency": agency} if agency else {}
        return [plain(doc) for doc in
                self.db.moderation_log.find(query, session=self.session).sort("at", DESCENDING).limit(limit)]
