"""The archive service: knowledge resources with revisions, archived ideas, legacy imports, search and open data.

Entrypoints only: each validates with a schema, checks who is calling, and
calls one action in ``actions`` (which writes and records its events in one
transaction). It learns about ideas only from the ideas service's events.
"""
from __future__ import annotations

import uuid

from services.archive import actions, domain, schemas
from services.archive.actions import Actor
from services.archive.store import ArchiveStore
from services.common import search, service_base, sessions
from services.common.consumer import consume_events
from services.common.contract.api.search import FACETS
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.common.events import Event, utc_now
from services.common.http import load
from services.common.rpc import ANYONE, MEMBER, role, rpc
from services.common.storage import Storage


class ArchiveService(service_base.ServiceBase, sessions.KeepsSessionVersions):
    name = "archive"

    store = Storage(ArchiveStore)

    # -- search and browsing --------------------------------------------------

    @rpc(allow=ANYONE)
    def search(self, query: dict) -> dict:
        """Ranked hits across resources and archived ideas (``q``, ``kind``, ``tag``, ``licence``, ``agency``)."""
        return actions.search_archive(self.store, load(schemas.SearchQuery(), query))

    @rpc(allow=ANYONE)
    def site_search(self, query: dict) -> dict:
        """This service's part of the site's one search (``services.common.search.answer_part``): published
        resources and ideas imported from older sites."""
        data = load(schemas.SiteSearchQuery(), query)
        return search.answer_part(data["q"], {name: data[name] for name in FACETS}, data["cursor"] + data["limit"],
                                  lambda terms: actions.site_search_hits(self.store, terms), self.store.stems_near)

    @rpc(allow=ANYONE)
    def list_resources(self, query: dict | None = None) -> dict:
        data = load(schemas.Listing(), query or {})
        found = self.store.resources(kind=data["kind"], skip=data["cursor"], limit=data["limit"] + 1)
        more = len(found) > data["limit"]
        return {"items": [domain.resource_view(r, with_body_html=False) for r in found[:data["limit"]]],
                "next_cursor": str(data["cursor"] + data["limit"]) if more else None,
                "counts": self.store.resource_counts()}

    @rpc(allow=ANYONE)
    def list_ideas(self, query: dict | None = None) -> dict:
        data = load(schemas.Listing(), query or {})
        found = self.store.archived_ideas(skip=data["cursor"], limit=data["limit"] + 1)
        more = len(found) > data["limit"]
        return {"items": [domain.idea_view(s) for s in found[:data["limit"]]],
                "next_cursor": str(data["cursor"] + data["limit"]) if more else None}

    @rpc(allow=ANYONE)
    def front_page(self, kind: str | None = None) -> dict:
        """What the archive's home page shows in one call: resources (of one kind when given) and recent archived ideas."""
        return {"listing": self.list_resources({"kind": kind} if kind else {}), "ideas": self.list_ideas({"limit": 10})}

    @rpc(allow=ANYONE)
    def get_idea(self, idea_id: str) -> dict:
        snapshot = self.store.archived_idea(str(idea_id))
        lessons = [{"id": r["_id"], "title": r["title"], "kind": r["kind"]}
                   for r in self.store.resources_about(snapshot["_id"])]
        return {**domain.idea_view(snapshot), "lessons": lessons}

    # -- resources ------------------------------------------------------------

    def _visible_resource(self, resource_id: str) -> dict:
        resource = self.store.resource(str(resource_id))
        if resource["status"] != "published" and not domain.may_publish(self.caller.optional("archive:read"), resource["agency"]):
            raise NotFound("There is no such resource in the archive.")
        return resource

    @rpc(allow=ANYONE)
    def get_resource(self, resource_id: str) -> dict:
        """A resource with its body rendered safely, its history and the archived ideas it draws on."""
        resource = self._visible_resource(resource_id)
        related = []
        for idea_id in resource.get("related_ideas") or []:
            snapshot = self.store.archived_idea_or_none(idea_id)
            if snapshot is not None:
                related.append({"id": idea_id, "title": snapshot["title"], "outcome": snapshot["outcome"]})
        principal = self.caller.optional("archive:read")
        return {**domain.resource_view(resource), "related": related,
                "revisions": [domain.revision_view(r) for r in self.store.revisions(resource["_id"])],
                "may_edit": domain.may_publish(principal, resource["agency"])}

    @rpc(allow=ANYONE)
    def may_publish(self, agency: str | None = None) -> bool:
        """Whether the caller publishes in ``agency`` (their own when not given); every write checks again.

        Pages ask this to offer editing or publishing, so the gateway keeps no copy of the rule.
        """
        principal = self.caller.optional("archive:read")
        own_agency = principal.agency if principal else ""
        return domain.may_publish(principal, str(agency) if agency else own_agency)

    @rpc(allow=MEMBER)
    def create_resource(self, payload: dict) -> dict:
        """Publish a resource at once (agency administrators, network administrators, operators)."""
        principal = self.caller.required("archive:write")
        data = load(schemas.ResourceInput(), payload)
        agency = data["agency"] if (data["agency"] and principal.is_operator) else principal.agency
        actions.require_publisher(principal, agency)
        resource = self.store.transaction(lambda tx: actions.publish_resource(
            tx, data, agency=agency, actor=Actor.of(principal), note=data["note"]))
        return domain.resource_view(resource)

    @rpc(allow=MEMBER)
    def update_resource(self, resource_id: str, payload: dict) -> dict:
        """The next revision, made by a publisher of the resource's agency; a stale ``base_revision`` is a 409."""
        principal = self.caller.required("archive:write")
        data = load(schemas.ResourceEdit(), payload)
        current = self.store.resource(str(resource_id))
        actions.require_publisher(principal, current["agency"])
        resource = self.store.transaction(lambda tx: actions.revise_resource(
            tx, current["_id"], data, actor=Actor.of(principal), note=data["note"],
            base_revision=data["base_revision"]))
        return domain.resource_view(resource)

    @rpc(allow=MEMBER)
    def withdraw_resource(self, resource_id: str, payload: dict | None = None) -> dict:
        """Take a resource out of the archive's lists and search; its history stays, and a revert brings it back."""
        principal = self.caller.required("archive:write")
        data = load(schemas.Withdrawal(), payload or {})
        current = self.store.resource(str(resource_id))
        actions.require_publisher(principal, current["agency"])
        resource = self.store.transaction(lambda tx: actions.revise_resource(
            tx, current["_id"], current, actor=Actor.of(principal), note=data["note"] or "Withdrawn.",
            action="withdrawn", status="withdrawn"))
        return domain.resource_view(resource)

    @rpc(allow=ANYONE)
    def revisions(self, resource_id: str) -> list[dict]:
        resource = self._visible_resource(resource_id)
        return [domain.revision_view(r) for r in self.store.revisions(resource["_id"])]

    @rpc(allow=ANYONE)
    def revision(self, resource_id: str, number: int) -> dict:
        resource = self._visible_resource(resource_id)
        return domain.revision_view(self.store.revision(resource["_id"], int(number)))

    @rpc(allow=ANYONE)
    def diff(self, resource_id: str, query: dict) -> dict:
        """What changed between two revisions: ``{"from": n, "to": m}``."""
        data = load(schemas.DiffQuery(), query)
        resource = self._visible_resource(resource_id)
        return actions.resource_diff(self.store, resource["_id"], data["from_revision"], data["to_revision"])

    @rpc(allow=MEMBER)
    def revert_resource(self, resource_id: str, payload: dict) -> dict:
        """A new revision holding an earlier one's content (history is kept, never rewritten)."""
        principal = self.caller.required("archive:write")
        data = load(schemas.Revert(), payload)
        current = self.store.resource(str(resource_id))
        actions.require_publisher(principal, current["agency"])
        resource = self.store.transaction(lambda tx: actions.revert_resource(
            tx, current["_id"], data["revision"], actor=Actor.of(principal), note=data["note"]))
        if resource["status"] != "published":
            resource = self.store.transaction(lambda tx: actions.revise_resource(
                tx, current["_id"], resource, actor=Actor.of(principal), note="Published again.",
                action="restored", status="published"))
        return domain.resource_view(resource)

    # -- proposals -------------------------------------------------------------

    @rpc(allow=MEMBER)
    def propose(self, payload: dict) -> dict:
        """Any member proposes a new resource or a change to one; it waits for a publisher's review."""
        principal = self.caller.required("archive:write")
        data = load(schemas.Proposal(), payload)
        base_revision = None
        agency = principal.agency
        if data["resource_id"]:
            target = self.store.resource(data["resource_id"])
            if target["status"] != "published":
                raise NotFound("There is no such resource in the archive.", {"resource_id": ["no such resource"]})
            agency, base_revision = target["agency"], target["revision"]
        proposal = {"_id": str(uuid.uuid4()), "resource_id": data["resource_id"], "base_revision": base_revision,
                    "fields": domain.revision_fields(data), "agency": agency, "note": data["note"],
                    "proposer_id": principal.member_id, "proposer_name": principal.display_name or "a member",
                    "status": "pending", "created_at": utc_now()}
        self.store.add_proposal(proposal)
        return _proposal_view(proposal)

    @rpc(allow=MEMBER)
    def list_proposals(self, status: str = "pending") -> list[dict]:
        """Publishers see their agency's proposals (operators every agency's); members see their own."""
        principal = self.caller.required("archive:read")
        if status not in ("pending", "accepted", "rejected"):
            raise ValidationFailed("status is pending, accepted or rejected.", {"status": ["not a proposal status"]})
        if principal.is_operator:
            found = self.store.proposals(status=status, agencies=None, proposer_id=None)
        elif domain.may_publish(principal, principal.agency):
            found = self.store.proposals(status=status, agencies=[principal.agency], proposer_id=None)
        else:
            found = self.store.proposals(status=status, agencies=None, proposer_id=principal.member_id)
        return [_proposal_view(p) for p in found]

    @rpc(allow=MEMBER)
    def review_proposal(self, proposal_id: str, payload: dict) -> dict:
        """Accept (publishing it in the proposer's name) or reject a pending proposal."""
        principal = self.caller.required("archive:write")
        data = load(schemas.Review(), payload)
        proposal = self.store.proposal(str(proposal_id))
        actions.require_publisher(principal, proposal["agency"])
        reviewer = Actor.of(principal)
        if data["decision"] == "reject":
            decided = self.store.decide_proposal(proposal["_id"], {
                "status": "rejected", "reviewed_by": reviewer.name, "reviewer_id": reviewer.member_id,
                "reviewed_at": utc_now(), "review_note": data["note"]})
            return {"proposal": _proposal_view(decided), "resource": None}
        resource = self.store.transaction(
            lambda tx: actions.accept_proposal(tx, proposal["_id"], reviewer=reviewer, note=data["note"]))
        return {"proposal": _proposal_view(self.store.proposal(proposal["_id"])),
                "resource": domain.resource_view(resource)}

    # -- legacy pages and open data --------------------------------------------

    @rpc(allow=role("agency_admin"))
    def import_page(self, text: str) -> dict:
        """Keep one legacy consultation page (agency administrators and operators): ``{"created", "idea"}``."""
        principal = self.caller.required("archive:write")
        if not domain.may_import(principal):
            raise Forbidden("Only agency administrators and operators import legacy pages.")
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed("Send the page as plain text.", {"body": ["empty page"]})
        snapshot, created = actions.import_page(self.store, text, imported_by=principal.member_id)
        return {"created": created, "idea": domain.idea_view(snapshot)}

    @rpc(allow=ANYONE)
    def export(self, dataset: str, fmt: str) -> dict:
        """Open data: ``{"content_type", "body"}`` for resources, ideas or comments as json or csv."""
        content_type, body = actions.export_text(self.store, str(dataset), str(fmt))
        return {"content_type": content_type, "body": body}

    # -- events ----------------------------------------------------------------

    @consume_events("ideas", *actions.IDEA_EVENTS)
    def on_idea_event(self, event: Event) -> None:
        """The running copy of every idea, and its snapshot once it concludes."""
        self.store.transaction(lambda tx: actions.take_idea_event(tx, event), handling=event)

    @consume_events("members", "member.deactivated")
    def on_member_deactivated(self, event: Event) -> None:
        """The member is "former member" in every snapshot, resource and export from now on."""
        def forget(tx) -> None:
            changed = actions.forget_member_name(tx, event.data["member_id"])
            if changed:  # readers with copies (the gateway's page cache) learn that what they hold is stale
                tx.record("records.anonymised", subject=str(uuid.uuid4()), data={"records": changed, "version": 1})

        self.store.transaction(forget, handling=event)


def _proposal_view(proposal: dict) -> dict:
    return {"id": proposal["_id"], "resource_id": proposal.get("resource_id"), "agency": proposal["agency"],
            "fields": proposal["fields"], "note": proposal.get("note") or "", "proposer_name": proposal["proposer_name"],
            "status": proposal["status"], "created_at": domain.shown_time(proposal["created_at"]),
            "reviewed_by": proposal.get("reviewed_by"), "review_note": proposal.get("review_note")}
