"""Request schemas of the members service (events are in ``services.common.contract.members``).

What callers send through ``/api/v1`` is defined once, in the public contract
(``services.common.contract.api.members``); the rest come from the operator's
tools and the gateway's pages.
"""
from marshmallow import fields, validate

from services.common.contract import fields as shared
from services.common.contract.api.members import (ApiKeyCreation, Invitation, JoinDecision, Login, MIN_PASSWORD_LENGTH,
                                                  NetworkCreation, Registration, ResetRequest, RoleChange, Strict)


class AgencyCreation(Strict):
    slug = fields.Str(required=True, validate=shared.SLUG)
    name = shared.Title(required=True)
    email_domains = fields.List(fields.Str(validate=validate.Length(min=3, max=120)), load_default=list)


class MemberSearch(Strict):
    """The admin members list: words to find in names and email addresses, and which page of how many."""

    q = fields.Str(load_default="", validate=validate.Length(max=200))
    page = fields.Int(load_default=1, strict=True, validate=validate.Range(1, 10_000))
    limit = fields.Int(load_default=25, strict=True, validate=validate.Range(1, 100))


class Verification(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=10, max=200))


class PasswordReset(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=10, max=200))
    password = fields.Str(required=True, validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=1024))
