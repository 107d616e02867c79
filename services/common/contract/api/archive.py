"""Requests to the archive service through ``/api/v1``: resources, proposals, search and listings."""
from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.contract.archive import RESOURCE_KINDS
from services.common.contract.fields import SLUG, TEXT_MAX, Strict, Text, Title

#: What search can filter by: every resource kind, and archived ideas.
SEARCH_KINDS = (*RESOURCE_KINDS, "idea")
#: Licences a resource may carry (SPDX identifiers), with their names and deeds.
LICENCES: dict[str, tuple[str, str]] = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": ("Creative Commons Attribution-ShareAlike 4.0 International",
                     "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC-BY-NC-4.0": ("Creative Commons Attribution-NonCommercial 4.0 International",
                     "https://creativecommons.org/licenses/by-nc/4.0/"),
    "CC-BY-NC-SA-4.0": ("Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International",
                        "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    "CC-BY-ND-4.0": ("Creative Commons Attribution-NoDerivatives 4.0 International",
                     "https://creativecommons.org/licenses/by-nd/4.0/"),
    "CC-BY-3.0-AU": ("Creative Commons Attribution 3.0 Australia", "https://creativecommons.org/licenses/by/3.0/au/"),
    "CC0-1.0": ("Creative Commons Zero 1.0 Universal (public domain dedication)",
                "https://creativecommons.org/publicdomain/zero/1.0/"),
    "MIT": ("MIT License", "https://opensource.org/license/mit"),
    "Apache-2.0": ("Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0"),
}

_TAG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$", error="use lower-case letters, digits, - and _ (at most 40)")
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
    agency = fields.Str(load_default=None, allow_none=True, validate=SLUG)
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


class SearchQuery(Strict):
    q = fields.Str(load_default="", validate=validate.Length(max=500))
    kind = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(list(SEARCH_KINDS)))
    tag = fields.Str(load_default=None, allow_none=True, validate=_TAG)
    licence = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(list(LICENCES)))
    agency = fields.Str(load_default=None, allow_none=True, validate=SLUG)
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
