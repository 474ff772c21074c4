"""Token amounts: integers in base units inside, decimal text only at the edge (CLI input and output)."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from millchain.errors import ConfigError
from millchain.types import TokenUnits


def parse_amount(text: str, decimals: int, *, what: str = "amount") -> TokenUnits:
    """``"12.5"`` with 6 decimals -> 12_500_000. Refuses negatives and more decimals than the token has."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation as exc:
        raise ConfigError(f"{what} {text!r} is not a number") from exc
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{what} {text!r} must be a non-negative number")
    # scaleb rounds the coefficient to the context's precision (28 digits by default), which would silently drop
    # the last digits of a large amount; a precision as long as the coefficient keeps every digit.
    scaled = value.scaleb(decimals, context=Context(prec=max(28, len(value.as_tuple().digits))))
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what} {text!r} has more than {decimals} decimal places")
    return TokenUnits(int(scaled))


def format_amount(base_units: int, decimals: int) -> str:
    """12_500_000 with 6 decimals -> ``"12.5"``."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    digits = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, *, what: str = "duration") -> int:
    """``"90s"``, ``"15m"``, ``"8h"``, ``"30d"``, ``"2w"`` or plain seconds -> seconds."""
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _DURATION_UNITS else "s"
    number = raw[:-1] if raw[-1:] in _DURATION_UNITS else raw
    if not number.isdigit():
        raise ConfigError(f"{what} {text!r} is not a duration like 90s, 15m, 8h, 30d or 2w")
    return int(number) * _DURATION_UNITS[unit]
