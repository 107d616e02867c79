"""Members' rules: who may register where, passwords, roles and networks. Pure functions."""
from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.contract.api.members import AGENCY_ROLES
from services.common.rules import RuleBroken

ALL_ROLES = AGENCY_ROLES + ("network_admin", "guest", "operator")
#: A partner from outside the public service, invited into one network by its administrator.
GUEST = "guest"
API_KEY_PREFIX = "ek_"
_SLUG = re.compile(r"[^a-z0-9]+")


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def email_domain(email: str) -> str:
    return normalise_email(email).rsplit("@", 1)[-1]


def check_registration_domain(email: str, allowed_domains: list[str]) -> None:
    """An agency may restrict registration to its email domains (subdomains count)."""
    if not allowed_domains:
        return
    domain = email_domain(email)
    if not any(domain == d or domain.endswith("." + d) for d in allowed_domains):
        raise RuleBroken(f"This agency accepts registrations from {', '.join(allowed_domains)} addresses only.",
                         field="email", kind="forbidden")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_text.lower()).strip("-")[:60] or "network"


@dataclass(frozen=True)
class PasswordPolicy:
    """argon2id parameters; cheap ones only when ``ENGAGE_ENV=test``."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 2

    @classmethod
    def for_environment(cls, env: str) -> "PasswordPolicy":
        return cls(time_cost=1, memory_cost=1024, parallelism=1) if env == "test" else cls()

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_cost, parallelism=self.parallelism)


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def password_matches(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def stand_in_password_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password nobody knows, to check against when an account does not exist."""
    return hasher.hash(secrets.token_urlsafe(24))


def new_api_key() -> tuple[str, str]:
    """A key to show once and the digest to store (keys are long random strings, so SHA-256 suffices)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, digest(key)


def new_reset_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_claims(member: dict, network_admin_of: list[str]) -> dict:
    """What a member's token says about them (no email, nothing secret), with their session version."""
    return {
        "sub": member["id"], "agency": member["agency"], "name": member["display_name"],
        "roles": list(member.get("roles", ["member"])), "network_admin_of": network_admin_of,
        "sv": int(member.get("session_version") or 0),
    }


def api_key_view(stored: dict) -> dict:
    """A key as its owner sees it in lists: never the key itself nor its digest."""
    return {"id": stored["key_id"], "name": stored["name"], "scopes": list(stored["scopes"]),
            "created_at": stored["created_at"], "last_used_at": stored.get("last_used_at")}


def may_change_roles(actor_roles: tuple[str, ...], actor_agency: str, target_agency: str) -> bool:
    """Agency admins manage roles in their own agency; operators everywhere."""
    return "operator" in actor_roles or ("agency_admin" in actor_roles and actor_agency == target_agency)


def with_operator(roles: list[str]) -> list[str]:
    """The roles of a member made platform operator (granted only from the operator's command line)."""
    return sorted(set(roles) | {"member", "operator"}, key=ALL_ROLES.index)


def new_roles(requested: list[str], current: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The roles an agency administrator sets; a guest stays a guest (being one is the invitation's, not a role
    an administrator hands out), so changing their roles cannot open the rest of the platform to them."""
    roles = sorted(set(requested) | {"member"}, key=ALL_ROLES.index)
    unknown = [r for r in roles if r not in AGENCY_ROLES]
    if unknown:
        raise RuleBroken(f"Roles must be among {', '.join(AGENCY_ROLES)}.", field="roles")
    return sorted(set(roles) | ({GUEST} & set(current)), key=ALL_ROLES.index)


# -- networks: open and closed, their administrators, requests and guests ------

def check_network_admin(membership_role: str | None) -> None:
    """Only an administrator of the network manages its members, requests and guests."""
    if membership_role != "admin":
        raise RuleBroken("Only an administrator of this network may do that.", kind="forbidden")


def join_outcome(*, closed: bool, already_member: bool, guest: bool) -> str:
    """What asking to join does: ``member`` (an open network), ``requested`` (a closed one waits for an
    administrator) or ``already``; a guest belongs to the network they were invited to and joins no other."""
    if already_member:
        return "already"
    if guest:
        raise RuleBroken("Guests take part in the network they were invited to only.", kind="forbidden")
    return "requested" if closed else "member"


def check_request_decision(request: dict | None) -> None:
    """A decision is taken on a request that is still waiting, once."""
    if request is None or request.get("status") != "pending":
        raise RuleBroken("There is no waiting request from that member.", field="member_id", kind="conflict")


def check_appointment(target_role: str | None) -> None:
    """An administrator appoints another administrator from the network's members (guests included: a
    partner may run their own network's guests too)."""
    if target_role is None:
        raise RuleBroken("Only a member of the network can be made its administrator.", field="member_id",
                         kind="conflict")
    if target_role == "admin":
        raise RuleBroken("That member is already an administrator of the network.", field="member_id",
                         kind="conflict")


def check_may_start_network(roles: tuple[str, ...]) -> None:
    """Networks are started by public servants; a guest takes part in the one they were invited to."""
    if GUEST in roles:
        raise RuleBroken("Guests cannot start networks.", kind="forbidden")


def guest_roles() -> list[str]:
    """The roles of a partner registering through a network's guest invitation."""
    return ["member", GUEST]


def network_viewer(membership_role: str | None, request_status: str | None) -> dict:
    """What the network's page may offer its viewer: their standing and whether they see its members."""
    return {"member": membership_role is not None, "admin": membership_role == "admin",
            "requested": request_status == "pending"}


def may_see_members(closed: bool, membership_role: str | None) -> bool:
    """Who belongs to a closed network is for its members; an open network's members are listed to all."""
    return not closed or membership_role is not None


def check_leave(membership_role: str | None, admins: int) -> None:
    """A network keeps at least one administrator: its last one appoints another before leaving."""
    if membership_role == "admin" and admins <= 1:
        raise RuleBroken("You are the network's only administrator: make another member an administrator first.",
                         kind="conflict")


# -- finding members ------------------------------------------------------------

def _folded(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def find_members(members: list[dict], words: str) -> list[dict]:
    """The ``members`` whose name or email address holds every one of ``words`` (case and accents ignored), in
    name order and, for one name, by address: two members of the same name stay told apart."""
    wanted = _folded(words).split()
    found = [m for m in members
             if all(word in f"{_folded(m['display_name'])} {_folded(m.get('email', ''))}" for word in wanted)]
    return sorted(found, key=lambda m: (_folded(m["display_name"]), m.get("email", ""), m["id"]))


def page_of(items: list, page: int, per_page: int) -> dict:
    """One numbered page of ``items``, with the page, how many pages there are and how many items in all."""
    pages = max(1, -(-len(items) // per_page))
    start = (page - 1) * per_page
    return {"items": items[start:start + per_page], "page": page, "pages": pages, "total": len(items)}
