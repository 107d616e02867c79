"""What operators see of a dead letter: enough to act on, never the message body."""
from datetime import datetime, timezone

from services.common.dead_letters import ERROR_CHARS, dead_letter_view


def test_a_dead_letter_is_shown_without_its_body_and_with_a_bounded_error():
    record = {"_id": "d1", "queue": "notify.on_ideas_event", "type": "idea.rated", "event_id": "e1", "attempts": 6,
              "dead_at": datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc), "error": "x" * 2000,
              "body": b'{"secret": "payload"}', "state": "dead"}
    view = dead_letter_view("notify", record)
    assert view == {"service": "notify", "id": "d1", "queue": "notify.on_ideas_event", "type": "idea.rated",
                    "event_id": "e1", "attempts": 6, "dead_at": "2025-03-04T05:06:07.000+00:00",
                    "error": "x" * ERROR_CHARS}
    assert "body" not in view


def test_an_unreadable_message_has_no_type_or_event_id():
    view = dead_letter_view("ideas", {"_id": "d2", "queue": "ideas.on_member", "attempts": 1, "error": "poison"})
    assert view["type"] is None and view["event_id"] is None and view["dead_at"] is None
