"""Request and response schemas of the members service (events are in ``services.common.contract.members``)."""
from marshmallow import fields, pre_load, validate

from services.common.contract import fields as shared
from services.members.domain import AGENCY_ROLES, API_KEY_SCOPES, MIN_PASSWORD_LENGTH

_SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$", error="use lower-case letters, digits and dashes")


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
    agency = fields.Str(required=True, validate=_SLUG)
    time_zone = fields.Str(load_default="Australia/Sydney", validate=validate.Length(max=64))
    invite = fields.Str(load_default=None, validate=validate.Length(min=10, max=200))


class Login(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class AgencyCreation(Strict):
    slug = fields.Str(required=True, validate=_SLUG)
    name = shared.Title(required=True)
    email_domains = fields.List(fields.Str(validate=validate.Length(min=3, max=120)), load_default=list)


class NetworkCreation(Strict):
    name = shared.Title(required=True)
    description = shared.Text(load_default="")


class RoleChange(Strict):
    roles = fields.List(fields.Str(validate=validate.OneOf(AGENCY_ROLES)), required=True)


class ApiKeyCreation(Strict):
    name = shared.Title(required=True)
    scopes = fields.List(fields.Str(validate=validate.OneOf(API_KEY_SCOPES)), required=True,
                         validate=validate.Length(min=1))


class Invitation(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class Verification(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=10, max=200))


class ResetRequest(Strict):
    email = fields.Email(required=True)


class PasswordReset(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=10, max=200))
    password = fields.Str(required=True, validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=1024))
