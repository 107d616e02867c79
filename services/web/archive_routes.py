"""Gateway routes for the knowledge archive: its search API, resources and their history, archived ideas, imports,
open data. Its search page became the site's one search (``search_routes``).

What everyone may read (the home page, lists, published resources, archived
ideas, the archive's search API) goes through the read cache (``read_cache``),
dropped by any archive event or member deactivation; the gateway's own archive
writes drop it before answering, so the writer's next read shows them. What the
caller may edit the archive decides (``archive.may_publish``); its answer is
kept under a key naming the caller, never in a shared entry.
"""
from __future__ import annotations

from services.common.rpc import RpcProxy
from werkzeug.wrappers import Response

from services.common.contract.api.archive import LICENCES
from services.common.contract.archive import RESOURCE_KINDS
from services.common.errors import BadRequest, DomainError, NotFound
from services.common.http import SECURITY_HEADERS, json_response, read_body, read_json, whole_number_or_text
from services.web.form_problems import NO_PROBLEMS, form_problems
from services.web.gateway import api, page
from services.web.ideas_routes import RESPONDER_ROLES
from services.web.read_cache import PageCache

KIND_HEADINGS = list(RESOURCE_KINDS.items())
LICENCE_IDS = list(LICENCES)
_SEARCH_ARGS = ("q", "kind", "tag", "licence", "agency", "limit", "cursor")
_FORM_FIELDS = ("kind", "title", "summary", "body", "link", "licence", "attribution", "note")
# Revisions are chosen (to compare, to revert to) in the history table: problems with them lead there.
REVISION_FIELD_IDS = {"from": "history", "to": "history", "revision": "history"}
# Archived ideas keep their members' names, which a deactivation (members' event) anonymises.
ARCHIVE_TAGS = ("archive", "members")


def _search_query(args) -> dict:
    """Query-string values as the archive's search schema expects them (blank means not given)."""
    query: dict = {}
    for name in _SEARCH_ARGS:
        value = args.get(name)
        if value is None or value == "":
            continue
        query[name] = value
    for name in ("limit", "cursor"):
        if name in query:
            query[name] = whole_number_or_text(query[name])
    return query


def _listing_query(args) -> dict:
    query = {}
    if args.get("kind"):
        query["kind"] = args["kind"]
    for name in ("limit", "cursor"):
        raw = args.get(name)
        if raw:
            query[name] = whole_number_or_text(raw)
    return query


def _resource_payload(form) -> dict:
    """A resource form as the archive's schema expects it: lists split, blanks dropped."""
    payload = {name: form.get(name, "") for name in _FORM_FIELDS}
    payload["link"] = payload["link"].strip() or None
    payload["tags"] = [t.strip().lower() for t in form.get("tags", "").replace(",", " ").split() if t.strip()]
    payload["related_ideas"] = [i.strip() for i in form.get("related_ideas", "").replace(",", " ").split() if i.strip()]
    return payload


def _form_from(resource: dict) -> dict:
    return {**{name: resource.get(name) or "" for name in _FORM_FIELDS if name != "note"},
            "tags": " ".join(resource.get("tags") or []), "related_ideas": " ".join(resource.get("related_ideas") or [])}


def _key(query: dict) -> tuple:
    return tuple(sorted(query.items()))


class ArchiveRoutes:
    archive = RpcProxy("archive")
    page_cache = PageCache()

    # -- the one read path for what everyone may read ---------------------------

    def _archive_cached(self, key: tuple, fetch, keep=None):
        return self.page_cache.get(key, ARCHIVE_TAGS, fetch, keep=keep)

    def _archive_search(self, query: dict) -> dict:
        return self._archive_cached(("archive-search", _key(query)), lambda: self.archive.search(query))

    def _archive_resource(self, resource_id: str) -> dict:
        """A resource with ``may_edit`` for this caller; only published ones are shared between viewers."""
        resource = self._archive_cached(("archive-resource", resource_id), lambda: self.archive.get_resource(resource_id),
                                keep=lambda found: found["status"] == "published")
        return {**resource, "may_edit": self._may_publish(resource["agency"])}

    def _may_publish(self, agency: str | None = None) -> bool:
        """Whether the caller publishes in ``agency`` (their own when not given), kept under the caller's key."""
        return self._archive_cached(("archive-publisher", self.web.principal(), agency),
                                    lambda: self.archive.may_publish(agency))

    def _archived_idea(self, idea_id: str) -> dict:
        return self._archive_cached(("archive-idea", idea_id), lambda: self.archive.get_idea(idea_id))

    def _archive_wrote(self, answer):
        self.page_cache.announce("archive")
        return answer

    # -- JSON API -----------------------------------------------------------

    @api("GET", "/api/v1/archive/search")
    def api_archive_search(self, request):
        answer = dict(self._archive_search(_search_query(request.args)))
        answer.pop("terms", None)
        return json_response(answer)

    @api("GET", "/api/v1/archive/resources")
    def api_archive_resources(self, request):
        query = _listing_query(request.args)
        return json_response(self._archive_cached(("archive-resources", _key(query)), lambda: self.archive.list_resources(query)))

    @api("POST", "/api/v1/archive/resources")
    def api_archive_create_resource(self, request):
        return json_response(self._archive_wrote(self.archive.create_resource(read_json(request))), 201)

    @api("GET", "/api/v1/archive/resources/<string:resource_id>", kept=True)
    def api_archive_resource(self, request, resource_id):
        return json_response(self._archive_resource(resource_id))

    @api("PUT", "/api/v1/archive/resources/<string:resource_id>")
    def api_archive_update_resource(self, request, resource_id):
        return json_response(self._archive_wrote(self.archive.update_resource(resource_id, read_json(request))))

    @api("DELETE", "/api/v1/archive/resources/<string:resource_id>")
    def api_archive_withdraw_resource(self, request, resource_id):
        return json_response(self._archive_wrote(self.archive.withdraw_resource(resource_id, {})))

    @api("GET", "/api/v1/archive/resources/<string:resource_id>/revisions")
    def api_archive_revisions(self, request, resource_id):
        return json_response({"items": self.archive.revisions(resource_id), "next_cursor": None})

    @api("GET", "/api/v1/archive/resources/<string:resource_id>/revisions/<int:number>")
    def api_archive_revision(self, request, resource_id, number):
        return json_response(self.archive.revision(resource_id, number))

    @api("GET", "/api/v1/archive/resources/<string:resource_id>/diff")
    def api_archive_diff(self, request, resource_id):
        return json_response(self.archive.diff(resource_id, _listing_like(request.args, ("from", "to"))))

    @api("POST", "/api/v1/archive/resources/<string:resource_id>/revert")
    def api_archive_revert(self, request, resource_id):
        return json_response(self._archive_wrote(self.archive.revert_resource(resource_id, read_json(request))), 201)

    @api("POST", "/api/v1/archive/proposals")
    def api_archive_propose(self, request):
        return json_response(self.archive.propose(read_json(request)), 201)

    @api("GET", "/api/v1/archive/proposals")
    def api_archive_proposals(self, request):
        return json_response({"items": self.archive.list_proposals(request.args.get("status") or "pending"),
                              "next_cursor": None})

    @api("POST", "/api/v1/archive/proposals/<string:proposal_id>/review")
    def api_archive_review(self, request, proposal_id):
        return json_response(self._archive_wrote(self.archive.review_proposal(proposal_id, read_json(request))))

    @api("GET", "/api/v1/archive/ideas")
    def api_archive_ideas(self, request):
        query = _listing_query(request.args)
        return json_response(self._archive_cached(("archive-ideas", _key(query)), lambda: self.archive.list_ideas(query)))

    @api("GET", "/api/v1/archive/ideas/<string:idea_id>")
    def api_archive_idea(self, request, idea_id):
        return json_response(self._archived_idea(idea_id))

    @api("POST", "/api/v1/archive/imports")
    def api_archive_import(self, request):
        """One legacy consultation page as text/plain: 201 when new, 200 with the same record when seen before."""
        if request.mimetype != "text/plain":
            raise BadRequest("Send the page as text/plain.")
        try:
            text = read_body(request).decode(request.mimetype_params.get("charset") or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise BadRequest("The page is not UTF-8 text.") from None
        answer = self._archive_wrote(self.archive.import_page(text))
        return json_response(answer["idea"], 201 if answer["created"] else 200)

    @api("GET", "/api/v1/archive/export/<string:filename>")
    def api_archive_export(self, request, filename):
        dataset, _, fmt = filename.partition(".")
        if not dataset or not fmt:
            raise NotFound("Exports are named <dataset>.<json|csv>, e.g. resources.csv.")
        answer = self.archive.export(dataset, fmt)
        return Response(answer["body"], mimetype=answer["content_type"].split(";")[0], headers={
            **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{dataset}.{fmt}"'})

    # -- pages --------------------------------------------------------------

    @page("GET", "/archive", kept=True)
    def archive_page(self, request):
        kind = request.args.get("kind") or None
        shown = kind if kind in RESOURCE_KINDS else None
        front = self._archive_cached(("archive-home", shown), lambda: self.archive.front_page(shown))
        return self.web.render("archive/index.html", kinds=KIND_HEADINGS, kind=kind, listing=front["listing"],
                               ideas=front["ideas"]["items"], licences=LICENCE_IDS)

    @page("GET", "/archive/resources/new")
    def archive_new_page(self, request):
        self.web.require_principal()
        form = {"kind": request.args.get("kind") or "tool", "licence": "CC-BY-4.0"}
        return self._resource_form(None, form)

    @page("POST", "/archive/resources/new")
    def archive_new_submit(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        payload = _resource_payload(request.form)
        try:
            if request.form.get("mode") == "publish":
                resource = self._archive_wrote(self.archive.create_resource(payload))
                return self.web.redirect(f"/archive/resources/{resource['id']}", flash="The resource is published.")
            self.archive.propose(payload)
        except DomainError as error:
            return self._resource_form(None, request.form.to_dict(), form_problems(error, "resource"), error.status)
        return self.web.redirect("/archive", flash="Thank you. Your proposal waits for an administrator's review.")

    @page("GET", "/archive/resources/<string:resource_id>", kept=True)
    def archive_resource_page(self, request, resource_id):
        diff, problems = None, NO_PROBLEMS
        if request.args.get("from") and request.args.get("to"):
            try:
                chosen = _listing_like(request.args, ("from", "to"))
                diff = self._archive_cached(("archive-diff", resource_id, _key(chosen)),
                                            lambda: self.archive.diff(resource_id, chosen))
            except DomainError as error:
                problems = form_problems(error, "revisions", REVISION_FIELD_IDS)
        return self._resource_page(resource_id, diff=diff, problems=problems)

    def _resource_page(self, resource_id: str, status: int = 200, **context):
        return self.web.render("archive/resource.html", status=status, resource=self._archive_resource(resource_id),
                               kinds=RESOURCE_KINDS, **context)

    @page("GET", "/archive/resources/<string:resource_id>/edit")
    def archive_edit_page(self, request, resource_id):
        self.web.require_principal()
        resource = self.archive.get_resource(resource_id)
        return self._resource_form(resource, _form_from(resource))

    @page("POST", "/archive/resources/<string:resource_id>/edit")
    def archive_edit_submit(self, request, resource_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        resource = self.archive.get_resource(resource_id)
        payload = _resource_payload(request.form)
        try:
            if resource["may_edit"]:
                base = request.form.get("base_revision", "")
                number = whole_number_or_text(base)
                payload["base_revision"] = number if isinstance(number, int) else None
                self._archive_wrote(self.archive.update_resource(resource_id, payload))
                return self.web.redirect(f"/archive/resources/{resource_id}", flash="Your change is the new revision.")
            self.archive.propose({**payload, "resource_id": resource_id})
        except DomainError as error:
            return self._resource_form(resource, request.form.to_dict(), form_problems(error, "resource"), error.status)
        return self.web.redirect(f"/archive/resources/{resource_id}",
                                 flash="Thank you. Your proposed change waits for an administrator's review.")

    @page("POST", "/archive/resources/<string:resource_id>/revert")
    def archive_revert_submit(self, request, resource_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        number = request.form.get("revision", "")
        try:
            self._archive_wrote(self.archive.revert_resource(resource_id, {"revision": whole_number_or_text(number),
                                                                   "note": request.form.get("note", "")}))
        except DomainError as error:
            return self._resource_page(resource_id, error.status, diff=None,
                                       problems=form_problems(error, "revisions", REVISION_FIELD_IDS))
        return self.web.redirect(f"/archive/resources/{resource_id}", flash="Reverted: a new revision holds it.")

    @page("GET", "/archive/proposals")
    def archive_proposals_page(self, request):
        self.web.require_principal()
        return self._proposals_page()

    def _proposals_page(self, status: int = 200, **context):
        return self.web.render("archive/proposals.html", status=status, proposals=self.archive.list_proposals("pending"),
                               kinds=RESOURCE_KINDS, may_review=self._may_publish(), **context)

    @page("POST", "/archive/proposals/<string:proposal_id>/review")
    def archive_review_submit(self, request, proposal_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        note = request.form.get("note", "")
        try:
            answer = self._archive_wrote(self.archive.review_proposal(
                proposal_id, {"decision": request.form.get("decision", ""), "note": note}))
        except DomainError as error:
            field = f"note-{proposal_id}"
            return self._proposals_page(error.status, kept={field: note},
                                        problems=form_problems(error, "review", {"note": field}))
        if answer["resource"]:
            return self.web.redirect(f"/archive/resources/{answer['resource']['id']}", flash="The proposal is published.")
        return self.web.redirect("/archive/proposals", flash="The proposal was declined.")

    @page("GET", "/archive/ideas/<string:idea_id>")
    def archive_idea_page(self, request, idea_id):
        return self.web.render("archive/idea.html", idea=self._archived_idea(idea_id), responder_roles=RESPONDER_ROLES)

    def _resource_form(self, resource, form, problems=NO_PROBLEMS, status=200):
        may_publish = resource["may_edit"] if resource is not None else self._may_publish()
        return self.web.render("archive/form.html", status=status, resource=resource, form=form, problems=problems,
                               kinds=KIND_HEADINGS, licences=LICENCE_IDS, may_publish=may_publish)


def _listing_like(args, names) -> dict:
    out = {}
    for name in names:
        raw = args.get(name)
        if raw is not None and raw != "":
            out[name] = whole_number_or_text(raw)
    return out
