"""Identifiers and units shared by every module: NewTypes so a machine id is never passed as a lease id."""

from __future__ import annotations

from typing import NewType

from millchain.errors import ConfigError

MachineId = NewType("MachineId", bytes)
"""32 bytes: a short human label right-padded with zeros, or any 32-byte value."""
Wei = NewType("Wei", int)
TokenUnits = NewType("TokenUnits", int)
"""Token amounts in base units (6 decimals for the settlement token); never floats."""


def to_bytes32(label: str | bytes, *, what: str = "id") -> bytes:
    """``0x`` + 64 hex digits as is; otherwise UTF-8 text of at most 32 bytes, right-padded with zeros,
    so a label like ``press-07`` stays readable on-chain."""
    if isinstance(label, bytes):
        if len(label) != 32:
            raise ConfigError(f"{what} must be 32 bytes, got {len(label)}")
        return label
    if label.startswith("0x") and len(label) == 66:
        try:
            return bytes.fromhex(label[2:])
        except ValueError as exc:
            raise ConfigError(f"{what} {label!r} is not valid hex") from exc
    raw = label.encode("utf-8")
    if not raw:
        raise ConfigError(f"{what} must not be empty")
    if len(raw) > 32:
        raise ConfigError(f"{what} {label!r} is {len(raw)} bytes; labels are at most 32 (or pass 0x + 64 hex)")
    return raw.ljust(32, b"\0")


def machine_id(label: str | bytes) -> MachineId:
    return MachineId(to_bytes32(label, what="machine id"))


def label_of(value: bytes) -> str:
    """The inverse of :func:`to_bytes32`: text when the bytes are a padded printable label, else hex."""
    stripped = value.rstrip(b"\0")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    if stripped and text.isprintable() and b"\0" not in stripped:
        return text
    return "0x" + value.hex()


def parse_address(text: str, *, what: str = "address") -> str:
    """A checksummed address, or a ConfigError naming ``what`` was wrong."""
    # Imported here: this module is on the CLI's start-up path, which must not pay for eth_utils.
    from eth_utils import to_checksum_address

    try:
        return str(to_checksum_address(text))
    except (ValueError, TypeError):
        raise ConfigError(f"{what} {text!r} is not an address (0x + 40 hex digits)") from None
