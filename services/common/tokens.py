"""Signed, expiring member tokens and how every service checks them locally.

The members service signs RS256 tokens (``aud: "engage"``) with a key it keeps
in its own storage and publishes the public half as JWKS on its HTTP port.
Every other service verifies tokens itself against that JWKS (cached, fetched
again when an unknown key id appears) and refuses members it has seen
deactivated. The gateway forwards the caller's raw token in nameko's context
data under ``engage_token``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nameko.extensions import DependencyProvider, SharedExtension

from services.common.errors import Forbidden, Unauthorized, Unavailable
from services.common.logs import bind_member
from services.common.scopes import SCOPES

AUDIENCE = "engage"
ISSUER = "urn:engage:members"
ALGORITHM = "RS256"
CONTEXT_KEY = "engage_token"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a member (or a machine client acting with an API key's scopes)."""

    member_id: str
    agency: str
    display_name: str = ""
    roles: tuple[str, ...] = ("member",)
    network_admin_of: tuple[str, ...] = ()
    scopes: tuple[str, ...] = field(default=())
    api_key: str = ""  # the key's id when a machine client calls with an API key

    @property
    def is_operator(self) -> bool:
        return "operator" in self.roles

    def has_role(self, role: str, agency: str | None = None) -> bool:
        """Operators hold every role everywhere; other roles count in the member's own agency."""
        if self.is_operator:
            return True
        return role in self.roles and (agency is None or agency == self.agency)

    def require_role(self, role: str, agency: str | None = None) -> None:
        if not self.has_role(role, agency):
            raise Forbidden(f"This needs the {role.replace('_', ' ')} role{' in ' + agency if agency else ''}.")

    def allows(self, scope: str) -> bool:
        """A member acting themselves may do all they may; an API key only what its scopes name."""
        return not self.api_key or scope in self.scopes

    def require_scope(self, scope: str | None) -> None:
        """``Forbidden`` (403) naming the scope the API key lacks; ``None`` means members only, never keys."""
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")  # a typo in a service must not pass silently
        if not self.api_key:
            return
        if scope is None:
            raise Forbidden("An API key cannot do this; the member must do it themselves.", {"scope": ["members only"]})
        if scope not in self.scopes:
            raise Forbidden(f"This API key lacks the {scope} scope.", {"scope": [f"needs {scope}"]})


def new_signing_key() -> dict:
    """A fresh RSA key as a storable document: key id and PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"kid": uuid.uuid4().hex[:16], "pem": pem}


def _public_key(pem: str):
    """The public half of a PEM that holds an RSA private key or only its public key."""
    data = pem.encode()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def key_id(pem: str) -> str:
    """A key's id from its public half (RFC 7638 thumbprint), so every replica names a key file alike."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_public_key(pem)))
    canonical = json.dumps({name: public[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")[:22]


def key_from_file(path: str, setting: str, *, private: bool) -> dict:
    """A key from a PEM file as ``{kid, pem}``; ``ConfigError`` naming ``setting`` when it is unusable."""
    from services.common.config import ConfigError

    try:
        pem = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"Setting {setting} names {path}, which cannot be read ({exc.strerror}).") from None
    try:
        if private:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("not an RSA key")
        else:
            _public_key(pem)
    except (ValueError, TypeError) as exc:
        kind = "an unencrypted RSA private key" if private else "an RSA key"
        raise ConfigError(f"Setting {setting} names {path}, which does not hold {kind} in PEM ({exc}).") from None
    return {"kid": key_id(pem), "pem": pem}


@dataclass(frozen=True)
class KeyFiles:
    """Token keys kept in files (``TOKEN_PRIVATE_KEY_FILE``): the one that signs and every one served in JWKS.

    ``TOKEN_VERIFY_KEY_FILES`` (comma-separated) adds keys that verify but never sign: the next key
    before a rotation, the previous one after it, until the tokens it signed have expired.
    """

    signing: dict
    published: tuple[dict, ...]

    @classmethod
    def from_config(cls, config: dict) -> "KeyFiles | None":
        private_path = str(config.get("TOKEN_PRIVATE_KEY_FILE") or "")
        if not private_path:
            return None
        signing = key_from_file(private_path, "TOKEN_PRIVATE_KEY_FILE", private=True)
        others = [key_from_file(path.strip(), "TOKEN_VERIFY_KEY_FILES", private=False)
                  for path in str(config.get("TOKEN_VERIFY_KEY_FILES") or "").split(",") if path.strip()]
        published = {signing["kid"]: signing}
        for key in others:
            published.setdefault(key["kid"], key)
        return cls(signing, tuple(published.values()))


def jwks(keys: list[dict]) -> dict:
    """The public JWK set for signing keys (each a PEM of a private key, or of a public key that only verifies)."""
    out = []
    for stored in keys:
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_public_key(stored["pem"])))
        out.append({**public_jwk, "kid": stored["kid"], "use": "sig", "alg": ALGORITHM})
    return {"keys": out}


def issue(signing_key: dict, claims: dict[str, Any], ttl_seconds: int) -> tuple[str, int]:
    """Sign a token for ``claims``; returns the token and its expiry (unix seconds)."""
    now = int(time.time())
    expires = now + ttl_seconds
    payload = {**claims, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "nbf": now - 5, "exp": expires,
               "jti": uuid.uuid4().hex}
    token = jwt.encode(payload, signing_key["pem"], algorithm=ALGORITHM, headers={"kid": signing_key["kid"]})
    return token, expires


def principal_from_claims(claims: dict) -> Principal:
    return Principal(
        member_id=str(claims["sub"]), agency=str(claims.get("agency", "")),
        display_name=str(claims.get("name", "")), roles=tuple(claims.get("roles", ("member",))),
        network_admin_of=tuple(claims.get("network_admin_of", ())), scopes=tuple(claims.get("scopes", ())),
        api_key=str(claims.get("key") or ""),
    )


def is_stale(claims: dict, newest_session_version: int) -> bool:
    """A member's token from before their newest session version (API key tokens are always fresh)."""
    if claims.get("key"):
        return False
    return int(claims.get("sv") or 0) < newest_session_version


class TokenVerifier:
    """Verifies tokens against a JWKS URL, caching keys for ``cache_seconds``."""

    def __init__(self, jwks_url: str, cache_seconds: int = 300):
        self.jwks_url = jwks_url
        self.cache_seconds = cache_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0

    def _key(self, kid: str):
        stale = time.monotonic() - self._fetched_at > self.cache_seconds
        if kid not in self._keys or stale:
            if kid in self._keys and not stale:
                return self._keys[kid]
            try:
                document = requests.get(self.jwks_url, timeout=3).json()
            except (requests.RequestException, ValueError) as exc:
                raise Unavailable("Tokens cannot be checked at the moment: the members service's keys could not be "
                                  f"fetched ({exc.__class__.__name__}). Please try again shortly.") from None
            self._keys = {k["kid"]: jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(k)) for k in document.get("keys", [])}
            self._fetched_at = time.monotonic()
        if kid not in self._keys:
            raise Unauthorized("The token was signed by an unknown key.")
        return self._keys[kid]

    def verify(self, token: str) -> dict:
        """Return the token's claims, or raise ``Unauthorized`` saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"Tokens must be signed with {ALGORITHM}.")
        key = self._key(str(header.get("kid", "")))
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                              options={"require": ["exp", "sub", "aud", "iss"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired; log in again.") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("The token is not meant for Engagement Network (wrong audience).") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The token is not valid: {exc}.") from None


class TokenKeys(SharedExtension):
    """The container's token verifier (``MEMBERS_JWKS_URL``)."""

    def setup(self) -> None:
        self.verifier = TokenVerifier(self.container.config.get("MEMBERS_JWKS_URL")
                                      or "http://127.0.0.1:8001/.well-known/jwks.json")


class CallerAccess:
    """What a worker knows about its caller."""

    def __init__(self, token: str | None, verifier: TokenVerifier, session_of):
        self._token = token
        self._verifier = verifier
        self._session_of = session_of
        self._principal: Principal | None = None

    def optional(self, scope: str | None = None) -> Principal | None:
        """The calling member, or None for a visitor. A bad token is still an error.

        With ``scope``, an API key without that scope reads as a visitor: open
        content stays open to it, and nothing more.
        """
        if not self._token:
            return None
        if self._principal is None:
            claims = self._verifier.verify(self._token)
            principal = principal_from_claims(claims)
            session = self._session_of(principal.member_id)
            if session.get("deactivated"):
                raise Unauthorized("This member has been deactivated.")
            if is_stale(claims, int(session.get("sv") or 0)):
                raise Unauthorized("This session has ended (log-out, password or role change); log in again.")
            bind_member(principal.member_id)
            self._principal = principal
        if scope is not None and not self._principal.allows(scope):
            return None
        return self._principal

    def required(self, scope: str | None = None) -> Principal:
        """The calling member; with an API key, only if it holds ``scope`` (``None``: members only)."""
        principal = self.optional()
        if principal is None:
            raise Unauthorized("Log in first: this needs a member's token.")
        principal.require_scope(scope)
        return principal


class Caller(DependencyProvider):
    """``self.caller.required(scope)`` / ``.optional(scope)``: the verified member behind this call.

    The member's session state is one lookup by id in the service's own
    storage when it has one (``member_sessions``: newest session version and
    whether deactivated, kept current from the members service's events).
    """

    keys = TokenKeys()

    def get_dependency(self, worker_ctx) -> CallerAccess:
        token = (worker_ctx.context_data or {}).get(CONTEXT_KEY)
        return CallerAccess(token, self.keys.verifier, self._session_lookup())

    def _session_lookup(self):
        from services.common.mongo import MongoConnection

        for extension in self.container.shared_extensions.values():
            if isinstance(extension, MongoConnection):
                db = extension.db
                return lambda member_id: db.member_sessions.find_one({"_id": member_id}) or {}
        return lambda member_id: {}
