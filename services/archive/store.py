"""The archive's storage: resources and their revisions, proposals, the running copy of live ideas,
archived ideas, imports, and the search entries that cover resources and archived ideas together."""
from __future__ import annotations

from typing import Iterator

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.archive import domain
from services.common import search
from services.common.contract.api.archive import SEARCH_KINDS
from services.common.contract.archive import RESOURCE_KINDS
from services.common.errors import Conflict, NotFound
from services.common.storage import Store


class ArchiveStore(Store):
    indexes = {
        "resources": [IndexModel([("status", ASCENDING), ("kind", ASCENDING), ("published_at", DESCENDING)]),
                      IndexModel([("related_ideas", ASCENDING)]),
                      IndexModel([("author_id", ASCENDING)])],
        "resource_revisions": [IndexModel([("resource_id", ASCENDING), ("number", ASCENDING)], unique=True),
                               IndexModel([("author_id", ASCENDING)])],
        "proposals": [IndexModel([("status", ASCENDING), ("agency", ASCENDING), ("created_at", ASCENDING)]),
                      IndexModel([("proposer_id", ASCENDING), ("created_at", DESCENDING)])],
        "idea_copies": [IndexModel([("author_ids", ASCENDING)])],
        "archived_ideas": [IndexModel([("archived_at", DESCENDING)]), IndexModel([("author_ids", ASCENDING)])],
        "search_entries": [IndexModel(**search.INDEX)],
    }

    def gauges(self):
        def items():
            counts = {kind: 0 for kind in SEARCH_KINDS}
            for row in self.db.search_entries.aggregate([{"$group": {"_id": "$kind", "n": {"$sum": 1}}}]):
                counts[row["_id"]] = row["n"]
            return [((kind,), float(n)) for kind, n in counts.items()]

        return [("items", "Published resources by kind, and archived ideas (kind idea).", ["kind"], items)]

    # -- resources ----------------------------------------------------------

    def add_resource(self, resource: dict) -> None:
        self.db.resources.insert_one(resource, session=self.session)

    def resource(self, resource_id: str) -> dict:
        found = self.db.resources.find_one({"_id": resource_id}, session=self.session)
        if found is None:
            raise NotFound("There is no such resource in the archive.")
        return found

    def update_resource(self, resource_id: str, base_revision: int, changes: dict) -> dict:
        """Apply ``changes`` as the next revision, only if the resource is still at ``base_revision``."""
        found = self.update_and_get("resources", {"_id": resource_id, "revision": base_revision},
                                    {"$set": changes, "$inc": {"revision": 1, "version": 1}})
        if found is None:
            self.resource(resource_id)
            raise Conflict("Someone changed this resource since you opened it; reload it and make your change again.",
                           {"base_revision": ["not the latest revision"]})
        return found

    def resources(self, *, kind: str | None, skip: int, limit: int) -> list[dict]:
        query: dict = {"status": "published"}
        if kind:
            query["kind"] = kind
        cursor = self.db.resources.find(query, session=self.session).sort([("published_at", DESCENDING), ("_id", ASCENDING)])
        return list(cursor.skip(skip).limit(limit))

    def resource_counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in RESOURCE_KINDS}
        for row in self.db.resources.aggregate([{"$match": {"status": "published"}},
                                                {"$group": {"_id": "$kind", "n": {"$sum": 1}}}], session=self.session):
            counts[row["_id"]] = row["n"]
        return counts

    def resources_about(self, idea_id: str) -> list[dict]:
        """Published resources that name ``idea_id`` among their related ideas ("lessons from this idea")."""
        return list(self.db.resources.find({"related_ideas": idea_id, "status": "published"},
                                           {"_id": 1, "title": 1, "kind": 1}, session=self.session).limit(50))

    def all_published_resources(self) -> Iterator[dict]:
        return self.db.resources.find({"status": "published"}, session=self.session).sort("_id", ASCENDING)

    # -- revisions ----------------------------------------------------------

    def add_revision(self, revision: dict) -> None:
        self.db.resource_revisions.insert_one(revision, session=self.session)

    def revisions(self, resource_id: str) -> list[dict]:
        return list(self.db.resource_revisions.find({"resource_id": resource_id}, session=self.session)
                    .sort("number", DESCENDING).limit(500))

    def revision(self, resource_id: str, number: int) -> dict:
        found = self.db.resource_revisions.find_one({"resource_id": resource_id, "number": number}, session=self.session)
        if found is None:
            raise NotFound(f"This resource has no revision {number}.", {"revision": ["no such revision"]})
        return found

    # -- proposals ----------------------------------------------------------

    def add_proposal(self, proposal: dict) -> None:
        self.db.proposals.insert_one(proposal, session=self.session)

    def proposal(self, proposal_id: str) -> dict:
        found = self.db.proposals.find_one({"_id": proposal_id}, session=self.session)
        if found is None:
            raise NotFound("There is no such proposal.")
        return found

    def decide_proposal(self, proposal_id: str, decision: dict) -> dict:
        """Close a pending proposal once; a second reviewer finds it already decided."""
        found = self.update_and_get("proposals", {"_id": proposal_id, "status": "pending"}, {"$set": decision})
        if found is None:
            self.proposal(proposal_id)
            raise Conflict("This proposal has already been reviewed.")
        return found

    def link_proposal(self, proposal_id: str, resource_id: str) -> None:
        self.db.proposals.update_one({"_id": proposal_id}, {"$set": {"resource_id": resource_id}}, session=self.session)

    def proposals(self, *, status: str, agencies: list[str] | None, proposer_id: str | None) -> list[dict]:
        query: dict = {"status": status}
        if agencies is not None:
            query["agency"] = {"$in": agencies}
        if proposer_id is not None:
            query["proposer_id"] = proposer_id
        return list(self.db.proposals.find(query, session=self.session).sort("created_at", ASCENDING).limit(200))

    # -- the running copy of live ideas --------------------------------------

    def idea_copy(self, idea_id: str) -> dict:
        return self.db.idea_copies.find_one({"_id": idea_id}, session=self.session) or domain.new_copy(idea_id)

    def save_copy(self, copy: dict) -> None:
        copy["author_ids"] = _author_ids(copy)
        self.db.idea_copies.replace_one({"_id": copy["_id"]}, copy, upsert=True, session=self.session)

    # -- archived ideas -----------------------------------------------------

    def archived_idea(self, idea_id: str) -> dict:
        found = self.archived_idea_or_none(idea_id)
        if found is None:
            raise NotFound("There is no such idea in the archive.")
        return found

    def archived_idea_or_none(self, idea_id: str) -> dict | None:
        return self.db.archived_ideas.find_one({"_id": idea_id}, session=self.session)

    def save_snapshot(self, snapshot: dict) -> None:
        snapshot["author_ids"] = _author_ids(snapshot)
        self.db.archived_ideas.replace_one({"_id": snapshot["_id"]}, snapshot, upsert=True, session=self.session)

    def archived_ideas(self, *, skip: int, limit: int) -> list[dict]:
        cursor = self.db.archived_ideas.find({}, session=self.session).sort([("archived_at", DESCENDING), ("_id", ASCENDING)])
        return list(cursor.skip(skip).limit(limit))

    def platform_idea_ids(self, idea_ids: list[str]) -> set[str]:
        """Those of ``idea_ids`` that were ideas on this platform (not imported from an older site)."""
        found = self.db.archived_ideas.find({"_id": {"$in": idea_ids}}, {"origin": 1}, session=self.session)
        return {row["_id"] for row in found if row.get("origin") == "platform"}

    def all_archived_ideas(self) -> Iterator[dict]:
        return self.db.archived_ideas.find({}, session=self.session).sort("_id", ASCENDING)

    def imported_idea_id(self, fingerprint: str) -> str | None:
        found = self.db.imports.find_one({"_id": fingerprint}, session=self.session)
        return found["idea_id"] if found else None

    def add_import(self, fingerprint: str, idea_id: str, at, by: str) -> None:
        """Claim a page's fingerprint; a second import of the same page fails here with a duplicate key."""
        self.db.imports.insert_one({"_id": fingerprint, "idea_id": idea_id, "at": at, "by": by}, session=self.session)

    # -- anonymising --------------------------------------------------------

    def with_author(self, collection: str, member_id: str) -> list[dict]:
        return list(self.db[collection].find({"author_ids": member_id}, session=self.session))

    def resources_by(self, member_id: str) -> list[dict]:
        return list(self.db.resources.find({"author_id": member_id}, session=self.session))

    def rename_revision_author(self, member_id: str, name: str) -> None:
        self.db.resource_revisions.update_many({"author_id": member_id}, {"$set": {"author_name": name}},
                                               session=self.session)

    def former_members(self, member_ids: list[str]) -> set[str]:
        found = self.db.deactivated_members.find({"_id": {"$in": list(member_ids)}}, {"_id": 1}, session=self.session)
        return {row["_id"] for row in found}

    def replace_resource(self, resource: dict) -> None:
        self.db.resources.replace_one({"_id": resource["_id"]}, resource, session=self.session)

    # -- search -------------------------------------------------------------

    def put_search_entry(self, entry: dict) -> None:
        self.db.search_entries.replace_one({"_id": entry["_id"]}, entry, upsert=True, session=self.session)

    def remove_search_entry(self, entry_id: str) -> None:
        self.db.search_entries.delete_one({"_id": entry_id}, session=self.session)

    # Searches read the entries holding ONE term (the rarest of the query) by a
    # plain equality on the multikey index, and check the other terms and the
    # filters in memory. On the embedded server that is the shape whose
    # execution and explain() agree: any further condition in the filter is
    # reported as a collection scan, and a hint walks the whole index. So the
    # work is bounded by how many entries hold the rarest term, whatever the
    # size of the archive, on the embedded server and on MongoDB alike.

    def entries_with_term(self, term: str, limit: int) -> list[dict]:
        """Search entries holding ``term`` (a stem from ``search.query_terms``), at most ``limit``."""
        return list(self.db.search_entries.find({search.TERMS_FIELD: _term(term)}, session=self.session).limit(limit))

    def term_frequencies(self, terms: list[str], cap: int) -> dict[str, int]:
        """How many entries hold each term, counted up to ``cap`` (enough to pick the rarest)."""
        return {term: self.db.search_entries.count_documents({search.TERMS_FIELD: _term(term)}, limit=cap,
                                                             session=self.session) for term in terms}

    def stems_near(self, stem: str) -> set[str]:
        """The stems of search entries that start as ``stem`` does, read as a range of the index."""
        return set(self.db.search_entries.distinct(search.TERMS_FIELD, search.near_filter(stem), session=self.session))

    def explain_term_lookup(self, term: str) -> dict:
        """The storage server's account of reading the entries holding ``term`` (for tests and the benchmark)."""
        return self.db.search_entries.find({search.TERMS_FIELD: _term(term)}).explain()


def _term(term: str) -> str:
    # Only what search.query_terms produces reaches a filter: never an operator or a document.
    return search.mongo_filter([term])[search.TERMS_FIELD]


def _author_ids(record: dict) -> list[str]:
    """Every member a record names, so deactivation finds the records to anonymise through an index."""
    ids = {record.get("author_id"), (record.get("idea") or {}).get("author_id")}
    comments = record.get("comments")
    for comment in (comments.values() if isinstance(comments, dict) else comments or []):
        ids.add(comment.get("author_id"))
    return sorted(i for i in ids if i)
