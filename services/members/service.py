"""The members service: agencies, members, log-in and tokens, networks of practice, roles, API keys.

Entrypoints only: each validates with a schema, applies the rules in
``domain``, writes through ``MemberStore`` and records its events in the same
transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from nameko.extensions import DependencyProvider

from services.common.config import environment
from services.common.errors import Forbidden, NotFound, Unauthorized, Unverified, refusal
from services.common.events import as_json_safe, isoformat, utc_now
from services.common.http import api, count_argument, json_response, load
from services.common.ratelimit import RateLimits
from services.common.rpc import ANYONE, MEMBER, OPERATOR, role, rpc, service
from services.common.rules import RuleBroken
from services.common import service_base
from services.common.storage import Storage, plain
from services.common.timeseries import count_by_month, last_months
from services.common.tokens import KeyFiles, Principal, issue, jwks
from services.members import domain, schemas
from services.members.store import MemberStore

TOKEN_TTL_SECONDS = 8 * 3600
# A key's token is used by the gateway for seconds only (it asks again, so a
# revoked key stops within them); a minute covers a slow request.
API_KEY_TOKEN_TTL_SECONDS = 60
ACCOUNT_FAILURES = "10 per 15 minutes"
ADDRESS_FAILURES = "50 per 15 minutes"
RESETS_PER_ACCOUNT = "3 per hour"
RESETS_PER_ADDRESS = "20 per hour"
DEFAULT_REGISTRATION_LIMIT = "20 per hour"
VERIFICATION_HOURS = 48
INVITE_DAYS = 14


class MembersSettings(DependencyProvider):
    """Password hashing cost, rate limits and the public URL, fixed for the container's life."""

    def setup(self) -> None:
        config = self.container.config
        self.hasher = domain.PasswordPolicy.for_environment(environment(config)).hasher()
        # checked when nobody has the address, so an unknown account costs the same hash as a known one
        self.stand_in_hash = domain.stand_in_password_hash(self.hasher)
        self.limits = RateLimits(config.get("REDIS_URL") or None)
        self.public_url = str(config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.registration_limit = str(config.get("REGISTRATION_LIMIT") or DEFAULT_REGISTRATION_LIMIT)
        # Production keeps the signing key in a file it can rotate (docs/operations.md, "Rotating the token
        # signing key"); without one, a key made once and kept in storage serves every replica.
        self.key_files = KeyFiles.from_config(config)

    def signing_key(self, store: MemberStore) -> dict:
        return self.key_files.signing if self.key_files else store.signing_key()

    def published_keys(self, store: MemberStore) -> list[dict]:
        if self.key_files:
            return list(self.key_files.published)
        store.signing_key()
        return store.signing_keys()

    def get_dependency(self, worker_ctx):
        return self


def member_view(member: dict, networks: list[dict] | None = None, *, private: bool = False) -> dict:
    view = {"id": member["id"], "display_name": member["display_name"], "agency": member["agency"],
            "roles": member.get("roles", ["member"]), "status": member.get("status", "active"),
            "created_at": isoformat(member["created_at"])}
    if private:
        view["email"] = member["email"]
        view["time_zone"] = member.get("time_zone", "Australia/Sydney")
    if networks is not None:
        view["networks"] = networks
    return view


class MembersService(service_base.ServiceBase):
    name = "members"

    store = Storage(MemberStore)
    settings = MembersSettings()

    # -- agencies -----------------------------------------------------------

    @rpc(allow=ANYONE)
    def list_agencies(self) -> list[dict]:
        return [{"id": a["id"], "slug": a["slug"], "name": a["name"]} for a in self.store.agencies()]

    @rpc(allow=OPERATOR)
    def create_agency(self, payload: dict, admin: dict | None = None) -> dict:
        """Operator only (the ``engage agency create`` command): an agency and, optionally, its first administrator."""
        principal = self.caller.optional()
        if principal is not None and not principal.is_operator:
            raise Forbidden("Only the platform operator creates agencies.")
        data = load(schemas.AgencyCreation(), payload)
        admin_data = load(schemas.Registration(), {**admin, "agency": data["slug"]}) if admin else None
        agency = {"_id": str(uuid.uuid4()), **data, "email_domains": [d.lower() for d in data["email_domains"]],
                  "created_at": utc_now(), "version": 1}

        def write(tx: MemberStore):
            tx.add_agency(agency)
            tx.record("agency.created", subject=agency["_id"], data={
                "agency_id": agency["_id"], "slug": agency["slug"], "name": agency["name"], "version": 1})
            tx.audit({"action": "agency.created", "actor": principal.member_id if principal else "operator-cli",
                      "agency": agency["slug"], "target": agency["slug"]})
            if admin_data:
                self._add_member(tx, admin_data, roles=["member", "agency_admin"], check_domain=False)

        self.store.transaction(write)
        return {"id": agency["_id"], "slug": agency["slug"], "name": agency["name"]}

    # -- registration, log-in, tokens ---------------------------------------

    @rpc(allow=ANYONE)
    def register(self, payload: dict, address: str = "unknown") -> dict:
        """A new account: unverified until the link mailed to it is opened, or active at once with an invite.

        An address already registered answers ``Conflict`` (409). That tells
        the caller the address has an account, a trade-off for people who
        forgot they registered; the per-caller limit keeps anyone from
        checking addresses in bulk.
        """
        self.settings.limits.take(self.settings.registration_limit, "register-address", address,
                                  message="Too many registrations from here; wait before trying again.")
        data = load(schemas.Registration(), payload)

        def write(tx: MemberStore) -> dict:
            invited = data["invite"] is not None
            invite = None
            if invited:
                invite = tx.use_invite(domain.digest(data["invite"]), domain.normalise_email(data["email"]),
                                       data["agency"])
                if invite is None:
                    raise NotFound("That invitation is not valid for this address any more; ask for a new one.",
                                   {"invite": ["expired, used or for another address"]})
            guest = bool(invite and invite.get("guest"))
            member = self._add_member(tx, data, roles=domain.guest_roles() if guest else ["member"],
                                      check_domain=not invited, status="active" if invited else "unverified")
            if guest:
                # a guest invitation is to one network: the guest belongs to it from the start
                network = plain(tx.db.networks.find_one({"_id": invite["network_id"]}, session=tx.session))
                if network and tx.add_membership(network, member["id"]):
                    self._record_membership(tx, "member.joined_network", network, member["id"], member["agency"])
            if not invited:
                self._ask_to_verify(tx, member)
            return member

        return member_view(self.store.transaction(write), [], private=True)

    def _ask_to_verify(self, tx: MemberStore, member: dict) -> None:
        # The link rides on member.verification_requested like the reset link, for notify to mail.
        token, token_digest = domain.new_reset_token()
        expires = utc_now() + timedelta(hours=VERIFICATION_HOURS)
        tx.add_verification_token({"_id": token_digest, "member_id": member["id"], "expires_at": expires, "used": False})
        tx.record("member.verification_requested", subject=member["id"], data={
            "member_id": member["id"], "verify_url": f"{self.settings.public_url}/verify/{token}",
            "expires_at": isoformat(expires), "version": member["version"]})

    @rpc(allow=ANYONE)
    def verify_email(self, payload: dict) -> dict:
        """Open the link mailed at registration: the account becomes active and may log in."""
        data = load(schemas.Verification(), payload)

        def write(tx: MemberStore) -> None:
            used = tx.use_verification_token(domain.digest(data["token"]))
            if used is None:
                raise NotFound("That confirmation link is not valid any more; register again or ask for help.",
                               {"token": ["expired or used"]})
            tx.db.members.update_one({"_id": used["member_id"], "status": "unverified"},
                                     {"$set": {"status": "active"}, "$inc": {"version": 1}}, session=tx.session)

        self.store.transaction(write)
        return {"status": "Your address is confirmed; log in to start."}

    @rpc(allow=MEMBER)
    def invite(self, payload: dict) -> dict:
        """An agency administrator invites an address, also one outside the agency's email domains.

        The answer holds the link, shown once to the administrator, who passes
        it on; registering through it makes the account active at once, since
        the link reached its address.
        """
        principal = self.caller.required()
        principal.require_role("agency_admin", principal.agency)
        data = load(schemas.Invitation(), payload)
        token, token_digest = domain.new_reset_token()
        email = domain.normalise_email(data["email"])
        expires = utc_now() + timedelta(days=INVITE_DAYS)

        def write(tx: MemberStore) -> None:
            tx.add_invite({"_id": token_digest, "email": email, "agency": principal.agency, "used": False,
                           "invited_by": principal.member_id, "created_at": utc_now(), "expires_at": expires})
            tx.audit({"action": "member.invited", "actor": principal.member_id, "agency": principal.agency,
                      "target": email})

        self.store.transaction(write)
        return {"email": email, "agency": principal.agency, "expires_at": isoformat(expires),
                "invite_url": f"{self.settings.public_url}/register?invite={token}&email={quote(email)}"
                              f"&agency={principal.agency}"}

    @rpc(allow=MEMBER)
    def audit_log(self, agency: str | None = None) -> list[dict]:
        """Role changes, API keys, invitations and operator actions, newest first.

        An agency administrator sees their agency's; the platform operator
        sees every agency's, or one when ``agency`` is given.
        """
        principal = self.caller.required()
        if not principal.is_operator:
            principal.require_role("agency_admin", principal.agency)
            agency = principal.agency
        return [{**as_json_safe(row), "at": isoformat(row["at"])} for row in self.store.audit_entries(agency)]

    def _add_member(self, tx: MemberStore, data: dict, *, roles: list[str], check_domain: bool = True,
                    status: str = "active") -> dict:
        agency = tx.agency(data["agency"])
        email = domain.normalise_email(data["email"])
        if check_domain:
            try:
                domain.check_registration_domain(email, agency.get("email_domains", []))
            except RuleBroken as error:
                raise refusal(error) from None
        member = {"_id": str(uuid.uuid4()), "email": email, "display_name": data["display_name"].strip(),
                  "password_hash": domain.hash_password(self.settings.hasher, data["password"]),
                  "agency": agency["slug"], "roles": roles, "status": status,
                  "time_zone": data.get("time_zone") or "Australia/Sydney", "created_at": utc_now(), "version": 1}
        tx.add_member(member)
        tx.record("member.registered", subject=member["_id"], data={
            "member_id": member["_id"], "display_name": member["display_name"], "agency": member["agency"], "version": 1})
        if roles != ["member"]:
            tx.record("member.role_changed", subject=member["_id"], data={
                "member_id": member["_id"], "agency": member["agency"], "roles": roles, "network_admin_of": [],
                "version": 1})
        member["id"] = member.pop("_id")
        return member

    @rpc(allow=ANYONE)
    def log_in(self, payload: dict, address: str = "unknown") -> dict:
        """Exchange email and password for a token. Failures are rate limited per account and per address."""
        data = load(schemas.Login(), payload)
        email = domain.normalise_email(data["email"])
        limits = self.settings.limits
        too_many = "Too many failed log-ins; wait before trying again, or reset your password."
        limits.check(ACCOUNT_FAILURES, "login-account", email, message=too_many)
        limits.check(ADDRESS_FAILURES, "login-address", address, message=too_many)
        member = self.store.member_by_email(email)
        # always one hash check, so the time taken does not say whether the address has an account
        stored_hash = member.get("password_hash") if member is not None else None
        matches = domain.password_matches(self.settings.hasher, stored_hash or self.settings.stand_in_hash,
                                          data["password"])
        if member is not None and stored_hash and matches and member.get("status") == "unverified":
            # only someone who knows the password learns the account exists
            raise Unverified("Confirm your address first: open the link we emailed when you registered.")
        if member is None or not stored_hash or not matches or member.get("status") != "active":
            limits.count(ACCOUNT_FAILURES, "login-account", email)
            limits.count(ADDRESS_FAILURES, "login-address", address)
            raise Unauthorized("The email or password is not right.")
        return self._token_for(member)

    def _token_for(self, member: dict, api_key: dict | None = None, ttl: int = TOKEN_TTL_SECONDS) -> dict:
        admin_of = [n["slug"] for n in self.store.memberships_of(member["id"]) if n["role"] == "admin"]
        claims = domain.token_claims(member, admin_of)
        if api_key is not None:
            claims.update(scopes=list(api_key["scopes"]), key=api_key["key_id"])
        token, expires = issue(self.settings.signing_key(self.store), claims, ttl)
        return {"token": token, "expires_at": isoformat(datetime.fromtimestamp(expires, timezone.utc))}

    @rpc(allow=MEMBER)
    def log_out(self) -> dict:
        """End every token and page session of the caller (all their devices), within seconds everywhere."""
        principal = self.caller.required()
        self.store.transaction(lambda tx: tx.end_sessions(principal.member_id, "log_out"))
        return {"status": "You are logged out everywhere."}

    @rpc(allow=MEMBER)
    def me(self) -> dict:
        principal = self.caller.required()
        member = self.store.member(principal.member_id)
        return member_view(member, self.store.memberships_of(member["id"]), private=True)

    @rpc(allow=ANYONE)
    def get_member(self, member_id: str) -> dict:
        """A member's public profile; of their closed networks, only those the caller belongs to as well."""
        principal = self.caller.optional()
        mine = {n["id"] for n in self.store.memberships_of(principal.member_id)} if principal else set()
        networks = [n for n in self.store.memberships_of(str(member_id)) if not n["closed"] or n["id"] in mine]
        return member_view(self.store.member(str(member_id)), networks)

    @rpc(allow=service("notify") | OPERATOR)
    def contact_addresses(self, member_ids: list[str]) -> list[dict]:
        """For the notify service: where to email active members (never published as an event)."""
        return [{"member_id": m["id"], "email": m["email"], "display_name": m["display_name"],
                 "time_zone": m.get("time_zone", "Australia/Sydney")} for m in self.store.contacts(list(member_ids)[:1000])]

    @rpc(allow=role("agency_admin"))
    def agency_members(self, agency: str) -> list[dict]:
        principal = self.caller.required()
        principal.require_role("agency_admin", agency)
        return [member_view(m) for m in self.store.members_of_agency(agency)]

    @rpc(allow=role("agency_admin"))
    def find_agency_members(self, agency: str, query: dict | None = None) -> dict:
        """The agency's members for its administrators: found by name or email (``q``), a numbered page of them
        (``page``, ``limit``), each with their email address so two of the same name can be told apart."""
        principal = self.caller.required()
        principal.require_role("agency_admin", str(agency))
        data = load(schemas.MemberSearch(), query or {})
        found = domain.find_members(self.store.members_of_agency(str(agency), limit=10_000), data["q"])
        answer = domain.page_of(found, data["page"], data["limit"])
        return {**answer, "items": [{**member_view(m), "email": m["email"]} for m in answer["items"]]}

    @rpc(allow=role("agency_admin"))
    def insights(self, agency: str, months: int = 12) -> dict:
        """New members per month over the last ``months`` (at most 36), and how many the agency has."""
        principal = self.caller.required()
        principal.require_role("agency_admin", str(agency))
        shown = last_months(utc_now(), count_argument(months, 36, "months"))
        joined = self.store.joined_at_in_agency(str(agency))
        return {"months": shown, "members": count_by_month(joined, shown), "total": len(joined)}

    # -- password reset -----------------------------------------------------

    @rpc(allow=ANYONE)
    def request_password_reset(self, payload: dict, address: str = "unknown") -> dict:
        """Always answers the same, so it cannot tell who has an account; limited per address asked about and per caller.

        Every request counts, known or not, so the limit itself says nothing
        about who is registered; it stops anyone filling a mailbox with links.
        """
        data = load(schemas.ResetRequest(), payload)
        email = domain.normalise_email(data["email"])
        too_many = "Too many reset requests; wait before asking again."
        self.settings.limits.take(RESETS_PER_ACCOUNT, "reset-account", email, message=too_many)
        self.settings.limits.take(RESETS_PER_ADDRESS, "reset-address", address, message=too_many)
        member = self.store.member_by_email(email)
        if member is not None and member.get("status") == "active":
            token, token_digest = domain.new_reset_token()
            expires = utc_now() + timedelta(hours=1)

            def write(tx: MemberStore):
                tx.add_reset_token({"_id": token_digest, "member_id": member["id"], "expires_at": expires, "used": False})
                tx.record("member.password_reset_requested", subject=member["id"], data={
                    "member_id": member["id"], "reset_url": f"{self.settings.public_url}/reset/{token}",
                    "expires_at": isoformat(expires), "version": member["version"]})

            self.store.transaction(write)
        return {"status": "If that address is registered, a reset link is on its way."}

    @rpc(allow=ANYONE)
    def reset_password(self, payload: dict) -> dict:
        data = load(schemas.PasswordReset(), payload)

        def write(tx: MemberStore):
            used = tx.use_reset_token(domain.digest(data["token"]))
            if used is None:
                raise NotFound("That reset link is not valid any more; ask for a new one.", {"token": ["expired or used"]})
            tx.update_member(used["member_id"], {"password_hash": domain.hash_password(self.settings.hasher, data["password"])})
            tx.end_sessions(used["member_id"], "password_reset")

        self.store.transaction(write)
        return {"status": "Your password has been changed; log in with the new one."}

    # -- networks -----------------------------------------------------------

    @rpc(allow=ANYONE)
    def list_networks(self, agency: str | None = None) -> list[dict]:
        return [_network_view(n) for n in self.store.networks(agency)]

    @rpc(allow=ANYONE)
    def get_network(self, slug: str) -> dict:
        """The network, the caller's standing in it (``viewer``) and its members; a closed network lists its
        members to its members only (``members`` is then empty and ``members_hidden`` true)."""
        principal = self.caller.optional()
        member_id = principal.member_id if principal else None
        network = self.store.network(str(slug))
        role_held = self.store.membership_role(network["id"], member_id)
        request = self.store.join_request(network["id"], member_id)
        shown = domain.may_see_members(bool(network.get("closed")), role_held)
        return {**_network_view(network),
                "viewer": domain.network_viewer(role_held, request["status"] if request else None),
                "members": as_json_safe(self.store.network_members(network["id"])) if shown else [],
                "members_hidden": not shown}

    @rpc(allow=MEMBER)
    def create_network(self, payload: dict) -> dict:
        """A new network, open or closed; its creator is its first member and administrator."""
        principal = self.caller.required()
        try:
            domain.check_may_start_network(tuple(principal.roles))
        except RuleBroken as error:
            raise refusal(error) from None
        data = load(schemas.NetworkCreation(), payload)
        network = {"_id": str(uuid.uuid4()), "slug": domain.slugify(data["name"]), "name": data["name"].strip(),
                   "description": data["description"], "agency": principal.agency, "created_by": principal.member_id,
                   "closed": data["closed"], "member_count": 0, "created_at": utc_now(), "version": 1}

        def write(tx: MemberStore):
            tx.add_network(network)
            tx.record("network.created", subject=network["_id"], data={
                "network_id": network["_id"], "slug": network["slug"], "name": network["name"],
                "agency": network["agency"], "created_by": principal.member_id, "closed": network["closed"],
                "version": 1})
            stored = {**network, "id": network["_id"]}
            tx.add_membership(stored, principal.member_id, role="admin")
            self._record_membership(tx, "member.joined_network", stored, principal.member_id, principal.agency)

        self.store.transaction(write)
        return _network_view({**network, "id": network["_id"], "member_count": 1})

    @rpc(allow=MEMBER)
    def join_network(self, slug: str) -> dict:
        """Join an open network at once; for a closed one, ask (``requested`` is then true) and wait for an
        administrator's decision."""
        principal = self.caller.required()

        def write(tx: MemberStore):
            network = tx.network(str(slug))
            try:
                outcome = domain.join_outcome(
                    closed=bool(network.get("closed")), guest=domain.GUEST in principal.roles,
                    already_member=tx.membership_role(network["id"], principal.member_id) is not None)
            except RuleBroken as error:
                raise refusal(error) from None
            if outcome == "requested":
                tx.ask_to_join(network["id"], principal.member_id)
            elif outcome == "member" and tx.add_membership(network, principal.member_id):
                self._record_membership(tx, "member.joined_network", network, principal.member_id, principal.agency)
            return {**_network_view(tx.network(str(slug))), "requested": outcome == "requested"}

        return self.store.transaction(write)

    @rpc(allow=MEMBER)
    def leave_network(self, slug: str) -> dict:
        principal = self.caller.required()

        def write(tx: MemberStore):
            network = tx.network(str(slug))
            try:
                domain.check_leave(tx.membership_role(network["id"], principal.member_id), tx.count_admins(network["id"]))
            except RuleBroken as error:
                raise refusal(error) from None
            if tx.remove_membership(network, principal.member_id):
                self._record_membership(tx, "member.left_network", network, principal.member_id, principal.agency)
            return tx.network(str(slug))

        return _network_view(self.store.transaction(write))

    def _administered(self, tx: MemberStore, slug: str) -> tuple[dict, Principal]:
        """The network named ``slug``, when the caller is one of its administrators."""
        principal = self.caller.required()
        network = tx.network(str(slug))
        try:
            domain.check_network_admin(tx.membership_role(network["id"], principal.member_id))
        except RuleBroken as error:
            raise refusal(error) from None
        return network, principal

    @rpc(allow=MEMBER)
    def join_requests(self, slug: str) -> list[dict]:
        """The requests to join waiting for a decision, oldest first (the network's administrators)."""
        network, _ = self._administered(self.store, slug)
        return as_json_safe(self.store.pending_requests(network["id"]))

    @rpc(allow=MEMBER)
    def decide_join_request(self, slug: str, member_id: str, payload: dict) -> dict:
        """An administrator approves (they become a member, and ``member.joined_network`` tells the others so
        what they may see follows) or declines a waiting request."""
        data = load(schemas.JoinDecision(), payload)

        def write(tx: MemberStore) -> dict:
            network, principal = self._administered(tx, slug)
            try:
                domain.check_request_decision(tx.join_request(network["id"], str(member_id)))
            except RuleBroken as error:
                raise refusal(error) from None
            approved = data["decision"] == "approve"
            tx.decide_join_request(network["id"], str(member_id), "approved" if approved else "declined",
                                   principal.member_id)
            if approved and tx.add_membership(network, str(member_id)):
                self._record_membership(tx, "member.joined_network", network, str(member_id),
                                        tx.member(str(member_id))["agency"])
            tx.audit({"action": f"network.request_{'approved' if approved else 'declined'}",
                      "actor": principal.member_id, "agency": network["agency"], "target": str(member_id),
                      "network": network["slug"]})
            return {"member_id": str(member_id), "decision": data["decision"]}

        return self.store.transaction(write)

    @rpc(allow=MEMBER)
    def appoint_network_admin(self, slug: str, member_id: str) -> dict:
        """An administrator makes another member of the network an administrator too."""

        def write(tx: MemberStore) -> dict:
            network, principal = self._administered(tx, slug)
            try:
                domain.check_appointment(tx.membership_role(network["id"], str(member_id)))
            except RuleBroken as error:
                raise refusal(error) from None
            tx.set_membership_role(network["id"], str(member_id), "admin")
            tx.audit({"action": "network.admin_appointed", "actor": principal.member_id, "agency": network["agency"],
                      "target": str(member_id), "network": network["slug"]})
            return {"member_id": str(member_id), "role": "admin"}

        return self.store.transaction(write)

    @rpc(allow=MEMBER)
    def invite_guest(self, slug: str, payload: dict) -> dict:
        """An administrator invites a partner from outside the public service (academia, a community
        organisation, another jurisdiction) into this network as a guest.

        The link, shown once to the administrator, registers the address whatever its domain; the guest reads,
        comments and rates within this network only.
        """
        data = load(schemas.Invitation(), payload)
        token, token_digest = domain.new_reset_token()
        email = domain.normalise_email(data["email"])
        expires = utc_now() + timedelta(days=INVITE_DAYS)

        def write(tx: MemberStore) -> dict:
            network, principal = self._administered(tx, slug)
            tx.add_invite({"_id": token_digest, "email": email, "agency": network["agency"], "used": False,
                           "network_id": network["id"], "guest": True, "invited_by": principal.member_id,
                           "created_at": utc_now(), "expires_at": expires})
            tx.audit({"action": "network.guest_invited", "actor": principal.member_id, "agency": network["agency"],
                      "target": email, "network": network["slug"]})
            return network

        network = self.store.transaction(write)
        return {"email": email, "network": network["slug"], "expires_at": isoformat(expires),
                "invite_url": f"{self.settings.public_url}/register?invite={token}&email={quote(email)}"
                              f"&agency={network['agency']}"}

    def _record_membership(self, tx: MemberStore, name: str, network: dict, member_id: str, agency: str) -> None:
        tx.record(name, subject=member_id, data={
            "member_id": member_id, "network_id": network["id"], "network_slug": network["slug"],
            "network_name": network["name"], "closed": bool(network.get("closed")), "agency": agency,
            "version": tx.network_version(network["id"])})

    # -- roles, API keys, deactivation --------------------------------------

    @rpc(allow=role("agency_admin"))
    def change_roles(self, member_id: str, payload: dict) -> dict:
        principal = self.caller.required()
        data = load(schemas.RoleChange(), payload)
        target = self.store.member(str(member_id))
        if not domain.may_change_roles(principal.roles, principal.agency, target["agency"]):
            raise Forbidden("Only an administrator of the member's agency may change their roles.")
        try:
            roles = domain.new_roles(data["roles"], target.get("roles", []))
        except RuleBroken as error:
            raise refusal(error) from None

        def write(tx: MemberStore) -> dict:
            tx.audit({"action": "member.roles_changed", "actor": principal.member_id, "agency": target["agency"],
                      "target": target["id"], "from": target.get("roles", ["member"]), "to": roles})
            return tx.change_roles(target["id"], roles)

        return member_view(self.store.transaction(write))

    @rpc(allow=MEMBER)
    def create_api_key(self, payload: dict) -> dict:
        """A key for the caller, shown once here and never again (only its digest is stored)."""
        principal = self.caller.required()
        data = load(schemas.ApiKeyCreation(), payload)
        key, key_digest = domain.new_api_key()
        key_id = uuid.uuid4().hex

        def write(tx: MemberStore) -> None:
            tx.add_api_key({"_id": key_digest, "key_id": key_id, "member_id": principal.member_id,
                            "name": data["name"], "scopes": data["scopes"], "created_at": utc_now(),
                            "revoked": False})
            tx.audit({"action": "api_key.created", "actor": principal.member_id, "agency": principal.agency,
                      "target": key_id, "scopes": data["scopes"]})

        self.store.transaction(write)
        return {"id": key_id, "key": key, "name": data["name"], "scopes": data["scopes"]}

    @rpc(allow=MEMBER)
    def list_api_keys(self) -> list[dict]:
        principal = self.caller.required()
        return as_json_safe([domain.api_key_view(k) for k in self.store.api_keys_of(principal.member_id)])

    @rpc(allow=MEMBER)
    def revoke_api_key(self, key_id: str) -> dict:
        """Only the owner revokes a key; anyone else's key is ``NotFound`` (not a hint that it exists)."""
        principal = self.caller.required()

        def write(tx: MemberStore) -> None:
            if not tx.revoke_api_key(principal.member_id, str(key_id)):
                raise NotFound("You have no such API key.")
            tx.audit({"action": "api_key.revoked", "actor": principal.member_id, "agency": principal.agency,
                      "target": str(key_id)})

        self.store.transaction(write)
        return {"id": str(key_id), "revoked": True}

    @rpc(allow=service("web"))
    def token_for_api_key(self, key: str) -> dict:
        """A short-lived token carrying the key's scopes, so every service checks keys the way it checks tokens."""
        if not isinstance(key, str) or not key.startswith(domain.API_KEY_PREFIX):
            raise Unauthorized("That is not an API key.")
        stored = self.store.api_key(domain.digest(key))
        if stored is None:
            raise Unauthorized("The API key is unknown or revoked.")
        member = self.store.member(stored["member_id"])
        if member.get("status") != "active":
            raise Unauthorized("The API key's member has been deactivated.")
        stored["key_id"] = self.store.note_api_key_used(stored)
        return self._token_for(member, api_key=stored, ttl=API_KEY_TOKEN_TTL_SECONDS)

    @rpc(allow=MEMBER)
    def deactivate(self, member_id: str) -> dict:
        principal = self.caller.required()
        target = self.store.member(str(member_id))
        if principal.member_id != target["id"] and not domain.may_change_roles(principal.roles, principal.agency, target["agency"]):
            raise Forbidden("Only the member or an administrator of their agency may deactivate them.")

        def write(tx: MemberStore):
            left = tx.remove_all_memberships(target["id"])
            tx.update_member(target["id"], {"status": "deactivated", "deactivated_at": utc_now()})
            tx.mark_member_deactivated(target["id"])
            member = tx.end_sessions(target["id"], "deactivation")
            for row in left:
                network = tx.db.networks.find_one({"_id": row["network_id"]}, session=tx.session)
                if network:
                    self._record_membership(tx, "member.left_network", {**network, "id": network["_id"]},
                                            target["id"], target["agency"])
            tx.record("member.deactivated", subject=member["id"], data={
                "member_id": member["id"], "agency": member["agency"], "version": member["version"]})
            if principal.member_id != target["id"]:
                tx.audit({"action": "member.deactivated", "actor": principal.member_id, "agency": target["agency"],
                          "target": target["id"]})
            return member

        return member_view(self.store.transaction(write))

    # -- the members service's own HTTP: token keys --------------------------

    @api("GET", "/.well-known/jwks.json")
    def jwks_endpoint(self, request):
        return json_response(jwks(self.settings.published_keys(self.store)), headers={"Cache-Control": "max-age=300"})


def _network_view(network: dict) -> dict:
    created = network.get("created_at")
    return {"id": network["id"], "slug": network["slug"], "name": network["name"],
            "description": network.get("description", ""), "agency": network["agency"],
            "member_count": network.get("member_count", 0), "closed": bool(network.get("closed")),
            "created_at": isoformat(created) if created else None}
