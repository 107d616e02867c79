"""Dead letters as operators see them in the browser: what a consumer gave up on, never the message body.

Every service inherits the ``dead_letters`` RPC from ``ServiceBase``; it reads
the service's own ``dead_letters`` collection (a service without storage has
none) and answers operators only. Replaying stays with ``engage dead-letters
replay``, which an operator runs on purpose.
"""
from __future__ import annotations

from datetime import datetime

from nameko.extensions import DependencyProvider

from services.common.errors import Forbidden, Unauthorized, ValidationFailed
from services.common.events import isoformat
from services.common.tokens import CONTEXT_KEY, TokenKeys, principal_from_claims

MAX_LISTED = 200
ERROR_CHARS = 500


def dead_letter_view(service: str, record: dict) -> dict:
    """One stored dead letter, safe to show: where it was going, why it stopped, when; no payload."""
    dead_at = record.get("dead_at")
    return {"service": service, "id": str(record["_id"]), "queue": record.get("queue", ""),
            "type": record.get("type") or None, "event_id": record.get("event_id") or None,
            "attempts": int(record.get("attempts") or 0),
            "dead_at": isoformat(dead_at) if isinstance(dead_at, datetime) else dead_at,
            "error": str(record.get("error") or "")[:ERROR_CHARS]}


class DeadLetterBook(DependencyProvider):
    """``self.dead_letter_book(limit)``: this service's dead letters for an operator, oldest first."""

    keys = TokenKeys()

    def _database(self):
        from services.common.mongo import MongoConnection

        for extension in self.container.shared_extensions.values():
            if isinstance(extension, MongoConnection):
                return extension.db
        return None

    def get_dependency(self, worker_ctx):
        token = (worker_ctx.context_data or {}).get(CONTEXT_KEY)
        service = self.container.service_name

        def listed(limit: int = 50) -> list[dict]:
            if not token:
                raise Unauthorized("Log in first: this needs a member's token.")
            principal = principal_from_claims(self.keys.verifier.verify(token))
            if "operator" not in principal.roles:
                raise Forbidden("Only operators may see dead letters.")
            principal.require_scope(None)  # no API key scope covers operators' tools
            db = self._database()
            if db is None:
                return []
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise ValidationFailed("limit must be a whole number.", {"limit": ["must be a whole number"]})
            count = max(1, min(limit, MAX_LISTED))
            found = db.dead_letters.find({"state": "dead"}, {"body": 0}).sort("dead_at", 1).limit(count)
            return [dead_letter_view(service, record) for record in found]

        return listed
