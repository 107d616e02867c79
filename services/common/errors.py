"""Errors that cross service boundaries.

Every error a caller can act on is one of these. They survive a nameko RPC
round trip as the same class (``deserialize_to_instance``), so the gateway maps
them to an HTTP status in one table (``services.common.http``) instead of
parsing messages.
"""
from __future__ import annotations

from nameko.exceptions import deserialize_to_instance

from services.common.rules import RuleBroken


class DomainError(Exception):
    """Base class: ``code`` is the machine-readable name, ``status`` the HTTP status."""

    code = "error"
    status = 400

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message, fields or {})
        self.message = message
        self.fields = fields or {}

    def __str__(self) -> str:
        return self.message

    def to_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


@deserialize_to_instance
class BadRequest(DomainError):
    code, status = "bad_request", 400


@deserialize_to_instance
class ValidationFailed(DomainError):
    code, status = "validation_failed", 422

    @classmethod
    def from_marshmallow(cls, messages: dict | list) -> "ValidationFailed":
        fields = _flatten(messages)
        names = ", ".join(sorted(fields)) or "body"
        return cls(f"Please correct these fields: {names}.", fields)


@deserialize_to_instance
class Unauthorized(DomainError):
    code, status = "unauthorized", 401


@deserialize_to_instance
class Unverified(Unauthorized):
    """The right password for an account whose address has not been confirmed yet."""

    code = "unverified"


@deserialize_to_instance
class Forbidden(DomainError):
    code, status = "forbidden", 403


@deserialize_to_instance
class NotFound(DomainError):
    code, status = "not_found", 404


@deserialize_to_instance
class MethodNotAllowed(DomainError):
    code, status = "method_not_allowed", 405


@deserialize_to_instance
class Conflict(DomainError):
    code, status = "conflict", 409


@deserialize_to_instance
class PayloadTooLarge(DomainError):
    code, status = "payload_too_large", 413


@deserialize_to_instance
class UnsupportedMediaType(DomainError):
    code, status = "unsupported_media_type", 415


@deserialize_to_instance
class TooManyRequests(DomainError):
    code, status = "too_many_requests", 429

    def __init__(self, message: str, fields: dict | None = None, retry_after: int = 60):
        super().__init__(message, fields)
        self.args = (message, self.fields, retry_after)
        self.retry_after = retry_after


@deserialize_to_instance
class Unavailable(DomainError):
    code, status = "unavailable", 503


@deserialize_to_instance
class TimedOut(DomainError):
    code, status = "timed_out", 504


def refusal(broken: RuleBroken) -> DomainError:
    """The error a caller receives when a domain rule says no: same message, status by the rule's ``kind``."""
    cls = {"forbidden": Forbidden, "conflict": Conflict}.get(broken.kind, ValidationFailed)
    return cls(str(broken), {broken.field: [str(broken)]} if broken.field else None)


def _flatten(messages: dict | list, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into ``{"a.b": ["msg"]}``."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat
