"""The agency admin area: members and their roles, networks, the moderation queue, webhooks, dead letters.

Each page asks the service that owns the data; the services check the
caller's roles again, so these pages only decide what to offer. Agency
administrators manage their own agency; operators may pick any agency with
``?agency=`` and alone see dead letters.
"""
from __future__ import annotations

from services.common.rpc import RpcProxy

from urllib.parse import urlencode

from services.common.errors import DomainError, Forbidden, ValidationFailed
from services.common.http import whole_number_or_text
from services.web.form_problems import form_problems
from services.web.gateway import page
from services.web.i18n import N_
from services.web.ideas_routes import LOG_ACTIONS, STATE_LABELS
from services.web.paging import page_links

ROLE_CHOICES = (("moderator", N_("Moderator")), ("agency_admin", N_("Agency administrator")))
SERVICES_WITH_CONSUMERS = ("members", "ideas", "notify", "archive")


def insight(title: str, months: list[str], values: list[int]) -> dict:
    """One measure over the months: the page draws its chart and shows its numbers in a table beside it."""
    return {"title": title, "months": months, "counts": values, "total": sum(values)}


def members_search(args) -> dict:
    """The admin members list's words and page from a query string (or the role form that came from it)."""
    search = {"q": args.get("q", "").strip()} if args.get("q", "").strip() else {}
    if args.get("page"):
        search["page"] = whole_number_or_text(args["page"])
    return search


def members_address(agency: str, search: dict, page: int) -> str:
    """The admin members list's address for ``page`` of ``search``."""
    kept = {"agency": agency, **({"q": search["q"]} if search.get("q") else {})}
    return "/admin/members?" + urlencode({**kept, **({"page": page} if page != 1 else {})})


def wants_roles(form) -> list[str]:
    """The roles ticked on a member's row; ``member`` is always kept by the members service."""
    chosen = form.getlist("roles") if hasattr(form, "getlist") else form.get("roles", [])
    return ["member"] + [role for role, _label in ROLE_CHOICES if role in chosen]


class AdminRoutes:
    admin_members = RpcProxy("members")
    admin_ideas = RpcProxy("ideas")
    admin_notify = RpcProxy("notify")
    admin_archive = RpcProxy("archive")

    def _admin_agency(self, request) -> str:
        """The agency this admin page is about; only its administrators (or operators) get past."""
        me = self.web.require_principal()
        agency = request.args.get("agency") or request.form.get("agency") or me.agency
        if not me.has_role("agency_admin", agency):
            raise Forbidden("The admin area is for administrators of this agency.")
        return agency

    def _render_admin(self, template: str, section: str, agency: str, **context):
        me = self.web.principal()
        return self.web.render(template, section=section, agency=agency, operator=bool(me and me.is_operator),
                               **context)

    @page("GET", "/admin")
    def admin_home(self, request):
        agency = self._admin_agency(request)
        return self.web.redirect(f"/admin/members?agency={agency}")

    @page("GET", "/admin/members")
    def admin_members_page(self, request):
        agency = self._admin_agency(request)
        try:
            search = members_search(request.args)
            return self._members_page(agency, search)
        except ValidationFailed as error:
            return self._members_page(agency, {"q": request.args.get("q", "")[:200]}, status=422,
                                      problems=form_problems(error, "member_search", {"page": "f-q", "limit": "f-q"}))

    def _members_page(self, agency: str, search: dict, status: int = 200, **context):
        found = self.admin_members.find_agency_members(agency, search)
        return self._render_admin(
            "admin/members.html", "members", agency, status=status, members=found["items"], found=found,
            search=search, role_choices=ROLE_CHOICES, page_links=page_links(found["page"], found["pages"]),
            page_address=lambda number: members_address(agency, search, number), **context)

    @page("POST", "/admin/members/<string:member_id>/roles")
    def admin_roles_submit(self, request, member_id):
        agency = self._admin_agency(request)
        self.web.check_csrf(request.form)
        search = members_search(request.form)  # the list the form was sent from, to go back to
        try:
            member = self.admin_members.change_roles(member_id, {"roles": wants_roles(request.form)})
        except DomainError as error:
            return self._members_page(agency, search, error.status,
                                      problems=form_problems(error, "roles", {"roles": f"roles-{member_id}"}))
        return self.web.redirect(members_address(agency, search, search.get("page", 1)) + f"#m-{member_id}",
                                 flash=f"The roles of {member['display_name']} are saved.")

    @page("GET", "/admin/insights")
    def admin_insights_page(self, request):
        agency = self._admin_agency(request)
        activity, members = self.admin_ideas.insights(agency, 12), self.admin_members.insights(agency, 12)
        months = activity["months"]
        names = {n["slug"]: n["name"] for n in self.admin_members.list_networks(agency)}
        charts = [insight(N_("New members"), months, members["members"]),
                  insight(N_("Ideas shared"), months, activity["ideas"]),
                  insight(N_("Ratings given"), months, activity["ratings"]),
                  insight(N_("Comments posted"), months, activity["comments"])]
        networks = [{"name": names.get(n["slug"], n["slug"]), "slug": n["slug"],
                     "charts": [insight(N_("Ideas"), months, n["ideas"]), insight(N_("Ratings"), months, n["ratings"]),
                                insight(N_("Comments"), months, n["comments"])]} for n in activity["networks"]]
        return self._render_admin("admin/insights.html", "insights", agency, charts=charts, networks=networks,
                                  members_total=members["total"])

    @page("GET", "/admin/networks")
    def admin_networks_page(self, request):
        agency = self._admin_agency(request)
        return self._render_admin("admin/networks.html", "networks", agency,
                                  networks=self.admin_members.list_networks(agency), form={})

    @page("POST", "/admin/networks")
    def admin_network_submit(self, request):
        agency = self._admin_agency(request)
        self.web.check_csrf(request.form)
        form = request.form.to_dict()
        try:
            network = self.admin_members.create_network({"name": form.get("name", ""),
                                                         "description": form.get("description", ""),
                                                         "closed": form.get("closed") == "yes"})
        except DomainError as error:
            return self._render_admin("admin/networks.html", "networks", agency, status=error.status,
                                      networks=self.admin_members.list_networks(agency), form=form,
                                      problems=form_problems(error, "network"))
        return self.web.redirect(f"/admin/networks?agency={agency}", flash=f"The network {network['name']} is ready.")

    @page("GET", "/admin/moderation")
    def admin_moderation_page(self, request):
        agency = self._admin_agency(request)
        return self._render_admin("admin/moderation.html", "moderation", agency,
                                  queue=self.admin_ideas.moderation_queue()["items"],
                                  log=self.admin_ideas.moderation_log()["items"][:20], states=STATE_LABELS,
                                  log_actions=LOG_ACTIONS)

    @page("GET", "/admin/webhooks")
    def admin_webhooks_page(self, request):
        agency = self._admin_agency(request)
        return self._webhooks_page(agency, form={})

    def _webhooks_page(self, agency: str, status: int = 200, created: dict | None = None, **context):
        return self._render_admin("admin/webhooks.html", "webhooks", agency, status=status,
                                  webhooks=self.admin_notify.list_webhooks()["items"],
                                  event_types=self.admin_notify.webhook_event_types(), created=created, **context)

    @page("POST", "/admin/webhooks")
    def admin_webhook_submit(self, request):
        agency = self._admin_agency(request)
        self.web.check_csrf(request.form)
        form = request.form.to_dict()
        payload = {"url": form.get("url", "").strip(), "event_types": request.form.getlist("event_types"),
                   "agency": agency, "description": form.get("description", "").strip()}
        try:
            created = self.admin_notify.create_webhook(payload)
        except DomainError as error:
            return self._webhooks_page(agency, status=error.status, form=form, chosen=set(payload["event_types"]),
                                       problems=form_problems(error, "webhook"))
        # The secret is shown on this answer only: it is never stored where a page could show it again.
        return self._webhooks_page(agency, status=201, created=created, form={})

    @page("POST", "/admin/webhooks/<string:webhook_id>/delete")
    def admin_webhook_delete(self, request, webhook_id):
        agency = self._admin_agency(request)
        self.web.check_csrf(request.form)
        self.admin_notify.delete_webhook(webhook_id)
        return self.web.redirect(f"/admin/webhooks?agency={agency}", flash="The webhook is deleted.")

    @page("GET", "/admin/dead-letters")
    def admin_dead_letters_page(self, request):
        agency = self._admin_agency(request)
        me = self.web.principal()
        if not me.is_operator:
            raise Forbidden("Only operators may see dead letters.")
        letters, silent = [], []
        for service, proxy in (("members", self.admin_members), ("ideas", self.admin_ideas),
                               ("notify", self.admin_notify), ("archive", self.admin_archive)):
            try:
                letters.extend(proxy.dead_letters(100))
            except DomainError:
                raise
            except Exception:  # a service that does not answer is named, not fatal to the page
                silent.append(service)
        letters.sort(key=lambda letter: letter.get("dead_at") or "")
        return self._render_admin("admin/dead_letters.html", "dead-letters", agency, letters=letters, silent=silent)
