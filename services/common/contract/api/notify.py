"""Requests to the notify service through ``/api/v1``: notification preferences and webhooks."""
from marshmallow import fields, validate

from services.common.contract.fields import Strict

#: The kinds of notification a member can be told about, each with how preferences name it.
KINDS: dict[str, str] = {
    "comments": "New comments on your ideas and on ideas you follow",
    "replies": "Replies to your comments",
    "mentions": "Mentions of you in a discussion",
    "idea_updates": "Ideas you wrote or follow changing state",
    "new_ideas": "New ideas in your networks of practice",
    "ratings": "Ratings of your ideas (at most one message an hour)",
    "webhooks": "Problems with webhooks you own",
}
#: The ways of being told, each with how preferences name it.
MODES: dict[str, str] = {
    "off": "Off",
    "in_app": "In the app only",
    "email": "In the app and by email at once",
    "daily": "In the app and in a daily email digest",
    "weekly": "In the app and in a weekly email digest",
}

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
