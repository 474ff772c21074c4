"""Salted-field commitments and selective disclosure.

A document (an inspection report, an invoice, order lines, a machine's metadata) is a set of named fields.
Each field gets a fresh random salt; the chain stores only the Merkle root over the fields' leaves. The owner
keeps the opened document (values and salts) and can later disclose any single field with its proof, which
anyone can check against the on-chain root without learning the other fields.

The hashing matches contracts/libraries/DisclosureLib.sol:
    leaf = keccak256(keccak256(abi.encode(keccak256(name), salt, keccak256(value))))
    node = keccak256(sorted(a, b))
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path

from eth_abi import encode
from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, field_validator

from millchain.errors import ConfigError

FieldValue = str | int | bytes


def encode_value(value: FieldValue) -> bytes:
    """Raw bytes of a field value: text as UTF-8, integers as their decimal text (so "3" reads the same
    disclosed as typed), bytes as they are."""
    if isinstance(value, bool):
        raise ConfigError("field values are text, integers or bytes; booleans are ambiguous, use 'true'/'false'")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ConfigError(f"unsupported field value type {type(value).__name__}")


def field_leaf(name: str, value: bytes, salt: bytes) -> bytes:
    inner = keccak(encode(["bytes32", "bytes32", "bytes32"], [keccak(name.encode()), salt, keccak(value)]))
    return keccak(inner)


def _parent(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def _layers(leaves: list[bytes]) -> list[list[bytes]]:
    layers = [leaves]
    while len(layers[-1]) > 1:
        below = layers[-1]
        above = [_parent(below[i], below[i + 1]) if i + 1 < len(below) else below[i] for i in range(0, len(below), 2)]
        layers.append(above)
    return layers


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class Disclosure(BaseModel):
    """One field revealed: enough to check it against the root and nothing about the other fields."""

    model_config = ConfigDict(frozen=True)

    root: str
    name: str
    value: str  # 0x-hex of the raw value bytes
    salt: str
    proof: list[str]

    @property
    def value_bytes(self) -> bytes:
        return bytes.fromhex(self.value[2:])

    @property
    def value_text(self) -> str:
        return self.value_bytes.decode("utf-8", errors="replace")

    def verify(self, root: str | bytes | None = None) -> bool:
        """True when this field belongs to ``root`` (default: the root it names)."""
        expected = bytes.fromhex((root or self.root)[2:]) if not isinstance(root, bytes) else root
        node = field_leaf(self.name, self.value_bytes, bytes.fromhex(self.salt[2:]))
        for sibling in self.proof:
            node = _parent(node, bytes.fromhex(sibling[2:]))
        return node == expected


class OpenedField(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: str  # 0x-hex of the raw value bytes
    salt: str


class SaltedDocument(BaseModel):
    """The opened document its owner keeps: every field's value and salt, and the root the chain holds."""

    model_config = ConfigDict(frozen=True)

    root: str
    fields: dict[str, OpenedField]

    @field_validator("fields")
    @classmethod
    def _not_empty(cls, value: dict[str, OpenedField]) -> dict[str, OpenedField]:
        if not value:
            raise ValueError("a document needs at least one field")
        return value

    @classmethod
    def commit(cls, fields: Mapping[str, FieldValue], *, salts: Mapping[str, bytes] | None = None) -> SaltedDocument:
        """Commit to ``fields`` with a fresh random salt each (``salts`` only for reproducible tests)."""
        if not fields:
            raise ConfigError("a document needs at least one field")
        opened = {}
        for name, value in fields.items():
            if not name:
                raise ConfigError("field names must not be empty")
            salt = (salts or {}).get(name) or secrets.token_bytes(32)
            if len(salt) != 32:
                raise ConfigError(f"salt of field {name!r} must be 32 bytes")
            opened[name] = OpenedField(value=_hex(encode_value(value)), salt=_hex(salt))
        root = _layers(_sorted_leaves(opened))[-1][0]
        return cls(root=_hex(root), fields=opened)

    def value_text(self, name: str) -> str:
        return bytes.fromhex(self._field(name).value[2:]).decode("utf-8", errors="replace")

    def disclose(self, name: str) -> Disclosure:
        opened = self._field(name)
        leaves = _sorted_leaves(self.fields)
        index = leaves.index(_leaf_of(name, opened))
        proof = []
        for layer in _layers(leaves)[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                proof.append(_hex(layer[sibling]))
            index //= 2
        return Disclosure(root=self.root, name=name, value=opened.value, salt=opened.salt, proof=proof)

    def _field(self, name: str) -> OpenedField:
        if name not in self.fields:
            known = ", ".join(sorted(self.fields))
            raise ConfigError(f"no field {name!r} in this document (fields: {known})")
        return self.fields[name]

    def save(self, path: Path) -> None:
        """Keep the opened document (it holds the salts: private to its owner)."""
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SaltedDocument:
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not an opened document: {exc}") from exc


def _leaf_of(name: str, opened: OpenedField) -> bytes:
    return field_leaf(name, bytes.fromhex(opened.value[2:]), bytes.fromhex(opened.salt[2:]))


def _sorted_leaves(fields: Mapping[str, OpenedField]) -> list[bytes]:
    return sorted(_leaf_of(name, opened) for name, opened in fields.items())
