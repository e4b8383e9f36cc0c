"""The Stripe-Signature scheme: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sichrplace.integrations.payments.stripe import (
    compute_signature,
    form_encode,
    parse_signature_header,
    signature_header,
    verify_signature,
)
from sichrplace.integrations.payments.types import WebhookRejected

SECRET = "whsec_test_secret_for_unit_tests_0000"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
NOW = 1_700_000_000


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, BODY) == expected
    assert signature_header(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_parse_keeps_every_v1_and_ignores_v0() -> None:
    header = f"t={NOW},v1=aa,v0=bb,v1=cc"
    assert parse_signature_header(header) == (NOW, ["aa", "cc"])


@pytest.mark.parametrize(
    "header", ["", "v1=aa", f"t={NOW}", "t=abc,v1=aa", f"t={NOW},t={NOW},v1=aa", "garbage"]
)
def test_malformed_headers_are_rejected(header: str) -> None:
    with pytest.raises(WebhookRejected):
        parse_signature_header(header)


def test_valid_signature_verifies() -> None:
    verify_signature(
        signature_header(SECRET, BODY, NOW), BODY, SECRET, tolerance_seconds=300, now=NOW + 299
    )


def test_any_v1_may_match_while_a_secret_is_rolled() -> None:
    good = compute_signature(SECRET, NOW, BODY)
    header = f"t={NOW},v1={compute_signature('whsec_old', NOW, BODY)},v1={good}"
    verify_signature(header, BODY, SECRET, tolerance_seconds=300, now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (signature_header(SECRET, BODY, NOW), BODY + b" ", NOW),  # body changed
        (signature_header("whsec_other", BODY, NOW), BODY, NOW),  # other secret
        (signature_header(SECRET, BODY, NOW), BODY, NOW + 301),  # too old
        (signature_header(SECRET, BODY, NOW), BODY, NOW - 301),  # from the future
        (f"t={NOW + 1},v1={compute_signature(SECRET, NOW, BODY)}", BODY, NOW),  # t swapped
        (None, BODY, NOW),
    ],
)
def test_bad_signatures_are_rejected(header: str | None, body: bytes, now: int) -> None:
    with pytest.raises(WebhookRejected):
        verify_signature(header, body, SECRET, tolerance_seconds=300, now=now)


def test_form_encoding_nests_like_stripe() -> None:
    encoded = form_encode(
        {
            "amount": 2500,
            "metadata": {"a": "x y"},
            "types": ["paypal"],
            "confirm": True,
            "skip": None,
        }
    ).decode()
    assert encoded == "amount=2500&metadata%5Ba%5D=x+y&types%5B0%5D=paypal&confirm=true"
