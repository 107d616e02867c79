"""Requests to the members service through ``/api/v1``: registration, log-in, roles, networks, API keys."""
from marshmallow import fields, pre_load, validate

from services.common.contract import fields as shared
from services.common.scopes import SCOPES

#: The roles an agency administrator hands out within their agency.
AGENCY_ROLES = ("member", "moderator", "agency_admin")
MIN_PASSWORD_LENGTH = 10


class Strict(shared.Strict):
    """The shared request schema, forgiving stray spaces around an email address."""

    @pre_load
    def trim_email(self, data, **kwargs):
        """People paste addresses with stray spaces; those are not part of the address."""
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].strip()}
        return data


class Registration(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    display_name = shared.Title(required=True)
    password = fields.Str(required=True, load_only=True,
                          validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=1024,
                                                   error=f"must be {MIN_PASSWORD_LENGTH} to 1024 characters"))
    agency = fields.Str(required=True, validate=shared.SLUG)
    time_zone = fields.Str(load_default="Australia/Sydney", validate=validate.Length(max=64))
    invite = fields.Str(load_default=None, validate=validate.Length(min=10, max=200))


class Login(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class NetworkCreation(Strict):
    name = shared.Title(required=True)
    description = shared.Text(load_default="")
    #: A closed network's ideas and their discussion are seen by its members only; joining waits for approval.
    closed = fields.Bool(load_default=False)


class JoinDecision(Strict):
    decision = fields.Str(required=True, validate=validate.OneOf(("approve", "decline")))


class RoleChange(Strict):
    roles = fields.List(fields.Str(validate=validate.OneOf(AGENCY_ROLES)), required=True)


class ApiKeyCreation(Strict):
    name = shared.Title(required=True)
    scopes = fields.List(fields.Str(validate=validate.OneOf(tuple(SCOPES))), required=True,
                         validate=validate.Length(min=1))


class Invitation(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class ResetRequest(Strict):
    email = fields.Email(required=True)
