"""Ids and values as typed by people: order and lot ids, basis points (addresses: millchain.types)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from millchain.errors import ConfigError
from millchain.settlement.enums import BPS
from millchain.types import to_bytes32


def order_id(label: str | bytes) -> bytes:
    """An order number as bytes32: a label of at most 32 bytes (``PO-2025-0042``) or 0x + 64 hex."""
    return to_bytes32(label, what="order id")


def lot_id(label: str | bytes) -> bytes:
    return to_bytes32(label, what="lot id")


def parse_bps(text: str | int, *, what: str = "share") -> int:
    """Basis points from ``"5%"``, ``"0.5%"``, ``"250bps"`` or a plain number of basis points."""
    if isinstance(text, int):
        value = Decimal(text)
    else:
        raw = text.strip().lower().replace(" ", "")
        try:
            if raw.endswith("%"):
                value = Decimal(raw[:-1]) * 100
            elif raw.endswith("bps"):
                value = Decimal(raw[:-3])
            else:
                value = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{what} {text!r} is not a percentage (5%, 0.5%) or basis points (250bps)") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ConfigError(f"{what} {text!r} is finer than one basis point (0.01 %)")
    if not 0 <= value <= BPS:
        raise ConfigError(f"{what} {text!r} must be between 0 and 100 %")
    return int(value)


def format_bps(bps: int) -> str:
    text = f"{Decimal(bps) / 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"  # 0 -> "0 %", not " %"


def to_hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def as_bytes32(value: Any, *, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str) and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raise ConfigError(f"{what} {value!r} is not hex") from None
    else:
        raise ConfigError(f"{what} {value!r} is not 0x + 64 hex digits")
    if len(raw) != 32:
        raise ConfigError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def readable_validation(exc: ValidationError, what: str) -> ConfigError:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or what
        parts.append(f"{where}: {error['msg']}")
    return ConfigError(f"invalid {what}: " + "; ".join(parts))
