"""Every service with storage learns members' newest session versions from the members service.

``member.sessions_revoked`` says a member's tokens and page sessions from
before ``session_version`` have ended (roles changed, deactivated, password
reset, logged out). The handler keeps the newest version in the service's
``member_sessions``, which ``Caller`` reads once per request, so an older
token is refused here within moments of the change.
"""
from __future__ import annotations

from services.common.consumer import consume_events
from services.common.events import Event


class KeepsSessionVersions:
    """Mix into a service class that has ``store = Storage(...)``."""

    @consume_events("members", "member.sessions_revoked")
    def keep_session_versions(self, event: Event) -> None:
        data = event.data
        self.store.transaction(lambda tx: tx.note_session_version(data["member_id"], data["session_version"]),
                               handling=event)
