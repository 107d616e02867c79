"""Events published by the ideas service.

Every event carries the idea's ``version`` (it rises by one with every change
to the idea, its ratings, its discussion or its followers), so a consumer
holding a newer copy ignores a late one. ``idea.submitted``, ``idea.updated``
and ``idea.state_changed`` carry all of the idea's public fields, so the
archive keeps a running copy without calling the ideas service. Comment
events carry whom a notification would concern: the idea's author, the
authors of the comments above it in its thread, and the members it mentions
(who are also told by ``member.mentioned``).
"""
from marshmallow import fields, validate

from services.common.contract import EventData, register

PUBLIC = "public"
STATES = ("draft", "open", "under_review", "adopted", "declined", "archived")
_STATE = validate.OneOf(STATES)
_IDEA = "7b0c2d1e-4f3a-4e5b-8c6d-9e0f1a2b3c4d"
_COMMENT = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
_MEMBER = "2f1c9a4e-5b7d-4c1e-9a36-0b8d7e6f5a41"
_OTHER = "5a6b7c8d-9e0f-4a1b-2c3d-4e5f6a7b8c9d"
_TIME = "2026-11-23T03:15:00.000+00:00"
_RATING = {"average": 4.0, "count": 2, "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}
_PUBLIC_IDEA = {
    "idea_id": _IDEA, "title": "A network for engagement practitioners",
    "description": "A place where people who run consultations swap what worked.",
    "what_it_might_look_like": "Quarterly meet-ups and an online space between them.",
    "why_it_matters": "Good practice stays in one team unless someone shares it.",
    "prompts": ["Would you take part?"], "tags": ["networks", "capability"], "agency": "dta", "network": None,
    "network_name": None, "audience": PUBLIC,
    "author_id": _MEMBER, "author_name": "Rosa Nguyen", "state": "open", "official_response": None,
    "rating": _RATING, "comment_count": 0, "follower_count": 1,
    "created_at": _TIME, "updated_at": _TIME, "version": 1,
}


def audience() -> fields.Str:
    """Who may know of the event: ``public``, or ``network:<slug>`` for an idea of a closed network, whose
    events only that network's members may be told of (consumers honour it; see docs/architecture.md)."""
    return fields.Str(load_default=PUBLIC, validate=validate.Regexp(r"^(public|network:[a-z0-9-]{1,60})$"))


def is_public(data: dict) -> bool:
    """Whether an ideas event may reach anyone (events from before ``audience`` existed were all public)."""
    return data.get("audience", PUBLIC) == PUBLIC


def network_of_audience(data: dict) -> str | None:
    """The closed network whose members alone may know of the event, or None for a public one."""
    value = data.get("audience", PUBLIC)
    return value.split(":", 1)[1] if value.startswith("network:") else None


class RatingSummary(EventData):
    average = fields.Float(required=True, allow_none=True)
    count = fields.Int(required=True, strict=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int(), required=True, allow_none=True)


class PublicIdea(EventData):
    """The idea's public fields, as ``GET /api/v1/ideas/{id}`` shows them."""

    idea_id = fields.Str(required=True)
    title = fields.Str(required=True)
    description = fields.Str(required=True)
    what_it_might_look_like = fields.Str(required=True)
    why_it_matters = fields.Str(required=True)
    prompts = fields.List(fields.Str(), required=True)
    tags = fields.List(fields.Str(), required=True)
    agency = fields.Str(required=True)
    network = fields.Str(required=True, allow_none=True)
    network_name = fields.Str(load_default=None, allow_none=True)
    audience = audience()
    author_id = fields.Str(required=True)
    author_name = fields.Str(required=True)
    state = fields.Str(required=True, validate=_STATE)
    official_response = fields.Str(load_default=None, allow_none=True)
    # Who gave the official response, in which role (``moderator``, ``agency_admin``, ``operator``) and when;
    # events from before these fields existed lack them.
    official_response_by = fields.Str(load_default=None, allow_none=True)
    official_response_role = fields.Str(load_default=None, allow_none=True)
    official_response_at = fields.Str(load_default=None, allow_none=True)
    rating = fields.Nested(RatingSummary, required=True)
    comment_count = fields.Int(required=True, strict=True)
    follower_count = fields.Int(required=True, strict=True)
    created_at = fields.Str(required=True)
    updated_at = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("ideas", "idea.submitted", summary="A member submitted an idea (open at once, or as a draft).",
          example=_PUBLIC_IDEA)
class IdeaSubmitted(PublicIdea):
    pass


@register("ideas", "idea.updated", summary="An idea's public fields changed (an edit by its author, "
          "or its author's name after deactivation).", example={**_PUBLIC_IDEA, "version": 2})
class IdeaUpdated(PublicIdea):
    pass


@register("ideas", "idea.state_changed", summary="An idea moved along its lifecycle, perhaps with an official response.",
          example={**_PUBLIC_IDEA, "state": "adopted", "from_state": "under_review", "to_state": "adopted",
                   "official_response": "We will pilot this next quarter.", "official_response_by": "Tariq Haddad",
                   "official_response_role": "moderator", "official_response_at": _TIME,
                   "changed_by": _OTHER, "version": 5})
class IdeaStateChanged(PublicIdea):
    from_state = fields.Str(required=True, validate=_STATE)
    to_state = fields.Str(required=True, validate=_STATE)
    changed_by = fields.Str(required=True)


def _started_following() -> fields.Bool:
    """True when this rating or comment made its member follow the idea. That follow is told here only: no
    ``idea.followed`` is published for it (that event is for following by choice, and for authors). Events
    recorded before this field existed lack it; they are read as false."""
    return fields.Bool(load_default=False)


@register("ideas", "idea.rated", summary="A member rated an idea, or changed their rating (previous_stars is then set).",
          example={"idea_id": _IDEA, "member_id": _OTHER, "stars": 4, "previous_stars": None, "average": 4.0,
                   "count": 2, "distribution": _RATING["distribution"], "agency": "dta", "started_following": True,
                   "version": 3})
class IdeaRated(EventData):
    audience = audience()
    idea_id = fields.Str(required=True)
    member_id = fields.Str(required=True)
    stars = fields.Int(required=True, strict=True, validate=validate.Range(1, 5))
    previous_stars = fields.Int(required=True, strict=True, allow_none=True, validate=validate.Range(1, 5))
    average = fields.Float(required=True)
    count = fields.Int(required=True, strict=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int())
    started_following = _started_following()
    version = fields.Int(required=True, strict=True)


class CommentData(EventData):
    audience = audience()
    comment_id = fields.Str(required=True)
    idea_id = fields.Str(required=True)
    idea_title = fields.Str(required=True)
    agency = fields.Str(required=True)
    parent_id = fields.Str(required=True, allow_none=True)
    depth = fields.Int(required=True, strict=True)
    author_id = fields.Str(required=True)
    author_name = fields.Str(required=True)
    body = fields.Str(required=True)
    created_at = fields.Str(required=True)
    edited_at = fields.Str(required=True, allow_none=True)
    idea_author_id = fields.Str(required=True)
    parent_author_id = fields.Str(required=True, allow_none=True)
    ancestor_author_ids = fields.List(fields.Str(), required=True)
    # Events recorded before this field existed lack it; they are read as mentioning nobody.
    mentioned_member_ids = fields.List(fields.Str(), load_default=list)
    started_following = _started_following()
    # Each mention's name (as ``services.common.mentions.name_key`` folds it) → the member it names, for a
    # notice quoting the comment to link; absent from events recorded before it existed.
    mention_links = fields.Dict(keys=fields.Str(), values=fields.Str(), load_default=dict)
    version = fields.Int(required=True, strict=True)


_COMMENT_EXAMPLE = {
    "comment_id": _COMMENT, "idea_id": _IDEA, "idea_title": _PUBLIC_IDEA["title"], "agency": "dta",
    "parent_id": None, "depth": 1, "author_id": _OTHER, "author_name": "Tariq Haddad",
    "body": "Would a yearly briefing for senior staff help it last?", "created_at": _TIME, "edited_at": None,
    "idea_author_id": _MEMBER, "parent_author_id": None, "ancestor_author_ids": [], "mentioned_member_ids": [],
    "started_following": False, "mention_links": {}, "version": 4,
}


@register("ideas", "comment.posted", summary="A member commented on an idea or replied to a comment.",
          example=_COMMENT_EXAMPLE)
class CommentPosted(CommentData):
    pass


@register("ideas", "comment.edited", summary="A comment's author changed its text (within 15 minutes of posting).",
          example={**_COMMENT_EXAMPLE, "edited_at": _TIME, "version": 5})
class CommentEdited(CommentData):
    pass


@register("ideas", "comment.removed", summary="A comment was removed by its author or a moderator; its replies stay.",
          example={"comment_id": _COMMENT, "idea_id": _IDEA, "author_id": _OTHER, "removed_by": _OTHER,
                   "by_moderator": False, "version": 6})
class CommentRemoved(EventData):
    audience = audience()
    comment_id = fields.Str(required=True)
    idea_id = fields.Str(required=True)
    author_id = fields.Str(required=True)
    removed_by = fields.Str(required=True)
    by_moderator = fields.Bool(required=True)
    version = fields.Int(required=True, strict=True)


@register("ideas", "comment.flagged", summary="A member reported a comment; at three reports it is hidden until a "
          "moderator decides.",
          example={"comment_id": _COMMENT, "idea_id": _IDEA, "agency": "dta", "reported_by": _MEMBER,
                   "reason": "Personal attack", "report_count": 1, "hidden": False, "version": 7})
class CommentFlagged(EventData):
    audience = audience()
    comment_id = fields.Str(required=True)
    idea_id = fields.Str(required=True)
    agency = fields.Str(required=True)
    reported_by = fields.Str(required=True)
    reason = fields.Str(required=True)
    report_count = fields.Int(required=True, strict=True)
    hidden = fields.Bool(required=True)
    version = fields.Int(required=True, strict=True)


@register("ideas", "comment.restored", summary="A moderator kept a reported comment; it shows again.",
          example={"comment_id": _COMMENT, "idea_id": _IDEA, "moderator_id": _OTHER, "version": 8})
class CommentRestored(EventData):
    audience = audience()
    comment_id = fields.Str(required=True)
    idea_id = fields.Str(required=True)
    moderator_id = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("ideas", "idea.followed", summary="A member chose to follow an idea, or submitted it (authors follow their "
          "own); a follow that rating or commenting starts is told by that event (started_following).",
          example={"idea_id": _IDEA, "member_id": _OTHER, "follower_count": 2, "version": 3})
class IdeaFollowed(EventData):
    audience = audience()
    idea_id = fields.Str(required=True)
    member_id = fields.Str(required=True)
    follower_count = fields.Int(required=True, strict=True)
    version = fields.Int(required=True, strict=True)


@register("ideas", "idea.unfollowed", summary="A member stopped following an idea.",
          example={"idea_id": _IDEA, "member_id": _OTHER, "follower_count": 1, "version": 4})
class IdeaUnfollowed(IdeaFollowed):
    pass


@register("ideas", "member.mentioned", summary="A comment mentioned a member by name (@[Display Name]).",
          example={"member_id": _MEMBER, "idea_id": _IDEA, "idea_title": _PUBLIC_IDEA["title"],
                   "comment_id": _COMMENT, "by_member_id": _OTHER, "by_name": "Tariq Haddad",
                   "excerpt": "@[Rosa Nguyen] could your team host the first one?",
                   "mention_links": {"rosa nguyen": _MEMBER}, "version": 4})
class MemberMentioned(EventData):
    audience = audience()
    member_id = fields.Str(required=True)
    idea_id = fields.Str(required=True)
    idea_title = fields.Str(required=True)
    comment_id = fields.Str(required=True)
    by_member_id = fields.Str(required=True)
    by_name = fields.Str(required=True)
    excerpt = fields.Str(required=True)
    mention_links = fields.Dict(keys=fields.Str(), values=fields.Str(), load_default=dict)
    version = fields.Int(required=True, strict=True)
