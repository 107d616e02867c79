"""Events published by the members service. None carries an email or a password hash.

The one-time links (password reset, address confirmation) are secrets: those
two types are private to notify, which mails them, and never reach ``members.events``.
"""
from marshmallow import fields, validate

from services.common.contract import EventData, register

_ROLE = validate.OneOf(["member", "moderator", "agency_admin", "network_admin", "guest", "operator"])
_MEMBER = "2f1c9a4e-5b7d-4c1e-9a36-0b8d7e6f5a41"


@register("members", "member.registered", summary="A person registered as a member of an agency.",
          example={"member_id": _MEMBER, "display_name": "Rosa Nguyen", "agency": "dta", "version": 1})
class MemberRegistered(EventData):
    member_id = fields.Str(required=True)
    display_name = fields.Str(required=True)
    agency = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "member.joined_network",
          summary="A member joined a network of practice (an open one at once; a closed one when an administrator "
                  "approved their request, or by a guest invitation).",
          example={"member_id": _MEMBER, "network_id": "n-1", "network_slug": "engagement-practitioners",
                   "network_name": "Engagement practitioners", "closed": False, "agency": "dta", "version": 2})
class MemberJoinedNetwork(EventData):
    member_id = fields.Str(required=True)
    network_id = fields.Str(required=True)
    network_slug = fields.Str(required=True)
    # Events recorded before these fields existed lack them: such networks were all open.
    network_name = fields.Str(load_default=None, allow_none=True)
    closed = fields.Bool(load_default=False)
    agency = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "member.left_network", summary="A member left a network of practice.",
          example={"member_id": _MEMBER, "network_id": "n-1", "network_slug": "engagement-practitioners",
                   "agency": "dta", "version": 3})
class MemberLeftNetwork(MemberJoinedNetwork):
    pass


@register("members", "member.role_changed", summary="A member's roles changed.",
          example={"member_id": _MEMBER, "agency": "dta", "roles": ["member", "moderator"],
                   "network_admin_of": [], "version": 2})
class MemberRoleChanged(EventData):
    member_id = fields.Str(required=True)
    agency = fields.Str(required=True)
    roles = fields.List(fields.Str(validate=_ROLE), required=True)
    network_admin_of = fields.List(fields.Str(), load_default=list)
    version = fields.Int(required=True, strict=True)


@register("members", "member.deactivated", summary="A member was deactivated; consumers anonymise them.",
          example={"member_id": _MEMBER, "agency": "dta", "version": 4})
class MemberDeactivated(EventData):
    member_id = fields.Str(required=True)
    agency = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "member.sessions_revoked",
          summary="Who the member is changed (roles, deactivation, password reset, log-out): tokens and page "
                  "sessions from before ``session_version`` are no longer accepted.",
          example={"member_id": _MEMBER, "session_version": 3, "reason": "log_out", "version": 5})
class MemberSessionsRevoked(EventData):
    member_id = fields.Str(required=True)
    session_version = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    reason = fields.Str(required=True, validate=validate.OneOf(
        ["role_change", "deactivation", "password_reset", "log_out"]))
    version = fields.Int(required=True, strict=True)


@register("members", "member.password_reset_requested", private_to=("notify",),
          summary="A member asked to reset their password; the notify service emails the one-time link.",
          example={"member_id": _MEMBER, "reset_url": "http://127.0.0.1:8000/reset/abc", "expires_at": "2026-11-23T05:00:00+00:00",
                   "version": 1})
class PasswordResetRequested(EventData):
    member_id = fields.Str(required=True)
    reset_url = fields.Url(required=True, require_tld=False)
    expires_at = fields.DateTime(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "member.verification_requested", private_to=("notify",),
          summary="Someone registered; the notify service emails the one-time link that confirms their address.",
          example={"member_id": _MEMBER, "verify_url": "http://127.0.0.1:8000/verify/abc",
                   "expires_at": "2026-11-24T05:00:00+00:00", "version": 1})
class VerificationRequested(EventData):
    member_id = fields.Str(required=True)
    verify_url = fields.Url(required=True, require_tld=False)
    expires_at = fields.DateTime(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "agency.created", summary="The platform operator created an agency.",
          example={"agency_id": "a-1", "slug": "dta", "name": "Digital Transformation Agency", "version": 1})
class AgencyCreated(EventData):
    agency_id = fields.Str(required=True)
    slug = fields.Str(required=True)
    name = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("members", "network.created",
          summary="A network of practice was created, open (anyone joins) or closed (its ideas and their discussion "
                  "are seen by its members only; people ask to join and an administrator approves).",
          example={"network_id": "n-1", "slug": "engagement-practitioners", "name": "Engagement practitioners",
                   "agency": "dta", "created_by": _MEMBER, "closed": False, "version": 1})
class NetworkCreated(EventData):
    network_id = fields.Str(required=True)
    slug = fields.Str(required=True)
    name = fields.Str(required=True)
    agency = fields.Str(required=True)
    created_by = fields.Str(required=True)
    closed = fields.Bool(load_default=False)
    version = fields.Int(required=True, strict=True)
