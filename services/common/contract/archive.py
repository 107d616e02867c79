"""Events published by the archive service: knowledge resources published and revised, ideas archived.

Member ids never travel in these events; people are named as the archive
shows them (a deactivated member is "former member").
"""
from marshmallow import fields, validate

from services.common.contract import EventData, register

#: Resource kinds, in the order the archive shows them, with their headings.
RESOURCE_KINDS: dict[str, str] = {
    "framework": "Frameworks",
    "tool": "Tools and templates",
    "network": "Networks",
    "research": "Research",
    "course": "Courses",
    "case_study": "Case studies",
    "post": "Posts",
}
OUTCOMES = ["adopted", "declined", "archived"]
_RESOURCE = "6b0e4f7a-2c55-4f0e-8d4b-9d3c2a1e7f10"
_IDEA = "0f6c1d2e-8a4b-4c3d-9e5f-7a1b2c3d4e5f"


class ResourceFields(EventData):
    resource_id = fields.Str(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(list(RESOURCE_KINDS)))
    title = fields.Str(required=True)
    summary = fields.Str(required=True)
    link = fields.Str(allow_none=True, load_default=None)
    licence = fields.Str(required=True)
    attribution = fields.Str(required=True)
    tags = fields.List(fields.Str(), required=True)
    agency = fields.Str(required=True)
    revision = fields.Int(required=True, strict=True)
    version = fields.Int(required=True, strict=True)


_RESOURCE_EXAMPLE = {
    "resource_id": _RESOURCE, "kind": "tool", "title": "Workshop planning canvas",
    "summary": "A one-page canvas for planning a co-design workshop.", "link": "https://example.gov.au/canvas",
    "licence": "CC-BY-4.0", "attribution": "Digital Transformation Agency", "tags": ["workshops", "co-design"],
    "agency": "dta", "revision": 1, "version": 1,
}


@register("archive", "resource.published",
          summary="A knowledge resource was published in the archive (directly by a publisher, or an accepted proposal).",
          example={**_RESOURCE_EXAMPLE, "published_at": "2026-03-02T01:15:00.000+00:00", "author_name": "Rosa Nguyen"})
class ResourcePublished(ResourceFields):
    published_at = fields.DateTime(required=True)
    author_name = fields.Str(required=True)


@register("archive", "resource.revised",
          summary="A published resource has a new revision (an edit, an accepted proposal, a revert or a withdrawal).",
          example={**_RESOURCE_EXAMPLE, "revision": 2, "version": 2, "status": "published",
                   "revised_at": "2026-03-04T22:40:00.000+00:00", "revised_by": "Sam Okafor",
                   "note": "Added the facilitator notes.", "reverted_to": None})
class ResourceRevised(ResourceFields):
    status = fields.Str(required=True, validate=validate.OneOf(["published", "withdrawn"]))
    revised_at = fields.DateTime(required=True)
    revised_by = fields.Str(required=True)
    note = fields.Str(required=True)
    reverted_to = fields.Int(allow_none=True, load_default=None, strict=True)


class RatingSummary(EventData):
    average = fields.Float(allow_none=True, required=True)
    count = fields.Int(required=True, strict=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int(), allow_none=True, required=True)
    imported = fields.Bool(load_default=False)


@register("archive", "idea.archived",
          summary="A concluded idea (adopted, declined or archived), or a legacy consultation page, was kept in the archive.",
          example={"idea_id": _IDEA, "origin": "platform", "title": "Shared register of community panels",
                   "outcome": "adopted", "official_response": "We will pilot the register next year.",
                   "agency": "dta", "rating": {"average": 4.2, "count": 5,
                                               "distribution": {"1": 0, "2": 0, "3": 1, "4": 2, "5": 2}},
                   "comment_count": 3, "archived_at": "2026-05-01T04:00:00.000+00:00", "version": 7})
class IdeaArchived(EventData):
    idea_id = fields.Str(required=True)
    origin = fields.Str(required=True, validate=validate.OneOf(["platform", "import"]))
    title = fields.Str(required=True)
    outcome = fields.Str(required=True, validate=validate.OneOf(OUTCOMES))
    official_response = fields.Str(allow_none=True, load_default=None)
    agency = fields.Str(allow_none=True, load_default=None)
    rating = fields.Nested(RatingSummary, required=True)
    comment_count = fields.Int(required=True, strict=True)
    archived_at = fields.DateTime(required=True)
    version = fields.Int(required=True, strict=True)


@register("archive", "records.anonymised",
          summary="Records that named a deactivated member now call them \"former member\" (running copies, snapshots, "
                  "resources); a reader keeping copies of archive pages reads them again.",
          example={"records": 3, "version": 1})
class RecordsAnonymised(EventData):
    records = fields.Int(required=True, strict=True)
    version = fields.Int(required=True, strict=True)
