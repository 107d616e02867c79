"""Request schemas of the notify service (its events are in ``services.common.contract.notify``)."""
from marshmallow import fields, validate

from services.common.contract.fields import Strict
from services.notify.domain import KINDS, MODES

_MODE = validate.OneOf(list(MODES), error="must be one of: " + ", ".join(MODES))


# Any subset of the kinds, each with its new mode.
PreferenceChange = Strict.from_dict({kind: fields.Str(validate=_MODE) for kind in KINDS}, name="PreferenceChange")


class WebhookCreation(Strict):
    url = fields.Str(required=True, validate=validate.Length(min=8, max=2000))
    event_types = fields.List(fields.Str(validate=validate.Length(min=3, max=80)), required=True,
                              validate=validate.Length(min=1, max=50, error="choose 1 to 50 event types"))
    agency = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))
    network = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    description = fields.Str(load_default="", validate=validate.Length(max=200))


class SecretRotation(Strict):
    overlap_seconds = fields.Int(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(0, 7 * 24 * 3600))


class DigestRun(Strict):
    at = fields.AwareDateTime(load_default=None, allow_none=True)
