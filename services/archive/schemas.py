"""Request schemas of the archive service (its events are in ``services.common.contract.archive``)."""
from marshmallow import fields, validate, validates_schema, ValidationError

from services.archive.domain import LICENCES, RESOURCE_KINDS, SEARCH_KINDS
from services.common.contract.fields import TEXT_MAX, Strict, Text, Title

_TAG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$", error="use lower-case letters, digits, - and _ (at most 40)")
_SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$", error="use lower-case letters, digits and dashes")
_ID = validate.Regexp(r"^[A-Za-z0-9-]{1,64}$", error="not an archive id")


class ResourceInput(Strict):
    """A resource's content, as published or proposed."""

    kind = fields.Str(required=True, validate=validate.OneOf(list(RESOURCE_KINDS)))
    title = Title(required=True)
    summary = Text(required=True, max_length=1_000, blank=False)
    body = fields.Str(load_default="", validate=validate.Length(max=TEXT_MAX))  # Markdown, kept as written
    link = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=2_000))
    licence = fields.Str(required=True, validate=validate.OneOf(list(LICENCES), error="use one of: {choices}"))
    attribution = Text(required=True, max_length=500, blank=False)
    tags = fields.List(fields.Str(validate=_TAG), load_default=list, validate=validate.Length(max=12))
    related_ideas = fields.List(fields.Str(validate=_ID), load_default=list, validate=validate.Length(max=20))
    agency = fields.Str(load_default=None, allow_none=True, validate=_SLUG)
    note = Text(load_default="", max_length=500)


class ResourceEdit(ResourceInput):
    """An edit: the whole content again, with the revision it was based on (a stale base is a conflict)."""

    base_revision = fields.Int(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))


class Proposal(ResourceInput):
    """A member's proposal: a new resource, or (with ``resource_id``) a change to one."""

    resource_id = fields.Str(load_default=None, allow_none=True, validate=_ID)


class Review(Strict):
    decision = fields.Str(required=True, validate=validate.OneOf(["accept", "reject"]))
    note = Text(load_default="", max_length=500)


class Revert(Strict):
    revision = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    note = Text(load_default="", max_length=500)


class Withdrawal(Strict):
    note = Text(load_default="", max_length=500)


class SearchQuery(Strict):
    q = fields.Str(load_default="", validate=validate.Length(max=500))
    kind = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(list(SEARCH_KINDS)))
    tag = fields.Str(load_default=None, allow_none=True, validate=_TAG)
    licence = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(list(LICENCES)))
    agency = fields.Str(load_default=None, allow_none=True, validate=_SLUG)
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=50))
    cursor = fields.Int(load_default=0, validate=validate.Range(min=0, max=10_000))


class Listing(Strict):
    kind = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(list(RESOURCE_KINDS)))
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.Int(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class DiffQuery(Strict):
    from_revision = fields.Int(required=True, data_key="from", validate=validate.Range(min=1))
    to_revision = fields.Int(required=True, data_key="to", validate=validate.Range(min=1))

    @validates_schema
    def different(self, data, **kwargs):
        if data["from_revision"] == data["to_revision"]:
            raise ValidationError("choose two different revisions", "to")
