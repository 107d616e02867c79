"""Request schemas of the notify service (its events are in ``services.common.contract.notify``).

What callers send through ``/api/v1`` is defined once, in the public contract
(``services.common.contract.api.notify``); the rest are the operator's.
"""
from marshmallow import fields

from services.common.contract.api.notify import PreferenceChange, SecretRotation, WebhookCreation
from services.common.contract.fields import Strict


class DigestRun(Strict):
    at = fields.AwareDateTime(load_default=None, allow_none=True)
