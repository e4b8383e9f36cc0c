"""Integer cents <-> the decimal strings providers put on the wire ("25.00"), exactly.

Never through float: 0.1 + 0.2 is not 0.3, and a cent lost in a conversion is a ledger
difference. EUR has two minor digits; a value with more is refused, not rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MINOR_DIGITS = 2
_SCALE = 10**MINOR_DIGITS


def cents_to_decimal(cents: int) -> str:
    """2500 -> "25.00", 5 -> "0.05", -1999 -> "-19.99"."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"cents must be an int, got {type(cents).__name__}")
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), _SCALE)
    return f"{sign}{whole}.{part:0{MINOR_DIGITS}d}"


def decimal_to_cents(value: str) -> int:
    """ "25.00" -> 2500, "25.5" -> 2550, "25" -> 2500; "25.005", "1e3", "abc" -> ValueError."""
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not number.is_finite() or "e" in text.lower():
        raise ValueError(f"not a plain decimal amount: {value!r}")
    scaled = number * _SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than {MINOR_DIGITS} decimal places: {value!r}")
    return int(scaled)
