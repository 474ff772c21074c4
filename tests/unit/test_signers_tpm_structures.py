"""The TPM structure parsers the attestation verifier relies on, on hand-built structures (TPM 2.0 Part 2): fields
read right, names computed as the TPM does, and every malformed input refused naming its field."""

from __future__ import annotations

import hashlib

import pytest

from millchain.signers.tpm import DEVICE_KEY_ATTRIBUTES
from millchain.tpm.structures import TpmStructureError, parse_certify_info, parse_ecc_public

X, Y = b"\x01" * 32, b"\x02" * 32


def u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def tpm2b(data: bytes) -> bytes:
    return u16(len(data)) + data


def ecc_public(*, kind: int = 0x0023, name_alg: int = 0x000B, curve: int = 0x0003, symmetric: bool = False) -> bytes:
    return (
        u16(kind) + u16(name_alg) + DEVICE_KEY_ATTRIBUTES.to_bytes(4, "big") + tpm2b(b"")
        + (u16(0x0006) + u16(128) + u16(0x0043) if symmetric else u16(0x0010))  # AES-128-CFB or NULL
        + u16(0x0018) + u16(0x000B)  # ECDSA with SHA-256
        + u16(curve) + u16(0x0010)  # curve, kdf NULL
        + tpm2b(X) + tpm2b(Y)
    )  # fmt: skip


def certify_info(*, magic: int = 0xFF544347, kind: int = 0x8017, name: bytes = b"\x00\x0b" + b"\x33" * 32) -> bytes:
    return (
        magic.to_bytes(4, "big") + u16(kind) + tpm2b(b"\x00\x0b" + b"\x44" * 32) + tpm2b(b"nonce")
        + b"\x00" * 17 + (7).to_bytes(8, "big") + tpm2b(name) + tpm2b(b"\x00\x0b" + b"\x55" * 32)
    )  # fmt: skip


def test_ecc_public_area_is_read_and_named_like_the_tpm_names_it() -> None:
    raw = ecc_public()
    area = parse_ecc_public(raw)
    assert area.object_attributes == DEVICE_KEY_ATTRIBUTES and area.point == X + Y
    assert area.name == b"\x00\x0b" + hashlib.sha256(raw).digest()
    assert parse_ecc_public(ecc_public(symmetric=True)).point == X + Y  # a storage-style area parses too


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (ecc_public(kind=0x0001), "not ECC"),
        (ecc_public(name_alg=0x0004), "not SHA-256"),
        (ecc_public(curve=0x0004), "not NIST P-256"),
        (ecc_public()[:-10], "ends inside unique.y"),
        (ecc_public() + b"\x00", "1 byte"),
        (b"", "ends inside type"),
    ],
)
def test_malformed_public_areas_are_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(TpmStructureError, match=message):
        parse_ecc_public(raw)


def test_certify_info_fields_are_read() -> None:
    info = parse_certify_info(certify_info())
    assert info.extra_data == b"nonce" and info.firmware_version == 7
    assert info.name == b"\x00\x0b" + b"\x33" * 32 and info.qualified_name == b"\x00\x0b" + b"\x55" * 32


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (certify_info(magic=0xFF544346), "not TPM_GENERATED_VALUE"),
        (certify_info(kind=0x8018), "not TPM_ST_ATTEST_CERTIFY"),
        (certify_info()[:-40], "ends inside attested.certify"),
        (certify_info() + b"\x00\x00", "2 byte"),
    ],
)
def test_malformed_certify_info_is_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(TpmStructureError, match=message):
        parse_certify_info(raw)
