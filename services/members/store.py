"""The members service's storage: agencies, members, networks, memberships, API keys, signing keys."""
from __future__ import annotations

import uuid

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.common.errors import Conflict, NotFound
from services.common.events import utc_now
from services.common.storage import Store, plain
from services.common.tokens import new_signing_key

PUBLIC_MEMBER = {"password_hash": 0}


class MemberStore(Store):
    indexes = {
        "agencies": [IndexModel([("slug", ASCENDING)], unique=True)],
        "members": [IndexModel([("email", ASCENDING)], unique=True), IndexModel([("agency", ASCENDING), ("_id", ASCENDING)])],
        "networks": [IndexModel([("slug", ASCENDING)], unique=True), IndexModel([("agency", ASCENDING), ("slug", ASCENDING)])],
        "memberships": [IndexModel([("member_id", ASCENDING)]), IndexModel([("network_id", ASCENDING), ("joined_at", ASCENDING)])],
        "join_requests": [IndexModel([("network_id", ASCENDING), ("status", ASCENDING), ("asked_at", ASCENDING)])],
        "api_keys": [IndexModel([("member_id", ASCENDING)]), IndexModel([("key_id", ASCENDING)])],
        "reset_tokens": [IndexModel([("member_id", ASCENDING)])],
        "verification_tokens": [IndexModel([("member_id", ASCENDING)])],
        "invites": [IndexModel([("agency", ASCENDING), ("created_at", ASCENDING)])],
        "audit_log": [IndexModel([("agency", ASCENDING), ("at", ASCENDING)]), IndexModel([("at", ASCENDING)])],
    }

    def gauges(self):
        return [
            ("members", "Active members.", [], lambda: [((), float(self.count_members()))]),
            ("agencies", "Agencies on the platform.", [], lambda: [((), float(self.count_agencies()))]),
        ]

    # -- agencies -----------------------------------------------------------

    def add_agency(self, agency: dict) -> None:
        try:
            self.db.agencies.insert_one(agency, session=self.session)
        except DuplicateKeyError:
            raise Conflict(f"An agency with the slug {agency['slug']} already exists.", {"slug": ["already taken"]}) from None

    def agencies(self) -> list[dict]:
        return [plain(a) for a in self.db.agencies.find({}, session=self.session).sort("slug", ASCENDING)]

    def agency(self, slug: str) -> dict:
        found = self.db.agencies.find_one({"slug": slug}, session=self.session)
        if found is None:
            raise NotFound(f"There is no agency {slug}.", {"agency": ["no such agency"]})
        return plain(found)

    # -- members ------------------------------------------------------------

    def add_member(self, member: dict) -> None:
        try:
            self.db.members.insert_one(member, session=self.session)
        except DuplicateKeyError:
            raise Conflict("That email address is already registered.", {"email": ["already registered"]}) from None

    def member_by_email(self, email: str) -> dict | None:
        return plain(self.db.members.find_one({"email": email}, session=self.session))

    def member(self, member_id: str) -> dict:
        found = self.db.members.find_one({"_id": member_id}, PUBLIC_MEMBER, session=self.session)
        if found is None:
            raise NotFound("There is no such member.")
        return plain(found)

    def members_of_agency(self, agency: str, limit: int = 200) -> list[dict]:
        cursor = self.db.members.find({"agency": agency}, PUBLIC_MEMBER, session=self.session).sort("_id", ASCENDING)
        return [plain(m) for m in cursor.limit(limit)]

    def joined_at_in_agency(self, agency: str) -> list:
        """When each of the agency's members registered (the ``(agency, _id)`` index, one field read)."""
        return [m.get("created_at") for m in self.db.members.find({"agency": agency}, {"created_at": 1},
                                                                   session=self.session)]

    def contacts(self, member_ids: list[str]) -> list[dict]:
        # unverified members too: the link that confirms their address is the first mail they get
        cursor = self.db.members.find({"_id": {"$in": member_ids}, "status": {"$in": ["active", "unverified"]}},
                                      {"email": 1, "display_name": 1, "time_zone": 1}, session=self.session)
        return [plain(m) for m in cursor]

    def update_member(self, member_id: str, changes: dict) -> dict:
        found = self.update_and_get("members", {"_id": member_id}, {"$set": changes, "$inc": {"version": 1}},
                                    PUBLIC_MEMBER)
        if found is None:
            raise NotFound("There is no such member.")
        return plain(found)

    def change_roles(self, member_id: str, roles: list[str]) -> dict:
        """Set a member's roles and record ``member.role_changed`` (inside a transaction).

        Their tokens from before say the old roles, so their sessions end too.
        """
        member = self.update_member(member_id, {"roles": roles})
        self.record("member.role_changed", subject=member["id"], data={
            "member_id": member["id"], "agency": member["agency"], "roles": roles,
            "network_admin_of": [], "version": member["version"]})
        return self.end_sessions(member["id"], "role_change")

    def end_sessions(self, member_id: str, reason: str) -> dict:
        """Raise the member's session version and record ``member.sessions_revoked`` (inside a transaction).

        Written to this service's own ``member_sessions`` in the same
        transaction, so the members service refuses older tokens at once;
        the others learn it from the event.
        """
        member = self.update_and_get("members", {"_id": member_id}, {"$inc": {"session_version": 1, "version": 1}},
                                     PUBLIC_MEMBER)
        if member is None:
            raise NotFound("There is no such member.")
        member = plain(member)
        self.note_session_version(member["id"], member["session_version"])
        self.record("member.sessions_revoked", subject=member["id"], data={
            "member_id": member["id"], "session_version": member["session_version"], "reason": reason,
            "version": member["version"]})
        return member

    def count_members(self) -> int:
        return self.db.members.count_documents({"status": "active"})

    def count_agencies(self) -> int:
        return self.db.agencies.count_documents({})

    # -- networks -----------------------------------------------------------

    def add_network(self, network: dict) -> None:
        try:
            self.db.networks.insert_one(network, session=self.session)
        except DuplicateKeyError:
            raise Conflict(f"A network called {network['slug']} already exists.", {"name": ["already taken"]}) from None

    def network(self, slug: str) -> dict:
        found = self.db.networks.find_one({"slug": slug}, session=self.session)
        if found is None:
            raise NotFound(f"There is no network {slug}.")
        return plain(found)

    def networks(self, agency: str | None = None) -> list[dict]:
        query = {"agency": agency} if agency else {}
        return [plain(n) for n in self.db.networks.find(query, session=self.session).sort("slug", ASCENDING).limit(500)]

    def add_membership(self, network: dict, member_id: str, role: str = "member") -> bool:
        """Join; returns False when already a member. The count moves in the same transaction.

        Checked with a read rather than by catching a duplicate key: a write
        error aborts the whole MongoDB transaction. Two joins at once conflict
        on write and the loser is retried, then sees the membership.
        """
        membership_id = f"{network['id']}:{member_id}"
        if self.db.memberships.find_one({"_id": membership_id}, {"_id": 1}, session=self.session):
            return False
        self.db.memberships.insert_one({"_id": membership_id, "network_id": network["id"],
                                        "member_id": member_id, "role": role, "joined_at": utc_now()},
                                       session=self.session)
        self.db.networks.update_one({"_id": network["id"]}, {"$inc": {"member_count": 1, "version": 1}},
                                    session=self.session)
        return True

    def remove_membership(self, network: dict, member_id: str) -> bool:
        gone = self.db.memberships.delete_one({"_id": f"{network['id']}:{member_id}"}, session=self.session)
        if not gone.deleted_count:
            return False
        self.db.networks.update_one({"_id": network["id"]}, {"$inc": {"member_count": -1, "version": 1}},
                                    session=self.session)
        return True

    def remove_all_memberships(self, member_id: str) -> list[dict]:
        rows = list(self.db.memberships.find({"member_id": member_id}, session=self.session))
        for row in rows:
            self.db.memberships.delete_one({"_id": row["_id"]}, session=self.session)
            self.db.networks.update_one({"_id": row["network_id"]}, {"$inc": {"member_count": -1, "version": 1}},
                                        session=self.session)
        return rows

    def network_version(self, network_id: str) -> int:
        return self.db.networks.find_one({"_id": network_id}, {"version": 1}, session=self.session)["version"]

    def memberships_of(self, member_id: str) -> list[dict]:
        rows = list(self.db.memberships.find({"member_id": member_id}, session=self.session))
        networks = {n["_id"]: n for n in self.db.networks.find({"_id": {"$in": [r["network_id"] for r in rows]}},
                                                               session=self.session)}
        return [{"id": r["network_id"], "slug": networks[r["network_id"]]["slug"],
                 "name": networks[r["network_id"]]["name"], "role": r["role"],
                 "closed": bool(networks[r["network_id"]].get("closed"))}
                for r in rows if r["network_id"] in networks]

    def network_members(self, network_id: str, limit: int = 500) -> list[dict]:
        rows = list(self.db.memberships.find({"network_id": network_id}, session=self.session)
                    .sort("joined_at", ASCENDING).limit(limit))
        people = {m["_id"]: m for m in self.db.members.find({"_id": {"$in": [r["member_id"] for r in rows]}},
                                                            {"display_name": 1, "agency": 1}, session=self.session)}
        return [{"member_id": r["member_id"], "display_name": people.get(r["member_id"], {}).get("display_name", ""),
                 "role": r["role"], "joined_at": r["joined_at"]} for r in rows]

    def membership_role(self, network_id: str, member_id: str | None) -> str | None:
        """The member's role in the network (``member`` or ``admin``), or None when they do not belong to it."""
        if member_id is None:
            return None
        found = self.db.memberships.find_one({"_id": f"{network_id}:{member_id}"}, {"role": 1}, session=self.session)
        return found["role"] if found else None

    def count_admins(self, network_id: str) -> int:
        return self.db.memberships.count_documents({"network_id": network_id, "role": "admin"}, session=self.session)

    def set_membership_role(self, network_id: str, member_id: str, role: str) -> None:
        self.db.memberships.update_one({"_id": f"{network_id}:{member_id}"}, {"$set": {"role": role}},
                                       session=self.session)
        self.db.networks.update_one({"_id": network_id}, {"$inc": {"version": 1}}, session=self.session)

    # -- requests to join a closed network ------------------------------------

    def join_request(self, network_id: str, member_id: str | None) -> dict | None:
        if member_id is None:
            return None
        return plain(self.db.join_requests.find_one({"_id": f"{network_id}:{member_id}"}, session=self.session))

    def ask_to_join(self, network_id: str, member_id: str) -> None:
        """A waiting request (asking again after a decline asks anew)."""
        self.db.join_requests.update_one(
            {"_id": f"{network_id}:{member_id}"},
            {"$set": {"network_id": network_id, "member_id": member_id, "status": "pending", "asked_at": utc_now()}},
            upsert=True, session=self.session)

    def decide_join_request(self, network_id: str, member_id: str, status: str, decided_by: str) -> None:
        self.db.join_requests.update_one({"_id": f"{network_id}:{member_id}"},
                                         {"$set": {"status": status, "decided_by": decided_by,
                                                   "decided_at": utc_now()}}, session=self.session)

    def pending_requests(self, network_id: str, limit: int = 200) -> list[dict]:
        rows = list(self.db.join_requests.find({"network_id": network_id, "status": "pending"}, session=self.session)
                    .sort("asked_at", ASCENDING).limit(limit))
        people = {m["_id"]: m for m in self.db.members.find({"_id": {"$in": [r["member_id"] for r in rows]}},
                                                            {"display_name": 1, "agency": 1}, session=self.session)}
        return [{"member_id": r["member_id"], "display_name": people.get(r["member_id"], {}).get("display_name", ""),
                 "agency": people.get(r["member_id"], {}).get("agency", ""), "asked_at": r["asked_at"]}
                for r in rows]

    # -- API keys, reset tokens, signing keys --------------------------------

    def add_api_key(self, key: dict) -> None:
        self.db.api_keys.insert_one(key, session=self.session)

    def api_key(self, key_digest: str) -> dict | None:
        return self.db.api_keys.find_one({"_id": key_digest, "revoked": False}, session=self.session)

    def api_keys_of(self, member_id: str, limit: int = 200) -> list[dict]:
        """The member's keys that still work, newest first (a key made before keys had ids shows once used)."""
        cursor = self.db.api_keys.find({"member_id": member_id, "revoked": False, "key_id": {"$exists": True}},
                                       {"_id": 0}, session=self.session).hint([("member_id", ASCENDING)])
        return sorted(cursor.limit(limit), key=lambda k: k["created_at"], reverse=True)

    def revoke_api_key(self, member_id: str, key_id: str) -> bool:
        """Revoke the member's key; False when it is not theirs, unknown, or already revoked."""
        found = self.db.api_keys.find_one({"key_id": key_id, "member_id": member_id, "revoked": False}, {"_id": 1},
                                          session=self.session, hint=[("key_id", ASCENDING)])
        if found is None:
            return False
        done = self.db.api_keys.update_one({"_id": found["_id"], "revoked": False},
                                           {"$set": {"revoked": True, "revoked_at": utc_now()}}, session=self.session)
        return bool(done.modified_count)

    def note_api_key_used(self, key: dict) -> str:
        """Stamp the key's last use; returns its id (given now to a key made before keys had ids)."""
        key_id = key.get("key_id") or uuid.uuid4().hex
        self.db.api_keys.update_one({"_id": key["_id"]}, {"$set": {"last_used_at": utc_now(), "key_id": key_id}},
                                    session=self.session)
        return key_id

    # -- confirming addresses, invitations, the audit log --------------------

    def add_verification_token(self, token: dict) -> None:
        self.db.verification_tokens.insert_one(token, session=self.session)

    def use_verification_token(self, token_digest: str) -> dict | None:
        """The unused, unexpired verification token with this digest, now marked used; None otherwise."""
        return self.update_and_get("verification_tokens",
                                   {"_id": token_digest, "used": False, "expires_at": {"$gt": utc_now()}},
                                   {"$set": {"used": True}})

    def add_invite(self, invite: dict) -> None:
        self.db.invites.insert_one(invite, session=self.session)

    def use_invite(self, invite_digest: str, email: str, agency: str) -> dict | None:
        """The unused, unexpired invite for ``email`` to ``agency``, now marked used; None otherwise."""
        return self.update_and_get("invites", {"_id": invite_digest, "email": email, "agency": agency, "used": False,
                                               "expires_at": {"$gt": utc_now()}}, {"$set": {"used": True}})

    def audit(self, entry: dict) -> None:
        """One line of the audit log, written in the same transaction as the change it records."""
        self.db.audit_log.insert_one({"at": utc_now(), **entry}, session=self.session)

    def audit_entries(self, agency: str | None, limit: int = 200) -> list[dict]:
        query = {"agency": agency} if agency is not None else {}
        cursor = self.db.audit_log.find(query, session=self.session).sort("at", -1).limit(limit)
        return [plain(row) for row in cursor]

    def add_reset_token(self, token: dict) -> None:
        self.db.reset_tokens.insert_one(token, session=self.session)

    def use_reset_token(self, token_digest: str) -> dict | None:
        """Mark a reset token used, once; returns it if it was still valid."""
        return self.update_and_get("reset_tokens", {"_id": token_digest, "used": False, "expires_at": {"$gt": utc_now()}},
                                   {"$set": {"used": True}})

    def signing_key(self) -> dict:
        """The current signing key, made once and shared by every replica."""
        found = self.db.signing_keys.find_one({}, sort=[("created_at", -1)])
        if found:
            return found
        key = new_signing_key()
        try:
            self.db.signing_keys.insert_one({"_id": key["kid"], **key, "created_at": utc_now()})
        except DuplicateKeyError:
            pass
        return self.db.signing_keys.find_one({}, sort=[("created_at", -1)])

    def signing_keys(self) -> list[dict]:
        return list(self.db.signing_keys.find({}))
