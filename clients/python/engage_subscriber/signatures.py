"""Checking the ``Engage-Signature`` header on webhook deliveries.

The header is ``t=<unix seconds>,v1=<hex>[,v1=<hex>…]``; each hex is
HMAC-SHA256, keyed with the subscription secret's UTF-8 bytes, over
``"<t>.<raw body>"``. While a rotated secret overlaps, the header holds one
``v1=`` per valid secret, so either secret verifies. A delivery whose
timestamp is more than ``tolerance`` seconds from now is refused, so a
captured delivery cannot be replayed later.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import List, Optional, Tuple, Union

SIGNATURE_HEADER = "Engage-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureInvalid(ValueError):
    """The header is missing, malformed or stale, or no signature matches the secret and body."""


def _expected(secret: str, body: bytes, stamp: int) -> str:
    message = str(stamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _parse(header: str) -> Tuple[int, List[str]]:
    stamp: Optional[int] = None
    signatures: List[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                stamp = int(value)
            except ValueError:
                raise SignatureInvalid("the t= timestamp is not a whole number") from None
        elif key == SCHEME and value:
            signatures.append(value)
    if stamp is None:
        raise SignatureInvalid("the header has no t= timestamp")
    if not signatures:
        raise SignatureInvalid(f"the header has no {SCHEME}= signature")
    return stamp, signatures


def verify_signature(secret: str, header: str, body: Union[bytes, str], tolerance: int = DEFAULT_TOLERANCE_SECONDS,
                     now: Optional[float] = None) -> int:
    """Return the delivery's timestamp when ``header`` signs ``body`` with ``secret``; else raise ``SignatureInvalid``.

    Pass the raw request body exactly as received (bytes): a re-encoded JSON
    body will not match. Comparison is constant-time.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    stamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise SignatureInvalid(f"the timestamp is more than {tolerance} seconds from now")
    expected = _expected(secret, raw, stamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureInvalid("no signature matches this secret and body")
    return stamp
