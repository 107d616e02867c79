"""Requests to the ideas service through ``/api/v1``.

Every value is typed here before it reaches a rule or a query: a number
where a number belongs (``"5"``, ``4.5``, ``true`` or ``{"$gt": 0}`` are not
stars), strings within the platform's limits, no unknown fields.
"""
from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.contract.fields import SLUG, Strict, Text, Title
from services.common.contract.ideas import STATES

#: The orders a list of ideas comes in.
SORTS = ("newest", "top", "discussed")
#: The last numbered page a list goes to (beyond it, a cursor keeps going).
MAX_PAGE = 500


class WholeNumber(fields.Integer):
    """An integer written as a JSON number: no strings, fractions or booleans."""

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._validated(value)


class YesOrNo(fields.Boolean):
    """``true`` or ``false`` written as JSON booleans: no strings ("no") or numbers."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class IdeaSubmission(Strict):
    title = Title(required=True)
    description = Text(required=True, blank=False)
    what_it_might_look_like = Text(load_default="")
    why_it_matters = Text(load_default="")
    prompts = fields.List(Text(max_length=1000, blank=False), load_default=list, validate=validate.Length(max=10))
    tags = fields.List(Text(max_length=40, blank=False), load_default=list, validate=validate.Length(max=10))
    network = fields.Str(load_default=None, allow_none=True, validate=SLUG)
    draft = fields.Bool(load_default=False)


class IdeaEdit(Strict):
    title = Title()
    description = Text(blank=False)
    what_it_might_look_like = Text()
    why_it_matters = Text()
    prompts = fields.List(Text(max_length=1000, blank=False), validate=validate.Length(max=10))
    tags = fields.List(Text(max_length=40, blank=False), validate=validate.Length(max=10))
    network = fields.Str(allow_none=True, validate=SLUG)


class StateChange(Strict):
    state = fields.Str(required=True, validate=validate.OneOf(STATES))
    official_response = Text(load_default=None, allow_none=True)


class Rating(Strict):
    stars = WholeNumber(required=True, strict=True, validate=validate.Range(1, 5, error="must be from 1 to 5"))


class CommentPost(Strict):
    body = Text(required=True, blank=False)
    parent_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class CommentEdit(Strict):
    body = Text(required=True, blank=False)


class FollowingPreference(Strict):
    #: Whether commenting on an idea or rating it for the first time makes the member follow it (default yes).
    follow_when_taking_part = YesOrNo(required=True)


class Report(Strict):
    reason = Text(load_default="", max_length=1000)


class ModerationDecision(Strict):
    decision = fields.Str(required=True, validate=validate.OneOf(["keep", "remove"]))
    note = Text(load_default="", max_length=1000)


class ListQuery(Strict):
    state = fields.Str(load_default=None, validate=validate.OneOf(STATES))
    tag = fields.Str(load_default=None, validate=validate.Length(min=1, max=40))
    agency = fields.Str(load_default=None, validate=SLUG)
    network = fields.Str(load_default=None, validate=SLUG)
    sort = fields.Str(load_default="newest", validate=validate.OneOf(SORTS))
    cursor = fields.Str(load_default=None, validate=validate.Length(max=400))
    limit = WholeNumber(load_default=20, validate=validate.Range(1, 100, error="must be from 1 to 100"))
    #: A numbered page (from 1) instead of a cursor: the answer then also says how many pages there are.
    page = WholeNumber(load_default=None, validate=validate.Range(1, MAX_PAGE, error=f"must be from 1 to {MAX_PAGE}"))

    @validates_schema
    def one_way_to_page(self, data, **kwargs):
        if data.get("page") is not None and data.get("cursor"):
            raise ValidationError("give a page number or a cursor, not both", "page")
