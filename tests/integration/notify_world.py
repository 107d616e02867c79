"""Helpers for the notify service's integration tests: members, their tokens, and ideas' events.

The ideas service's events are published straight onto ``ideas.events`` the way
that service's outbox relay publishes them, so each test decides exactly which
events notify sees, and can deliver the same envelope twice.
"""
from __future__ import annotations

from services.common.contract import spec_for
from services.common.events import build_envelope, encode
from tests.support.accounts import invite_code
from tests.support.bus import publish

PASSWORD = "a long enough password"
IDEAS_SOURCE = "urn:engage:demo:ideas"


class World:
    """An agency with named members, on a platform running members and notify (and perhaps web)."""

    def __init__(self, platform):
        self.platform = platform
        self.ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        with platform.rpc() as rpc:
            rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                      {"email": "admin@example.gov.au", "display_name": "Agency Admin",
                                       "password": PASSWORD})
            self.admin_token = rpc.members.log_in({"email": "admin@example.gov.au", "password": PASSWORD})["token"]

    def member(self, name: str) -> str:
        """Register ``name`` through an invitation, so no confirmation mail joins the mail these tests count."""
        email = f"{name.lower()}@example.gov.au"
        with self.platform.rpc(self.admin_token) as rpc:
            code = invite_code(rpc.members.invite({"email": email})["invite_url"])
        with self.platform.rpc() as rpc:
            created = rpc.members.register({"email": email, "display_name": name, "password": PASSWORD, "agency": "dta",
                                            "invite": code})
            self.tokens[name] = rpc.members.log_in({"email": email, "password": PASSWORD})["token"]
        self.ids[name] = created["id"]
        return created["id"]

    def rpc(self, name: str | None = None):
        return self.platform.rpc(self.tokens[name] if name else None)

    def envelope(self, name: str, data: dict, subject: str) -> dict:
        return build_envelope(name, data, subject=subject, source=IDEAS_SOURCE)

    def publish(self, envelope: dict) -> dict:
        name = envelope["type"].split(".", 3)[3].rsplit(".v", 1)[0]
        publish(self.platform.amqp_uri, "ideas.events", name, encode(envelope))
        return envelope

    def next_version(self, idea_id: str) -> int:
        self.versions[idea_id] = self.versions.get(idea_id, 0) + 1
        return self.versions[idea_id]

    def submit_idea(self, idea_id: str, author: str, title: str = "A network for engagement practitioners") -> dict:
        data = {**spec_for("idea.submitted").example, "idea_id": idea_id, "title": title,
                "author_id": self.ids[author], "author_name": author, "version": self.next_version(idea_id)}
        return self.publish(self.envelope("idea.submitted", data, idea_id))

    def follow(self, idea_id: str, member: str) -> dict:
        data = {"idea_id": idea_id, "member_id": self.ids[member], "follower_count": 2,
                "version": self.next_version(idea_id)}
        return self.publish(self.envelope("idea.followed", data, idea_id))

    def comment(self, idea_id: str, author: str, idea_author: str, body: str = "Would a yearly briefing help?",
                comment_id: str = "c-1", title: str = "A network for engagement practitioners",
                mentioning: tuple[str, ...] = ()) -> dict:
        data = {**spec_for("comment.posted").example, "comment_id": comment_id, "idea_id": idea_id,
                "idea_title": title, "author_id": self.ids[author], "author_name": author, "body": body,
                "idea_author_id": self.ids[idea_author], "mentioned_member_ids": [self.ids[m] for m in mentioning],
                "version": self.next_version(idea_id)}
        return self.publish(self.envelope("comment.posted", data, idea_id))

    def mention(self, idea_id: str, by: str, member: str, comment_id: str = "c-1",
                excerpt: str = "@[Mei] could your team host it?") -> dict:
        data = {**spec_for("member.mentioned").example, "member_id": self.ids[member], "idea_id": idea_id,
                "comment_id": comment_id, "by_member_id": self.ids[by], "by_name": by, "excerpt": excerpt,
                "version": self.versions.get(idea_id, 1)}
        return self.publish(self.envelope("member.mentioned", data, self.ids[member]))

    def remove_comment(self, idea_id: str, author: str, comment_id: str = "c-1") -> dict:
        data = {"comment_id": comment_id, "idea_id": idea_id, "author_id": self.ids[author],
                "removed_by": self.ids[author], "by_moderator": False, "version": self.next_version(idea_id)}
        return self.publish(self.envelope("comment.removed", data, comment_id))
