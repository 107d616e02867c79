"""Request schemas of the ideas service (events are in ``services.common.contract.ideas``).

Every value is typed here before it reaches a rule or a query: a number
where a number belongs (``"5"``, ``4.5``, ``true`` or ``{"$gt": 0}`` are not
stars), strings within the platform's limits, no unknown fields.
"""
from marshmallow import Schema, ValidationError, fields, validate

from services.ideas.domain import SORTS, STATES

TITLE = validate.Length(min=1, max=200)
TEXT = validate.Length(max=20000)
REQUIRED_TEXT = validate.Length(min=1, max=20000)
_SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$", error="use lower-case letters, digits and dashes")


class Strict(Schema):
    """Unknown fields are an error: a typo should not pass silently."""


class WholeNumber(fields.Integer):
    """An integer written as a JSON number: no strings, fractions or booleans."""

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._validated(value)


class Text(fields.String):
    """A string with surrounding whitespace removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class IdeaSubmission(Strict):
    title = Text(required=True, validate=TITLE)
    description = Text(required=True, validate=REQUIRED_TEXT)
    what_it_might_look_like = Text(load_default="", validate=TEXT)
    why_it_matters = Text(load_default="", validate=TEXT)
    prompts = fields.List(Text(validate=validate.Length(min=1, max=1000)), load_default=list,
                          validate=validate.Length(max=10))
    tags = fields.List(Text(validate=validate.Length(min=1, max=40)), load_default=list,
                       validate=validate.Length(max=10))
    network = fields.Str(load_default=None, allow_none=True, validate=_SLUG)
    draft = fields.Bool(load_default=False)


class IdeaEdit(Strict):
    title = Text(validate=TITLE)
    description = Text(validate=REQUIRED_TEXT)
    what_it_might_look_like = Text(validate=TEXT)
    why_it_matters = Text(validate=TEXT)
    prompts = fields.List(Text(validate=validate.Length(min=1, max=1000)), validate=validate.Length(max=10))
    tags = fields.List(Text(validate=validate.Length(min=1, max=40)), validate=validate.Length(max=10))
    network = fields.Str(allow_none=True, validate=_SLUG)


class StateChange(Strict):
    state = fields.Str(required=True, validate=validate.OneOf(STATES))
    official_response = Text(load_default=None, allow_none=True, validate=TEXT)


class Rating(Strict):
    stars = WholeNumber(required=True, strict=True, validate=validate.Range(1, 5, error="must be from 1 to 5"))


class CommentPost(Strict):
    body = Text(required=True, validate=validate.Length(min=1, max=20000))
    parent_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class CommentEdit(Strict):
    body = Text(required=True, validate=validate.Length(min=1, max=20000))


class Report(Strict):
    reason = Text(load_default="", validate=validate.Length(max=1000))


class ModerationDecision(Strict):
    decision = fields.Str(required=True, validate=validate.OneOf(["keep", "remove"]))
    note = Text(load_default="", validate=validate.Length(max=1000))


class ListQuery(Strict):
    state = fields.Str(load_default=None, validate=validate.OneOf(STATES))
    tag = fields.Str(load_default=None, validate=validate.Length(min=1, max=40))
    agency = fields.Str(load_default=None, validate=_SLUG)
    network = fields.Str(load_default=None, validate=_SLUG)
    sort = fields.Str(load_default="newest", validate=validate.OneOf(SORTS))
    cursor = fields.Str(load_default=None, validate=validate.Length(max=400))
    limit = WholeNumber(load_default=20, validate=validate.Range(1, 100, error="must be from 1 to 100"))
