"""What an API key may be allowed to do: the scopes, one place for every service.

A member's own token carries all of that member's powers. A token made for an
API key carries ``scopes``, and every service checks the one an action needs
where it decides the action (``caller.required("ratings:write")``); an action
that names no scope is for members themselves, never for keys.
"""
from __future__ import annotations

SCOPES: dict[str, str] = {
    "ideas:read": "Read ideas as the member (their drafts and their own view of an idea).",
    "ideas:write": "Submit and edit ideas, change their state where the member may, follow and unfollow them.",
    "comments:write": "Post, edit, remove and report comments.",
    "ratings:write": "Rate ideas.",
    "archive:read": "Read the archive as the member (unpublished resources they may edit, their proposals).",
    "archive:write": "Publish, revise, withdraw and revert resources, propose changes, review proposals, import pages.",
    "notifications:read": "Read the member's notifications and mark them read.",
    "webhooks:write": "Create, list, rotate, redeliver and delete the member's webhooks.",
}
