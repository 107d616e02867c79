"""The webhook signature scheme and the verifier outside systems use."""
import hashlib
import hmac

import pytest

from services.common.webhooks import SignatureInvalid, sign, signature, verify

SECRET = "whsec_test-secret"
BODY = b'{"specversion":"1.0","id":"e-1","data":{"title":"Caf\xc3\xa9"}}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_keyed_with_the_secret():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, NOW) == expected
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_the_verifier_accepts_a_fresh_untouched_delivery():
    assert verify(SECRET, sign(SECRET, BODY, NOW), BODY, now=NOW + 10) == NOW


def test_the_verifier_refuses_a_changed_byte():
    changed = BODY.replace(b"e-1", b"e-2")
    with pytest.raises(SignatureInvalid):
        verify(SECRET, sign(SECRET, BODY, NOW), changed, now=NOW)


def test_the_verifier_refuses_a_changed_timestamp():
    header = sign(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(SignatureInvalid):
        verify(SECRET, header, BODY, now=NOW)


def test_the_verifier_refuses_a_timestamp_older_than_300_seconds():
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, now=NOW + 300) == NOW
    with pytest.raises(SignatureInvalid, match="300 seconds"):
        verify(SECRET, header, BODY, now=NOW + 301)


def test_the_verifier_refuses_a_different_secret_and_a_malformed_header():
    with pytest.raises(SignatureInvalid):
        verify("whsec_other", sign(SECRET, BODY, NOW), BODY, now=NOW)
    for header in ("", "v1=abc", f"t={NOW}", "t=soon,v1=abc"):
        with pytest.raises(SignatureInvalid):
            verify(SECRET, header, BODY, now=NOW)


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    header = sign(["whsec_new", "whsec_old"], BODY, NOW)
    assert header.count("v1=") == 2
    assert verify("whsec_new", header, BODY, now=NOW) == NOW
    assert verify("whsec_old", header, BODY, now=NOW) == NOW
