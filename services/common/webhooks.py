"""The signature on every webhook delivery, and the check a receiver runs on it.

Each delivery carries ``Engage-Signature: t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA256, keyed with the subscription secret's UTF-8 bytes, over
``"<t>.<raw body>"``. While a rotated secret is still in its overlap period
the header holds one ``v1=`` per valid secret, newest first, so a receiver
holding either secret accepts the delivery. ``verify`` accepts a delivery
only when one signature matches and the timestamp is within ``tolerance``
seconds of now, which stops an old captured delivery being replayed.

Pure Python with no platform imports, so a system outside Engagement Network
can copy or import it:

    from services.common.webhooks import verify, SignatureInvalid
    try:
        verify(secret, request.headers["Engage-Signature"], request.body)
    except SignatureInvalid:
        return 400
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Iterable

SIGNATURE_HEADER = "Engage-Signature"
DELIVERY_HEADER = "Engage-Delivery"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureInvalid(ValueError):
    """The delivery's signature header is missing, malformed, stale, or matches no secret."""


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def signature(secret: str, body: bytes | str, t: int) -> str:
    """The hex HMAC-SHA256 of ``"<t>.<body>"`` keyed with ``secret``'s UTF-8 bytes."""
    message = str(int(t)).encode("ascii") + b"." + _as_bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str | Iterable[str], body: bytes | str, t: int | None = None) -> str:
    """The ``Engage-Signature`` header value for ``body`` at time ``t`` (now when omitted).

    Given several secrets (a rotation's overlap), the header carries one
    ``v1=`` signature per secret, in the order given.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("sign needs at least one secret")
    stamp = int(time.time()) if t is None else int(t)
    return ",".join([f"t={stamp}"] + [f"{SCHEME}={signature(s, body, stamp)}" for s in secrets])


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` from a header value, or ``SignatureInvalid`` saying what is wrong."""
    stamp: int | None = None
    signatures: list[str] = []
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


def verify(secret: str, header: str, body: bytes | str, tolerance: int = DEFAULT_TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """Check a delivery; return its timestamp, or raise ``SignatureInvalid``.

    Refuses a timestamp more than ``tolerance`` seconds from ``now`` (in
    either direction) and a body that does not match any ``v1`` signature
    byte for byte. Comparison is constant-time.
    """
    stamp, signatures = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise SignatureInvalid(f"the timestamp is more than {tolerance} seconds from now")
    expected = signature(secret, body, stamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureInvalid("no signature matches this secret and body")
    return stamp
