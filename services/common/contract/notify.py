"""Events published by the notify service about webhook subscriptions. None carries a secret."""
from marshmallow import fields

from services.common.contract import EventData, register

_WEBHOOK = "7d0c5e2a-3b41-4f8e-9c6d-2a1b0e9f8c73"
_OWNER = "2f1c9a4e-5b7d-4c1e-9a36-0b8d7e6f5a41"


@register("notify", "webhook.failed",
          summary="A webhook delivery used up its tries without a 2xx answer; it will not be tried again unless redelivered.",
          example={"webhook_id": _WEBHOOK, "delivery_id": "d-1", "event_id": "e-1", "event_type": "comment.posted",
                   "url": "https://example.org/hooks/engage", "tries": 8, "last_response_code": 500,
                   "last_error": "HTTP 500", "owner_id": _OWNER, "version": 3})
class WebhookFailed(EventData):
    webhook_id = fields.Str(required=True)
    delivery_id = fields.Str(required=True)
    event_id = fields.Str(required=True)
    event_type = fields.Str(required=True)
    url = fields.Str(required=True)
    tries = fields.Int(required=True, strict=True)
    last_response_code = fields.Int(allow_none=True, load_default=None)
    last_error = fields.Str(allow_none=True, load_default=None)
    owner_id = fields.Str(required=True)
    version = fields.Int(required=True, strict=True)


@register("notify", "webhook.disabled",
          summary="A webhook subscription kept failing for the configured period and was switched off; its owner was told.",
          example={"webhook_id": _WEBHOOK, "url": "https://example.org/hooks/engage", "owner_id": _OWNER,
                   "failing_since": "2026-11-20T05:00:00+00:00", "version": 4})
class WebhookDisabled(EventData):
    webhook_id = fields.Str(required=True)
    url = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    failing_since = fields.DateTime(required=True)
    version = fields.Int(required=True, strict=True)
