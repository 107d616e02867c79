"""Request schemas of the ideas service (events are in ``services.common.contract.ideas``).

Every request the ideas service takes is part of the public API, so each is
defined once, in the contract (``services.common.contract.api.ideas``, and
``services.common.contract.api.search`` for the site's one search), which
the gateway's OpenAPI description is built from too.
"""
from services.common.contract.api.ideas import (CommentEdit, CommentPost, FollowingPreference, IdeaEdit,
                                                IdeaSubmission, ListQuery, ModerationDecision, Rating, Report,
                                                StateChange)
from services.common.contract.api.search import SiteSearchQuery
