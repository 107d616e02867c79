"""The site's one search through ``/api/v1/search``: what it takes and what it answers.

The ideas and archive services each answer their part of a search with these
shapes (``site_search``) and the gateway ranks the parts together, so a hit
looks the same whichever service found it. Drafts are never among them.
"""
from marshmallow import Schema, fields, validate

from services.common.contract.archive import RESOURCE_KINDS
from services.common.contract.fields import SLUG, Strict
from services.common.contract.ideas import STATES

#: What a hit is: an idea (live, or an archived one imported from an older site) or an archive resource.
KINDS = ("idea", "resource")
#: The states an idea can be found in: every state but draft.
PUBLIC_STATES = tuple(state for state in STATES if state != "draft")
#: What results can be narrowed by; each is a field of every hit (None when it does not apply).
FACETS = ("kind", "state", "agency", "network")
#: How deep a search pages: every service answers down to the end of the page asked for.
MAX_CURSOR = 500


class SiteSearchQuery(Strict):
    q = fields.Str(load_default="", validate=validate.Length(max=500))
    kind = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(KINDS))
    state = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(PUBLIC_STATES))
    agency = fields.Str(load_default=None, allow_none=True, validate=SLUG)
    network = fields.Str(load_default=None, allow_none=True, validate=SLUG)
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=50))
    cursor = fields.Int(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))


class SiteSearchHit(Schema):
    id = fields.Str(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(KINDS))
    title = fields.Str(required=True, metadata={"description": "Plain text: show it escaped."})
    snippet = fields.Str(required=True, metadata={
        "description": "HTML: the matching text escaped, with the words that matched in <mark>."})
    found_in = fields.Str(required=True, validate=validate.OneOf(["text", "comment"]), metadata={
        "description": "Where the words were found: the hit's own text, or (ideas) one of its comments."})
    url = fields.Str(required=True, metadata={"description": "The page that shows it."})
    score = fields.Float(required=True)
    at = fields.Str(required=True, allow_none=True, metadata={"description": "When it was shared or last revised."})
    state = fields.Str(required=True, allow_none=True, validate=validate.OneOf(PUBLIC_STATES))
    agency = fields.Str(required=True, allow_none=True)
    network = fields.Str(required=True, allow_none=True)
    resource_kind = fields.Str(required=True, allow_none=True, validate=validate.OneOf(list(RESOURCE_KINDS)))
    tags = fields.List(fields.Str(), required=True)
    # Live ideas only (None otherwise), as /api/v1/ideas/search has always answered them:
    author_name = fields.Str(required=True, allow_none=True)
    comment_count = fields.Int(required=True, allow_none=True)
    rating = fields.Dict(required=True, allow_none=True, metadata={"description": "{average, count, distribution}"})
    created_at = fields.Str(required=True, allow_none=True)


class FacetValue(Schema):
    value = fields.Str(required=True)
    count = fields.Int(required=True)


class Facets(Schema):
    kind = fields.List(fields.Nested(FacetValue), required=True)
    state = fields.List(fields.Nested(FacetValue), required=True)
    agency = fields.List(fields.Nested(FacetValue), required=True)
    network = fields.List(fields.Nested(FacetValue), required=True)


class SiteSearchResults(Schema):
    items = fields.List(fields.Nested(SiteSearchHit), required=True)
    next_cursor = fields.Str(required=True, allow_none=True)
    total = fields.Int(required=True, metadata={"description": "How many hits pass the filters."})
    facets = fields.Nested(Facets, required=True, metadata={
        "description": "For each facet, its values among the hits with their counts; each counts the hits that "
                       "pass every other filter, so a chosen value still shows the others."})
    did_you_mean = fields.Str(required=True, allow_none=True, metadata={
        "description": "When nothing is found: a nearby query that finds something."})
