"""Gateway routes for people: agencies, registration, log-in and log-out, the member's profile and API keys, networks."""
from __future__ import annotations

from services.common.rpc import RpcProxy

from werkzeug.wrappers import Response

from services.common.errors import DomainError
from services.common.http import json_response, read_json
from services.common.scopes import SCOPES
from services.web.form_problems import form_problems
from services.web.gateway import api, page, same_site_path


def client_address(request, trusted_proxies: int = 0) -> str:
    """The caller's address for per-address limits.

    ``X-Forwarded-For`` is believed only as far as ``TRUSTED_PROXIES`` hops
    in front of the gateway add to it; anyone can write the rest.
    """
    if trusted_proxies > 0:
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.remote_addr or "unknown"


class MemberRoutes:
    members = RpcProxy("members")
    network_ideas = RpcProxy("ideas")

    # -- JSON API -----------------------------------------------------------

    @api("GET", "/api/v1/agencies")
    def api_agencies(self, request):
        return json_response({"items": self.members.list_agencies(), "next_cursor": None})

    @api("POST", "/api/v1/members")
    def api_register(self, request):
        return json_response(self.members.register(read_json(request), client_address(request, self.web.trusted_proxies)),
                             201)

    @api("POST", "/api/v1/invites")
    def api_invite(self, request):
        return json_response(self.members.invite(read_json(request)), 201)

    @api("GET", "/api/v1/audit-log")
    def api_audit_log(self, request):
        return json_response({"items": self.members.audit_log(request.args.get("agency")), "next_cursor": None})

    @api("POST", "/api/v1/tokens")
    def api_token(self, request):
        return json_response(self.members.log_in(read_json(request), client_address(request, self.web.trusted_proxies)), 201)

    @api("GET", "/api/v1/me")
    def api_me(self, request):
        return json_response(self.members.me())

    @api("GET", "/api/v1/members/<string:member_id>")
    def api_member(self, request, member_id):
        return json_response(self.members.get_member(member_id))

    @api("PUT", "/api/v1/members/<string:member_id>/roles")
    def api_member_roles(self, request, member_id):
        return json_response(self.members.change_roles(member_id, read_json(request)))

    @api("POST", "/api/v1/members/<string:member_id>/deactivation")
    def api_deactivate(self, request, member_id):
        return json_response(self.members.deactivate(member_id))

    @api("GET", "/api/v1/networks")
    def api_networks(self, request):
        return json_response({"items": self.members.list_networks(request.args.get("agency")), "next_cursor": None})

    @api("POST", "/api/v1/networks")
    def api_create_network(self, request):
        return json_response(self.members.create_network(read_json(request)), 201)

    @api("GET", "/api/v1/networks/<string:slug>")
    def api_network(self, request, slug):
        return json_response(self.members.get_network(slug))

    @api("POST", "/api/v1/networks/<string:slug>/membership")
    def api_join_network(self, request, slug):
        return json_response(self.members.join_network(slug))

    @api("GET", "/api/v1/networks/<string:slug>/activity")
    def api_network_activity(self, request, slug):
        return json_response(self.network_ideas.network_activity(slug))

    @api("GET", "/api/v1/networks/<string:slug>/requests")
    def api_join_requests(self, request, slug):
        return json_response({"items": self.members.join_requests(slug), "next_cursor": None})

    @api("PUT", "/api/v1/networks/<string:slug>/requests/<string:member_id>")
    def api_decide_join_request(self, request, slug, member_id):
        return json_response(self.members.decide_join_request(slug, member_id, read_json(request)))

    @api("PUT", "/api/v1/networks/<string:slug>/admins/<string:member_id>")
    def api_appoint_network_admin(self, request, slug, member_id):
        return json_response(self.members.appoint_network_admin(slug, member_id))

    @api("POST", "/api/v1/networks/<string:slug>/guests")
    def api_invite_guest(self, request, slug):
        return json_response(self.members.invite_guest(slug, read_json(request)), 201)

    @api("DELETE", "/api/v1/networks/<string:slug>/membership")
    def api_leave_network(self, request, slug):
        return json_response(self.members.leave_network(slug))

    @api("GET", "/api/v1/api-keys")
    def api_keys(self, request):
        """Each key's id, name, scopes, when it was made and last used. Members only: a key cannot list keys."""
        return json_response({"items": self.members.list_api_keys(), "next_cursor": None})

    @api("POST", "/api/v1/api-keys")
    def api_create_key(self, request):
        """Answers `{id, key, name, scopes}`; `key` is shown here once and stored only as a digest.

        The scopes are listed at the top of this description; docs/security.md says what each allows."""
        return json_response(self.members.create_api_key(read_json(request)), 201)

    @api("DELETE", "/api/v1/api-keys/<string:key_id>")
    def api_revoke_key(self, request, key_id):
        """Only the key's owner may; anyone else's key answers 404. The key is refused (401) within 5 seconds."""
        self.members.revoke_api_key(key_id)
        return Response(status=204)

    @api("POST", "/api/v1/logout")
    def api_log_out(self, request):
        """Raises the member's session version: every token and page session they hold is refused within 5 seconds."""
        self.members.log_out()
        return Response(status=204)

    @api("POST", "/api/v1/password-resets")
    def api_request_reset(self, request):
        return json_response(self.members.request_password_reset(
            read_json(request), client_address(request, self.web.trusted_proxies)), 202)

    # -- pages --------------------------------------------------------------

    @page("GET", "/register")
    def register_page(self, request):
        invited = {k: request.args.get(k, "") for k in ("invite", "email", "agency") if request.args.get(k)}
        return self.web.render("members/register.html", agencies=self.members.list_agencies(), form=invited)

    @page("POST", "/register")
    def register_submit(self, request):
        self.web.check_csrf(request.form)
        form = request.form.to_dict()
        address = client_address(request, self.web.trusted_proxies)
        fields = {k: form.get(k, "") for k in ("email", "display_name", "password", "agency")}
        try:
            if form.get("invite"):
                self.members.register({**fields, "invite": form["invite"]}, address)
                token = self.members.log_in({"email": fields["email"], "password": fields["password"]}, address)
            else:
                self.members.register(fields, address)
        except DomainError as error:
            return self.web.render("members/register.html", status=error.status, agencies=self.members.list_agencies(),
                                   form=form, problems=form_problems(error, "register"))
        if not form.get("invite"):
            return self.web.redirect("/login", flash="Nearly there: open the link we emailed you to confirm your address, "
                                                     "then log in.")
        self.web.log_in(token["token"], form.get("display_name", ""))
        return self.web.redirect("/me", flash="Welcome to Engagement Network. Join a network of practice to get started.")

    @page("GET", "/verify/<string:token>")
    def verify_page(self, request, token):
        try:
            answer = self.members.verify_email({"token": token})
        except DomainError as error:
            return self.web.render("error.html", status=error.status, status_code=error.status, message=error.message)
        return self.web.redirect("/login", flash=answer["status"])

    @page("GET", "/login")
    def login_page(self, request):
        return self.web.render("members/login.html", next=same_site_path(request.args.get("next"), ""), form={})

    @page("POST", "/login")
    def login_submit(self, request):
        self.web.check_csrf(request.form)
        form = request.form.to_dict()
        try:
            token = self.members.log_in({"email": form.get("email", ""), "password": form.get("password", "")},
                                        client_address(request, self.web.trusted_proxies))
        except DomainError as error:
            return self.web.render("members/login.html", status=error.status, next=same_site_path(form.get("next"), ""),
                                   form=form, problems=form_problems(error, "log_in"))
        self.web.log_in(token["token"], "")
        return self.web.redirect(same_site_path(form.get("next")), flash="You are logged in.")

    @page("POST", "/logout")
    def logout_submit(self, request):
        self.web.check_csrf(request.form)
        if self.web.principal() is not None:
            self.members.log_out()  # ends this session's token everywhere, so a copied cookie is refused too
        self.web.log_out()
        return self.web.redirect("/", flash="You are logged out.")

    @page("GET", "/forgot-password")
    def forgot_page(self, request):
        return self.web.render("members/forgot.html", form={})

    @page("POST", "/forgot-password")
    def forgot_submit(self, request):
        self.web.check_csrf(request.form)
        form = {"email": request.form.get("email", "")}
        try:
            answer = self.members.request_password_reset(form, client_address(request, self.web.trusted_proxies))
        except DomainError as error:
            return self.web.render("members/forgot.html", status=error.status, form=form,
                                   problems=form_problems(error, "forgotten_password"))
        return self.web.redirect("/login", flash=answer["status"])

    @page("GET", "/reset/<string:token>")
    def reset_page(self, request, token):
        return self.web.render("members/reset.html", token=token)

    @page("POST", "/reset/<string:token>")
    def reset_submit(self, request, token):
        self.web.check_csrf(request.form)
        try:
            answer = self.members.reset_password({"token": token, "password": request.form.get("password", "")})
        except DomainError as error:
            return self.web.render("members/reset.html", status=error.status, token=token,
                                   problems=form_problems(error, "new_password"))
        return self.web.redirect("/login", flash=answer["status"])

    @page("GET", "/me")
    def profile_page(self, request):
        self.web.require_principal()
        return self.web.render("members/profile.html", member=self.members.me())

    @page("GET", "/members/<string:member_id>")
    def member_page(self, request, member_id):
        """A member's public profile: what a mention of them links to."""
        return self.web.render("members/member.html", member=self.members.get_member(member_id))

    @page("GET", "/account/api-keys")
    def api_keys_page(self, request):
        self.web.require_principal()
        return self.web.render("members/api_keys.html", keys=self.members.list_api_keys(), scopes=SCOPES,
                               created=None, form={})

    @page("POST", "/account/api-keys")
    def api_key_create_submit(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        form = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
        try:
            created = self.members.create_api_key(form)
        except DomainError as error:
            return self.web.render("members/api_keys.html", status=error.status, keys=self.members.list_api_keys(),
                                   scopes=SCOPES, created=None, form=form, problems=form_problems(error, "api_key"))
        # The key is on this answer only: it is never stored anywhere it could be shown again.
        return self.web.render("members/api_keys.html", status=201, keys=self.members.list_api_keys(), scopes=SCOPES,
                               created=created, form={})

    @page("POST", "/account/api-keys/<string:key_id>/revocation")
    def api_key_revoke_submit(self, request, key_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        self.members.revoke_api_key(key_id)
        return self.web.redirect("/account/api-keys", flash="The API key is revoked; it stops working within seconds.")

    @page("GET", "/agencies")
    def agencies_page(self, request):
        return self.web.render("members/agencies.html", agencies=self.members.list_agencies())

    @page("GET", "/networks")
    def networks_page(self, request):
        return self._networks_page(form={})

    def _networks_page(self, status: int = 200, **context):
        mine = set()
        if self.web.principal():
            mine = {n["slug"] for n in self.members.me()["networks"]}
        return self.web.render("members/networks.html", status=status, networks=self.members.list_networks(),
                               mine=mine, **context)

    @page("POST", "/networks")
    def network_create_submit(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        form = {"name": request.form.get("name", ""), "description": request.form.get("description", ""),
                "closed": request.form.get("closed") == "yes"}
        try:
            network = self.members.create_network(form)
        except DomainError as error:
            return self._networks_page(error.status, form=form, problems=form_problems(error, "network"))
        return self.web.redirect(f"/networks/{network['slug']}", flash="Your network is ready.")

    @page("GET", "/networks/<string:slug>")
    def network_page(self, request, slug):
        return self._network_page(slug)

    def _network_page(self, slug: str, status: int = 200, **context):
        """The network's page: the network and its members (members), its ideas and discussion (ideas), and for
        its administrators the requests waiting (members); each section one call."""
        network = self.members.get_network(slug)
        activity = self.network_ideas.network_activity(slug)
        requests_waiting = self.members.join_requests(slug) if network["viewer"]["admin"] else []
        return self.web.render("members/network.html", status=status, network=network, activity=activity,
                               requests_waiting=requests_waiting, form=context.pop("form", {}), **context)

    @page("POST", "/networks/<string:slug>/membership")
    def network_membership_submit(self, request, slug):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        try:
            if request.form.get("action") == "leave":
                self.members.leave_network(slug)
                return self.web.redirect(f"/networks/{slug}", flash="You have left the network.")
            answer = self.members.join_network(slug)
        except DomainError as error:
            return self._network_page(slug, error.status, problems=form_problems(error, "network_membership"))
        if answer.get("requested"):
            return self.web.redirect(f"/networks/{slug}", flash="Your request to join is sent: an administrator of "
                                                                "the network will decide.")
        return self.web.redirect(f"/networks/{slug}", flash="You have joined the network.")

    @page("POST", "/networks/<string:slug>/requests/<string:member_id>")
    def network_request_submit(self, request, slug, member_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        decision = request.form.get("decision", "")
        try:
            self.members.decide_join_request(slug, member_id, {"decision": decision})
        except DomainError as error:
            return self._network_page(slug, error.status, problems=form_problems(error, "join_request"))
        done = "They are a member now." if decision == "approve" else "The request is declined."
        return self.web.redirect(f"/networks/{slug}#requests", flash=done)

    @page("POST", "/networks/<string:slug>/admins/<string:member_id>")
    def network_admin_submit(self, request, slug, member_id):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        try:
            self.members.appoint_network_admin(slug, member_id)
        except DomainError as error:
            return self._network_page(slug, error.status, problems=form_problems(error, "network_admin"))
        return self.web.redirect(f"/networks/{slug}#members", flash="They are an administrator of the network now.")

    @page("POST", "/networks/<string:slug>/guests")
    def network_guest_submit(self, request, slug):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        form = {"email": request.form.get("email", "")}
        try:
            invited = self.members.invite_guest(slug, form)
        except DomainError as error:
            return self._network_page(slug, error.status, form=form,
                                      problems=form_problems(error, "guest_invitation", {"email": "f-guest-email"}))
        # The link is on this answer only: it is shown once, to the administrator who passes it on.
        return self._network_page(slug, 201, invited=invited)
