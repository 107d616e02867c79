"""What the archive does, one function per action, each in one transaction with the events it causes.

The service's entrypoints and the operator's ``engage import``/``engage
export`` call these same functions, so a page imported from the command line
is kept exactly as one posted to the API.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from services.archive import domain
from services.archive.legacy_page import LegacyPageError, parse_legacy_page
from services.archive.store import ArchiveStore
from services.common import search
from services.common.contract import ideas as ideas_contract
from services.common.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from services.common.events import Event, isoformat, utc_now


@dataclass(frozen=True)
class Actor:
    """Who is acting, as revisions and proposals record them."""

    member_id: str | None
    name: str

    @classmethod
    def of(cls, principal) -> "Actor":
        return cls(principal.member_id, principal.display_name or "a member")


OPERATOR = Actor(None, "platform operator")


# -- resources --------------------------------------------------------------


def _resource_event_data(resource: dict) -> dict:
    return {"resource_id": resource["_id"], "kind": resource["kind"], "title": resource["title"],
            "summary": resource["summary"], "link": resource.get("link"), "licence": resource["licence"],
            "attribution": resource["attribution"], "tags": list(resource["tags"]), "agency": resource["agency"],
            "revision": resource["revision"], "version": resource["version"]}


def _add_revision(tx: ArchiveStore, resource: dict, actor: Actor, note: str, action: str, at: datetime) -> None:
    tx.add_revision({"_id": f"{resource['_id']}:{resource['revision']}", "resource_id": resource["_id"],
                     "number": resource["revision"], "fields": domain.revision_fields(resource),
                     "author_id": actor.member_id, "author_name": actor.name, "at": at, "note": note,
                     "action": action})


def publish_resource(tx: ArchiveStore, fields: dict, *, agency: str, actor: Actor, note: str) -> dict:
    """A new published resource at revision 1, its search entry and ``resource.published``."""
    now = utc_now()
    resource = {"_id": str(uuid.uuid4()), **domain.revision_fields(fields), "agency": agency,
                "author_id": actor.member_id, "author_name": actor.name, "status": "published",
                "revision": 1, "version": 1, "created_at": now, "published_at": now, "updated_at": now}
    tx.add_resource(resource)
    _add_revision(tx, resource, actor, note or "First published.", "created", now)
    tx.put_search_entry(domain.resource_search_entry(resource))
    tx.record("resource.published", subject=resource["_id"], data={
        **_resource_event_data(resource), "published_at": isoformat(now), "author_name": actor.name})
    return resource


def revise_resource(tx: ArchiveStore, resource_id: str, fields: dict, *, actor: Actor, note: str,
                    base_revision: int | None = None, action: str = "edited", status: str = "published",
                    reverted_to: int | None = None) -> dict:
    """The next revision of a resource (an edit, a revert, a withdrawal), recorded with ``resource.revised``.

    ``base_revision`` is the revision the change was made against; when it is no
    longer the latest the change is refused as a conflict rather than lost.
    """
    current = tx.resource(resource_id)
    base = base_revision or current["revision"]
    proposed = domain.revision_fields(fields)
    if status == current["status"] and not domain.changed_fields(domain.revision_fields(current), proposed):
        raise ValidationFailed("Nothing has changed, so there is no new revision to keep.",
                               {"_schema": ["no field differs from the latest revision"]})
    now = utc_now()
    resource = tx.update_resource(resource_id, base, {**proposed, "status": status, "updated_at": now})
    _add_revision(tx, resource, actor, note, action, now)
    if status == "published":
        tx.put_search_entry(domain.resource_search_entry(resource))
    else:
        tx.remove_search_entry(f"resource:{resource_id}")
    tx.record("resource.revised", subject=resource_id, data={
        **_resource_event_data(resource), "status": status, "revised_at": isoformat(now), "revised_by": actor.name,
        "note": note, "reverted_to": reverted_to})
    return resource


def revert_resource(tx: ArchiveStore, resource_id: str, number: int, *, actor: Actor, note: str) -> dict:
    """A new revision holding what revision ``number`` held; history is never rewritten."""
    old = tx.revision(resource_id, number)
    current = tx.resource(resource_id)
    if number == current["revision"]:
        raise ValidationFailed("That is already the latest revision.", {"revision": ["already the latest"]})
    return revise_resource(tx, resource_id, old["fields"], actor=actor, action="reverted",
                           note=note or f"Reverted to revision {number}.", base_revision=current["revision"],
                           reverted_to=number)


def resource_diff(store: ArchiveStore, resource_id: str, older: int, newer: int) -> dict:
    """What changed between two revisions of one resource, field by field."""
    before, after = store.revision(resource_id, older), store.revision(resource_id, newer)
    return {"resource_id": resource_id, "from": domain.revision_view(before), "to": domain.revision_view(after),
            "changes": [{"field": change.field, "lines": change.lines}
                        for change in domain.diff_revisions(before["fields"], after["fields"])]}


def accept_proposal(tx: ArchiveStore, proposal_id: str, *, reviewer: Actor, note: str) -> dict:
    """Publish what a member proposed (a new resource, or the next revision of one) in their name."""
    proposal = tx.decide_proposal(proposal_id, {"status": "accepted", "reviewed_by": reviewer.name,
                                                "reviewer_id": reviewer.member_id, "reviewed_at": utc_now(),
                                                "review_note": note})
    proposer = Actor(proposal["proposer_id"], proposal["proposer_name"])
    message = proposal.get("note") or "Proposed by a member."
    if proposal.get("resource_id"):
        resource = revise_resource(tx, proposal["resource_id"], proposal["fields"], actor=proposer, note=message,
                                   base_revision=proposal.get("base_revision"))
    else:
        resource = publish_resource(tx, proposal["fields"], agency=proposal["agency"], actor=proposer, note=message)
    tx.link_proposal(proposal_id, resource["_id"])
    return resource


# -- archived ideas from events ---------------------------------------------

# Not idea.rated: only open ideas can be rated, and the state change that concludes an idea carries its
# final rating, so the archive takes the rating from there and every rating costs it nothing.
IDEA_EVENTS = ("idea.submitted", "idea.updated", "idea.state_changed",
               "comment.posted", "comment.edited", "comment.removed", "comment.flagged", "comment.restored")


class IdeaNotYetKnown(Exception):
    """An idea concluded before the archive heard what it says; the event is retried until it has."""


def take_idea_event(tx: ArchiveStore, event: Event) -> dict | None:
    """Fold one idea or comment event into the running copy; when the idea has concluded, keep its snapshot.

    Returns the snapshot written, if any. ``idea.archived`` is recorded in the
    same transaction when an idea first concludes, or concludes with another
    outcome than before.
    """
    if event.name not in IDEA_EVENTS:
        return None  # an event the archive does not keep (a binding left on its queue) changes nothing
    if not ideas_contract.is_public(event.data):
        # The archive is open to everyone: what a closed network says stays with its members.
        return None
    idea_id = str(event.data.get("idea_id") or event.subject)
    copy = tx.idea_copy(idea_id)
    if event.name in ("idea.submitted", "idea.updated", "idea.state_changed"):
        changed = domain.apply_idea_fields(copy, event.data, at=event.time)
    else:
        changed = domain.apply_comment(copy, event.name, event.data)
    if not changed:
        return None
    tx.save_copy(copy)
    if not domain.is_concluded(copy):
        return None
    if not copy["idea"].get("title"):
        raise IdeaNotYetKnown(f"idea {idea_id} concluded before the archive heard what it says")
    previous = tx.archived_idea_or_none(idea_id)
    former = tx.former_members(_author_ids_in_copy(copy))
    snapshot = domain.snapshot_from_copy(copy, former=former, archived_at=utc_now(), previous=previous)
    tx.save_snapshot(snapshot)
    tx.put_search_entry(domain.idea_search_entry(snapshot))
    if previous is None or previous["outcome"] != snapshot["outcome"]:
        _record_archived(tx, snapshot)
    return snapshot


def _author_ids_in_copy(copy: dict) -> list[str]:
    ids = {copy["idea"].get("author_id")} | {c.get("author_id") for c in copy["comments"].values()}
    return [i for i in ids if i]


def _record_archived(tx: ArchiveStore, snapshot: dict) -> None:
    tx.record("idea.archived", subject=snapshot["_id"], data={
        "idea_id": snapshot["_id"], "origin": snapshot["origin"], "title": snapshot["title"],
        "outcome": snapshot["outcome"], "official_response": snapshot.get("official_response"),
        "agency": snapshot.get("agency"), "rating": domain.rating_view(snapshot["rating"]),
        "comment_count": len(snapshot["comments"]), "archived_at": isoformat(snapshot["archived_at"]),
        "version": snapshot["version"]})


def forget_member_name(tx: ArchiveStore, member_id: str) -> int:
    """Name a deactivated member "former member" in running copies, snapshots, resources and revisions.

    Also records them as deactivated, so snapshots built later from events
    naming them do the same. Returns how many records changed.
    """
    tx.mark_member_deactivated(member_id)
    changed = 0
    for copy in tx.with_author("idea_copies", member_id):
        if domain.anonymise(copy, member_id):
            tx.save_copy(copy)
            changed += 1
    for snapshot in tx.with_author("archived_ideas", member_id):
        if domain.anonymise(snapshot, member_id):
            tx.save_snapshot(snapshot)
            tx.put_search_entry(domain.idea_search_entry(snapshot))
            changed += 1
    for resource in tx.resources_by(member_id):
        if domain.anonymise(resource, member_id):
            tx.replace_resource(resource)
            changed += 1
    tx.rename_revision_author(member_id, domain.FORMER_MEMBER)
    return changed


# -- legacy pages -----------------------------------------------------------


def read_page(text: str):
    """Parse a legacy page, turning a parse failure into a 422 that names the line and what was expected."""
    try:
        return parse_legacy_page(text)
    except LegacyPageError as error:
        raise ValidationFailed(f"The page could not be read: {error}.",
                               {"body": [str(error)], "line": [str(error.line)]}) from None


def import_page(store: ArchiveStore, text: str, *, imported_by: str) -> tuple[dict, bool]:
    """Keep a legacy consultation page as an archived idea, once.

    Returns ``(snapshot, created)``: the same page imported again (even with
    other spacing or line endings) returns the record kept the first time, with
    ``created`` False, and writes nothing. A page that cannot be read raises
    ``ValidationFailed`` naming the line, and nothing is written.
    """
    page = read_page(text)
    fingerprint = page.fingerprint()
    known = store.imported_idea_id(fingerprint)
    if known:
        return store.archived_idea(known), False

    def write(tx: ArchiveStore) -> dict:
        snapshot = domain.snapshot_from_legacy(page, idea_id=str(uuid.uuid4()), fingerprint=fingerprint,
                                               archived_at=utc_now())
        tx.add_import(fingerprint, snapshot["_id"], snapshot["archived_at"], imported_by)
        tx.save_snapshot(snapshot)
        tx.put_search_entry(domain.idea_search_entry(snapshot))
        _record_archived(tx, snapshot)
        return snapshot

    try:
        return store.transaction(write), True
    except DuplicateKeyError:
        # Someone imported the same page at the same moment; theirs is the record.
        return store.archived_idea(store.imported_idea_id(fingerprint)), False


# -- search -----------------------------------------------------------------


#: The most entries one search reads (those holding its rarest term) before ranking.
MAX_CANDIDATES = 5_000
#: Term counts stop here: past it a term is common enough not to lead.
FREQUENCY_CAP = 1_000


def matching_entries(store: ArchiveStore, terms: list[str]) -> list[dict]:
    """The search entries holding every one of ``terms`` (from :func:`search.query_terms`), unranked.

    Reads only the entries holding the rarest term, through the multikey
    index, and keeps those holding the others.
    """
    frequencies = store.term_frequencies(terms, FREQUENCY_CAP) if len(terms) > 1 else None
    lead = search.mongo_filter(terms, frequencies=frequencies)[search.TERMS_FIELD]  # the one indexed equality
    return [entry for entry in store.entries_with_term(lead, MAX_CANDIDATES) if search.matches(entry, terms)]


def search_archive(store: ArchiveStore, query: dict) -> dict:
    """Ranked hits across published resources and archived ideas: title hits first, newer first when equal."""
    terms = search.query_terms(query.get("q"))
    if not terms:
        return {"items": [], "next_cursor": None, "total": 0, "terms": []}
    filters = {name: query.get(name) for name in ("kind", "tag", "licence", "agency")}
    found = [entry for entry in matching_entries(store, terms) if domain.passes_filters(entry, **filters)]
    ranked = search.rank(found, terms, time_field="at")
    start, limit = query.get("cursor", 0), query.get("limit", 20)
    more = start + limit < len(ranked)
    return {"items": [domain.search_result(entry, terms) for entry in ranked[start:start + limit]],
            "next_cursor": str(start + limit) if more else None, "total": len(ranked), "terms": terms}


def site_search_hits(store: ArchiveStore, terms: list[str]) -> list[dict]:
    """Published resources and ideas imported from older sites that ``terms`` find, for the site's one search.

    Ideas concluded on this platform are left out: the ideas service finds
    them too, with their live page, and a hit shows once.
    """
    found = matching_entries(store, terms)
    concluded_here = store.platform_idea_ids([entry["target_id"] for entry in found if entry["kind"] == "idea"])
    return [domain.site_hit(entry, terms) for entry in found
            if not (entry["kind"] == "idea" and entry["target_id"] in concluded_here)]


# -- open data --------------------------------------------------------------


def export_records(store: ArchiveStore, dataset: str) -> list[dict]:
    """Every open-data record of ``dataset`` (resources, ideas or comments), in a stable order."""
    if dataset == "resources":
        return [domain.resource_record(r) for r in store.all_published_resources()]
    if dataset == "ideas":
        return [domain.idea_record(s) for s in store.all_archived_ideas()]
    if dataset == "comments":
        return [row for s in store.all_archived_ideas() for row in domain.comment_records(s)]
    raise NotFound(f"There is no open-data set called {dataset}.", {"dataset": [f"one of {domain.EXPORT_DATASETS}"]})


def export_text(store: ArchiveStore, dataset: str, fmt: str) -> tuple[str, str]:
    """The export of ``dataset`` as ``(content type, text)`` in ``fmt`` (json or csv)."""
    if fmt not in domain.EXPORT_FORMATS:
        raise NotFound(f"Exports come as {' or '.join(domain.EXPORT_FORMATS)}.", {"format": ["json or csv"]})
    records = export_records(store, dataset)
    if fmt == "csv":
        return "text/csv; charset=utf-8", domain.to_csv(dataset, records)
    body = {"dataset": dataset, "generated_at": isoformat(utc_now()), "count": len(records),
            "documentation": "docs/open-data.md", "items": records}
    return "application/json", json.dumps(body, ensure_ascii=False, indent=1)


def require_publisher(principal, agency: str) -> None:
    if principal is None:
        raise Unauthorized("Log in first.")
    if not domain.may_publish(principal, agency):
        raise Forbidden("Only administrators of this resource's agency, network administrators and operators "
                        "publish and edit archive resources; members propose changes instead.")

