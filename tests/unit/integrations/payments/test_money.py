"""Cents <-> the providers' decimal strings, exactly (never through float)."""

from __future__ import annotations

import pytest

from sichrplace.integrations.payments.money import cents_to_decimal, decimal_to_cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (2500, "25.00"),
        (5, "0.05"),
        (0, "0.00"),
        (10, "0.10"),
        (123456789, "1234567.89"),
        (-1999, "-19.99"),
        (1, "0.01"),
    ],
)
def test_cents_to_decimal_and_back(cents: int, text: str) -> None:
    assert cents_to_decimal(cents) == text
    assert decimal_to_cents(text) == cents


def test_every_cent_value_round_trips() -> None:
    for cents in range(0, 100_000, 7):
        assert decimal_to_cents(cents_to_decimal(cents)) == cents


@pytest.mark.parametrize(("text", "cents"), [("25", 2500), ("25.5", 2550), (" 0.3 ", 30)])
def test_decimal_strings_with_fewer_digits(text: str, cents: int) -> None:
    assert decimal_to_cents(text) == cents


def test_float_trap_is_exact() -> None:
    # 0.1 + 0.2 in float is 0.30000000000000004; through Decimal it stays 30 cents.
    assert decimal_to_cents("0.1") + decimal_to_cents("0.2") == decimal_to_cents("0.3") == 30


@pytest.mark.parametrize("text", ["25.005", "abc", "", "1e3", "NaN", "Infinity"])
def test_invalid_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the value
        decimal_to_cents(text)


@pytest.mark.parametrize("value", [25.0, "2500", True])
def test_cents_must_be_an_int(value: object) -> None:
    with pytest.raises(TypeError):
        cents_to_decimal(value)  # type: ignore[arg-type]
