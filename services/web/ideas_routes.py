"""Gateway routes for ideas: the JSON API and the pages (list, idea, submit/edit, moderation queue).

Reads of one idea and of the lists, through the API and the pages alike, go
through the read cache (``read_cache``): a repeat view costs no RPC. Every
write announces the version it produced to the cache before answering, so the
writer's next read shows it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from services.common.rpc import RpcProxy

from services.common.contract.api.ideas import MAX_PAGE
from services.common.contract.api.search import PUBLIC_STATES
from services.common.errors import DomainError, ValidationFailed
from services.common.http import json_response, query_int, read_json, whole_number_or_text
from services.web.form_problems import NO_PROBLEMS, FormProblems, form_problems
from services.web.gateway import api, page
from services.web.i18n import N_
from services.web.paging import PAGE_SIZES, page_links
from services.web.read_cache import PageCache

LIST_FILTERS = ("state", "tag", "agency", "network", "sort", "cursor")
STATE_LABELS = {"draft": "Draft", "open": "Open", "under_review": "Under review", "adopted": "Adopted",
                "declined": "Declined", "archived": "Archived"}
SORT_LABELS = {"newest": "Newest", "top": "Top rated", "discussed": "Most discussed"}
RESPONDER_ROLES = {"moderator": N_("Moderator"), "agency_admin": N_("Agency administrator"),
                   "operator": N_("Platform operator"), "member": N_("Member")}
LOG_ACTIONS = {"state_changed": N_("State changed"), "comment_removed": N_("Comment removed"),
               "comment_kept": N_("Comment kept")}


def list_query(request, numbered: bool = False) -> dict:
    """The list filters from a query string, empty values left out, ``limit`` and ``page`` as numbers.

    ``numbered`` lists (the pages) are read by page number, page 1 when none is given; the API pages by page
    number only when asked to, and by cursor otherwise.
    """
    query = {name: request.args[name] for name in LIST_FILTERS if request.args.get(name)}
    query["limit"] = query_int(request, "limit", 20, lo=1, hi=100)
    if request.args.get("page") or (numbered and not query.get("cursor")):
        query["page"] = query_int(request, "page", 1, lo=1, hi=MAX_PAGE)
    return query


def list_address(query: dict, page: int) -> str:
    """The ideas list's address for ``page`` of ``query``: its filters, order and page size kept."""
    kept = {name: query[name] for name in LIST_FILTERS if name != "cursor" and query.get(name)}
    if query.get("limit", 20) != 20:
        kept["limit"] = query["limit"]
    return "/ideas?" + urlencode({**kept, "page": page})


def form_list(form, name: str) -> list[str]:
    """One item per line of a textarea (prompts) or per comma (tags)."""
    raw = form.get(name, "")
    parts = raw.splitlines() if name == "prompts" else raw.split(",")
    return [part.strip() for part in parts if part.strip()]


class IdeaRoutes:
    ideas = RpcProxy("ideas")
    page_cache = PageCache()

    # -- the one read path for ideas ------------------------------------------

    def _idea_page_data(self, idea_id: str) -> dict:
        # Drafts are their author's alone, and a closed network's ideas its members'; only open content is
        # shared between viewers.
        return self.page_cache.get(("idea", idea_id), (f"ideas:{idea_id}",), lambda: self.ideas.idea_page(idea_id),
                                   keep=lambda data: data["idea"]["state"] != "draft" and _everyones(data["idea"]),
                                   version=lambda data: data["version"])

    def _viewer(self, idea_id: str) -> dict | None:
        me = self.web.principal()
        if me is None:
            return None
        # What the viewer may do follows from who they are, roles included: keyed by all of it,
        # a member whose roles changed never gets the answer given to them before.
        return self.page_cache.get(("idea-viewer", idea_id, me), (f"ideas:{idea_id}",),
                                   lambda: self.ideas.viewer_state(idea_id), version=lambda data: data.get("version", 0))

    def _list(self, query: dict) -> dict:
        # Any idea's change may move it in or out of a list, or reorder it, so lists hang on the whole exchange.
        # A list of drafts is its member's alone.
        if query.get("state") == "draft":
            return self.page_cache.get(("drafts", tuple(sorted(query.items()))), ("ideas",),
                                       lambda: self.ideas.list_ideas(query), keep=lambda _: False)
        # A closed network's list is its members' alone.
        return self.page_cache.get(("ideas", tuple(sorted(query.items()))), ("ideas",),
                                   lambda: self.ideas.list_ideas(query),
                                   keep=lambda answer: all(_everyones(idea) for idea in answer["items"]))

    def _wrote(self, idea_id: str | None, version: int | None) -> None:
        self.page_cache.announce("ideas", idea_id, version)

    # -- JSON API -----------------------------------------------------------

    @api("GET", "/api/v1/ideas", kept=True)
    def api_list_ideas(self, request):
        return json_response(self._list(list_query(request)))

    @api("POST", "/api/v1/ideas")
    def api_submit_idea(self, request):
        idea = self.ideas.submit_idea(read_json(request))
        self._wrote(idea["id"], idea["version"])
        return json_response(idea, 201)

    @api("GET", "/api/v1/ideas/similar")
    def api_similar_ideas(self, request):
        return json_response({"items": self.ideas.similar_ideas(request.args.get("title", "")), "next_cursor": None})

    @api("GET", "/api/v1/ideas/<string:idea_id>", kept=True)
    def api_idea(self, request, idea_id):
        idea = dict(self._idea_page_data(idea_id)["idea"])
        viewer = self._viewer(idea_id)
        if viewer is not None:
            idea.update(my_rating=viewer["my_rating"], following=viewer["following"])
        return json_response(idea)

    @api("PATCH", "/api/v1/ideas/<string:idea_id>")
    def api_edit_idea(self, request, idea_id):
        idea = self.ideas.update_idea(idea_id, read_json(request))
        self._wrote(idea["id"], idea["version"])
        return json_response(idea)

    @api("POST", "/api/v1/ideas/<string:idea_id>/state")
    def api_change_state(self, request, idea_id):
        idea = self.ideas.change_state(idea_id, read_json(request))
        self._wrote(idea["id"], idea["version"])
        return json_response(idea)

    @api("PUT", "/api/v1/ideas/<string:idea_id>/rating")
    def api_rate(self, request, idea_id):
        summary = self.ideas.rate(idea_id, read_json(request))
        self._wrote(summary["idea_id"], summary["version"])
        return json_response(summary)

    @api("GET", "/api/v1/ideas/<string:idea_id>/comments", kept=True)
    def api_comments(self, request, idea_id):
        return json_response({"items": self._idea_page_data(idea_id)["comments"], "next_cursor": None})

    @api("POST", "/api/v1/ideas/<string:idea_id>/comments")
    def api_post_comment(self, request, idea_id):
        comment = self.ideas.post_comment(idea_id, read_json(request))
        self._wrote(comment["idea_id"], comment["idea_version"])
        return json_response(comment, 201)

    @api("PATCH", "/api/v1/comments/<string:comment_id>")
    def api_edit_comment(self, request, comment_id):
        comment = self.ideas.edit_comment(comment_id, read_json(request))
        self._wrote(comment["idea_id"], comment["idea_version"])
        return json_response(comment)

    @api("DELETE", "/api/v1/comments/<string:comment_id>")
    def api_remove_comment(self, request, comment_id):
        comment = self.ideas.remove_comment(comment_id)
        self._wrote(comment["idea_id"], comment["idea_version"])
        return json_response(comment)

    @api("POST", "/api/v1/comments/<string:comment_id>/reports")
    def api_report_comment(self, request, comment_id):
        comment = self.ideas.report_comment(comment_id, read_json(request))
        self._wrote(comment["idea_id"], comment["idea_version"])
        return json_response(comment, 201)

    @api("POST", "/api/v1/comments/<string:comment_id>/moderation")
    def api_moderate_comment(self, request, comment_id):
        comment = self.ideas.moderate_comment(comment_id, read_json(request))
        self._wrote(comment["idea_id"], comment["idea_version"])
        return json_response(comment)

    @api("POST", "/api/v1/ideas/<string:idea_id>/follow")
    def api_follow(self, request, idea_id):
        answer = self.ideas.follow(idea_id)
        self._wrote(answer["idea_id"], answer["version"])
        return json_response(answer)

    @api("DELETE", "/api/v1/ideas/<string:idea_id>/follow")
    def api_unfollow(self, request, idea_id):
        answer = self.ideas.unfollow(idea_id)
        self._wrote(answer["idea_id"], answer["version"])
        return json_response(answer)

    @api("GET", "/api/v1/following-preference")
    def api_following_preference(self, request):
        return json_response(self.ideas.following_preference())

    @api("PUT", "/api/v1/following-preference")
    def api_set_following_preference(self, request):
        return json_response(self.ideas.set_following_preference(read_json(request)))

    @api("GET", "/api/v1/moderation/queue")
    def api_moderation_queue(self, request):
        return json_response(self.ideas.moderation_queue())

    @api("GET", "/api/v1/moderation/log")
    def api_moderation_log(self, request):
        return json_response(self.ideas.moderation_log())

    # -- pages --------------------------------------------------------------

    @page("GET", "/ideas", kept=True)
    def ideas_page(self, request):
        if request.args.get("q", "").strip():
            # Searching ideas is the site's one search now; an old link keeps its words and the filters search has.
            kept = {name: request.args[name] for name in ("q", "agency", "network") if request.args.get(name)}
            if request.args.get("state") in PUBLIC_STATES:
                kept["state"] = request.args["state"]
            return self.web.redirect("/search?" + urlencode({**kept, "kind": "idea"}))
        try:
            query = list_query(request, numbered=True)
            answer = self._list(query)
        except ValidationFailed as error:
            return self.web.render("ideas/list.html", status=422, answer={"items": [], "next_cursor": None},
                                   filters=request.args.to_dict(), problems=form_problems(error, "ideas_filter"),
                                   states=STATE_LABELS, sorts=SORT_LABELS, page_sizes=PAGE_SIZES)
        return self.web.render("ideas/list.html", answer=answer, filters=query, states=STATE_LABELS, sorts=SORT_LABELS,
                               page_sizes=sorted({*PAGE_SIZES, query["limit"]}), page_links=page_links(answer.get("page", 1), answer.get("pages", 1)),
                               page_address=lambda number: list_address(query, number))

    @page("GET", "/ideas/new")
    def new_idea_page(self, request):
        self.web.require_principal()
        form = {"title": request.args.get("title", ""), "network": request.args.get("network", "")}
        similar = self.ideas.similar_ideas(form["title"]) if form["title"] else []
        return self._form_page(form=form, similar=similar, idea=None)

    def _form_page(self, status: int = 200, **context):
        """The idea form, offering the networks the member belongs to (one call to members for that section)."""
        return self.web.render("ideas/form.html", status=status, networks=self.members.me()["networks"], **context)

    @page("POST", "/ideas")
    def submit_idea_form(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        form = request.form.to_dict()
        if form.get("action") == "check":
            similar = self.ideas.similar_ideas(form.get("title", ""))
            return self._form_page(form=form, similar=similar, idea=None)
        try:
            idea = self.ideas.submit_idea(_idea_payload(request.form, with_draft=True))
        except DomainError as error:
            similar = self.ideas.similar_ideas(form.get("title", ""))
            return self._form_page(error.status, form=form, problems=form_problems(error, "idea"), similar=similar,
                                   idea=None)
        self._wrote(idea["id"], idea["version"])
        flash = "Your draft is saved." if idea["state"] == "draft" else "Your idea is published."
        return self.web.redirect(f"/ideas/{idea['id']}", flash=flash)

    @page("GET", "/ideas/<string:idea_id>", kept=True)
    def idea_page(self, request, idea_id):
        return self._render_idea_page(idea_id)

    def _render_idea_page(self, idea_id: str, status: int = 200, problems: FormProblems = NO_PROBLEMS,
                          kept: dict[str, str] | None = None):
        """The idea's page; after a refused form, with its problems and what the member typed."""
        data = self._idea_page_data(idea_id)
        viewer = self._viewer(idea_id)
        me = self.web.principal()
        # The shared page says until when each comment may be edited; whether that is now, and by this viewer, is
        # read here so the cached page holds no viewer's answer.
        now = datetime.now(timezone.utc)
        editable = {c["id"] for c in data["comments"] if me and c["author_id"] == me.member_id
                    and c["editable_until"] and now < datetime.fromisoformat(c["editable_until"])}
        return self.web.render("ideas/page.html", status=status, idea=data["idea"], comments=data["comments"],
                               responder_roles=RESPONDER_ROLES,
                               viewer=viewer, moderator=bool(viewer and viewer["moderates"]),
                               moves=viewer["allowed_moves"] if viewer else (), states=STATE_LABELS, editable=editable,
                               problems=problems, kept=kept or {})

    @page("GET", "/ideas/<string:idea_id>/edit")
    def edit_idea_page(self, request, idea_id):
        self.web.require_principal()
        idea = self._idea_page_data(idea_id)["idea"]
        form = {**idea, "prompts": "\n".join(idea["prompts"]), "tags": ", ".join(idea["tags"]),
                "network": idea.get("network") or ""}
        return self._form_page(form=form, similar=[], idea=idea)

    @page("POST", "/ideas/<string:idea_id>/edit")
    def edit_idea_form(self, request, idea_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        try:
            idea = self.ideas.update_idea(idea_id, _idea_payload(request.form, with_draft=False))
        except DomainError as error:
            current = self._idea_page_data(idea_id)["idea"]
            return self._form_page(error.status, form=request.form.to_dict(), problems=form_problems(error, "idea"),
                                   similar=[], idea=current)
        self._wrote(idea["id"], idea["version"])
        return self.web.redirect(f"/ideas/{idea_id}", flash="Your changes are saved.")

    @page("POST", "/ideas/<string:idea_id>/rating")
    def rate_form(self, request, idea_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        stars = whole_number_or_text(request.form.get("stars", ""))
        return self._after_write(idea_id, lambda: self.ideas.rate(idea_id, {"stars": stars}),
                                 "Thank you: your rating is saved.", form="rating", field_ids={"stars": "stars-1"},
                                 anchor="rating")

    @page("POST", "/ideas/<string:idea_id>/comments")
    def comment_form(self, request, idea_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        payload = {"body": request.form.get("body", "")}
        field = "new-comment"
        if request.form.get("parent_id"):
            payload["parent_id"] = request.form["parent_id"]
            field = f"reply-{payload['parent_id']}"
        return self._after_write(idea_id, lambda: self.ideas.post_comment(idea_id, payload), "Your comment is posted.",
                                 form="comment", field_ids={"body": field}, kept={field: payload["body"]},
                                 version_key="idea_version", anchor="comments")

    @page("POST", "/comments/<string:comment_id>/edit")
    def comment_edit_form(self, request, comment_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        idea_id = request.form.get("idea_id", "")
        body, field = request.form.get("body", ""), f"edit-{comment_id}"
        return self._after_write(idea_id, lambda: self.ideas.edit_comment(comment_id, {"body": body}),
                                 "Your comment is updated.", form="comment", field_ids={"body": field},
                                 kept={field: body}, version_key="idea_version", anchor=f"comment-{comment_id}")

    @page("POST", "/comments/<string:comment_id>/delete")
    def comment_delete_form(self, request, comment_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        idea_id = request.form.get("idea_id", "")
        return self._after_write(idea_id, lambda: self.ideas.remove_comment(comment_id), "The comment is removed.",
                                 form="comment", version_key="idea_version", anchor=f"comment-{comment_id}")

    @page("POST", "/comments/<string:comment_id>/report")
    def comment_report_form(self, request, comment_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        idea_id = request.form.get("idea_id", "")
        reason, field = request.form.get("reason", ""), f"report-{comment_id}"
        return self._after_write(
            idea_id, lambda: self.ideas.report_comment(comment_id, {"reason": reason}),
            "Thank you: a moderator will look at the comment.", form="report", field_ids={"reason": field},
            kept={field: reason}, version_key="idea_version", anchor=f"comment-{comment_id}")

    @page("POST", "/ideas/<string:idea_id>/follow")
    def follow_form(self, request, idea_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        if request.form.get("action") == "unfollow":
            return self._after_write(idea_id, lambda: self.ideas.unfollow(idea_id), "You no longer follow this idea.",
                                     form="follow")
        return self._after_write(idea_id, lambda: self.ideas.follow(idea_id),
                                 "You follow this idea: you will hear when it moves.", form="follow")

    @page("POST", "/ideas/<string:idea_id>/state")
    def state_form(self, request, idea_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        payload = {"state": request.form.get("state", "")}
        response = request.form.get("official_response", "")
        if response.strip():
            payload["official_response"] = response
        return self._after_write(idea_id, lambda: self.ideas.change_state(idea_id, payload),
                                 "The idea's state is changed.", form="state",
                                 field_ids={"state": "new-state", "official_response": "official-response-text"},
                                 kept={"official-response-text": response})

    def _after_write(self, idea_id: str, call, done: str, *, form: str, field_ids: dict[str, str] | None = None,
                     kept: dict[str, str] | None = None, version_key: str = "version", anchor: str = ""):
        """Run one of the idea page's forms (``form`` names it for ``form_problems``): back to the idea with a
        message, or, when refused, the page again with the problems and the member's words kept."""
        try:
            answer = call()
        except DomainError as error:
            return self._render_idea_page(idea_id, error.status, form_problems(error, form, field_ids), kept)
        self._wrote(answer.get("idea_id") or idea_id, answer.get(version_key))
        target = f"/ideas/{idea_id}" + (f"#{anchor}" if anchor else "")
        return self.web.redirect(target, flash=done)

    @page("GET", "/moderation")
    def moderation_page(self, request):
        self.web.require_principal()
        return self._moderation_page()

    def _moderation_page(self, status: int = 200, **context):
        return self.web.render("ideas/moderation.html", status=status, queue=self.ideas.moderation_queue()["items"],
                               log=self.ideas.moderation_log()["items"][:50], states=STATE_LABELS,
                               log_actions=LOG_ACTIONS, **context)

    @page("POST", "/moderation/comments/<string:comment_id>")
    def moderation_form(self, request, comment_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        note, field = request.form.get("note", ""), f"note-{comment_id}"
        try:
            comment = self.ideas.moderate_comment(comment_id, {"decision": request.form.get("decision", ""),
                                                               "note": note})
        except DomainError as error:
            return self._moderation_page(error.status, kept={field: note},
                                         problems=form_problems(error, "moderation", {"note": field}))
        self._wrote(comment["idea_id"], comment["idea_version"])
        return self.web.redirect("/moderation", flash="Your decision is recorded.")


def _everyones(idea: dict) -> bool:
    """Whether anyone may see ``idea`` (the service says: ``audience``), so a cached copy may be shared."""
    return idea.get("audience", "public") == "public"


def _idea_payload(form, *, with_draft: bool) -> dict:
    payload = {name: form.get(name, "") for name in ("title", "description", "what_it_might_look_like", "why_it_matters")}
    payload["prompts"] = form_list(form, "prompts")
    payload["tags"] = form_list(form, "tags")
    if form.get("network", "").strip():
        payload["network"] = form["network"].strip()
    elif not with_draft:
        payload["network"] = None  # "none" chosen on the edit form: the idea is agency-wide
    if with_draft:
        payload["draft"] = form.get("action") == "draft"
    return payload
