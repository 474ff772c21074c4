"""Shared by the P-256 tests: P256VERIFY inputs (EIP-7951's published vectors and named edge cases built from one
signature, each with the output EIP-7951 prescribes) and a module-scoped anvil to compare the embedded chain with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from millchain.chain import Chain, connect
from millchain.node import AnvilNode
from millchain.p256_precompile import P256_N, P256_P, VALID
from millchain.project import Project

VECTORS_FILE = Path(__file__).parent / "data" / "eip7951_test_vectors.json"


@pytest.fixture(scope="module")
def anvil_chain(project: Project) -> Iterator[Chain]:
    """A real anvil (it has P256VERIFY, revm's EIP-7951) for the module's tests; stopped after them."""
    node = AnvilNode(project).start()
    try:
        yield connect("anvil", rpc_url=node.url)
    finally:
        node.stop()


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expected: bytes


def words(*values: int) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


@cache
def eip_vectors() -> tuple[Case, ...]:
    """The 781 vectors of EIP-7951's assets/eip-7951/test-vectors.json (Wycheproof plus three of the EIP's own)."""
    raw = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
    return tuple(Case(v["name"], bytes.fromhex(v["input"]), bytes.fromhex(v["expected"])) for v in raw)


def _sign(key: ec.EllipticCurvePrivateKey, digest: bytes) -> tuple[int, int]:
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return r, s


@cache
def edge_cases() -> tuple[Case, ...]:
    """One valid signature and the ways EIP-7951 says to refuse (or, for high s and a hash ≥ n, accept) it."""
    key = ec.derive_private_key(0x6D696C6C636861696E, ec.SECP256R1())  # fixed so the cases read the same each run
    pub = key.public_key().public_numbers()
    digest = bytes.fromhex("5e4a3f0c9b2d7e8f1a6c4b3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f")
    h = int.from_bytes(digest, "big")
    r, s = _sign(key, digest)
    high_s = s if s > P256_N // 2 else P256_N - s
    low_s = P256_N - high_s
    big_digest = (P256_N + 12345).to_bytes(32, "big")  # a hash ≥ n is reduced mod n, not refused
    big_r, big_s = _sign(key, big_digest)
    # A valid vector whose key has y below 2**256 - p, so y + p still fits in 32 bytes: the same point mod p.
    small_y = next(v for v in eip_vectors() if "y-coordinate of the public key is small" in v.name and v.expected)
    sx, sy = int.from_bytes(small_y.data[96:128], "big"), int.from_bytes(small_y.data[128:160], "big")
    valid = words(h, r, low_s, pub.x, pub.y)
    return (
        Case("valid low-s", valid, VALID),
        Case(
            "valid high-s (the precompile leaves malleability to the caller)", words(h, r, high_s, pub.x, pub.y), VALID
        ),
        Case("hash >= n", words(int.from_bytes(big_digest, "big"), big_r, big_s, pub.x, pub.y), VALID),
        Case("wrong hash", words(h ^ 1, r, low_s, pub.x, pub.y), b""),
        Case("empty input", b"", b""),
        Case("159 bytes", valid[:-1], b""),
        Case("161 bytes", valid + b"\x00", b""),
        Case("320 bytes (two inputs)", valid + valid, b""),
        Case("r = 0", words(h, 0, low_s, pub.x, pub.y), b""),
        Case("s = 0", words(h, r, 0, pub.x, pub.y), b""),
        Case("r = n", words(h, P256_N, low_s, pub.x, pub.y), b""),
        Case("s = n", words(h, r, P256_N, pub.x, pub.y), b""),
        Case("point off the curve", words(h, r, low_s, pub.x, (pub.y + 1) % P256_P), b""),
        Case("point at infinity (0, 0)", words(h, r, low_s, 0, 0), b""),
        Case("qx = p (out of the field)", words(h, r, low_s, P256_P, pub.y), b""),
        Case("small-y vector as published", small_y.data, VALID),
        Case("qy + p (the same point mod p, out of the field)", small_y.data[:96] + words(sx, sy + P256_P), b""),
        Case("the other key's signature", words(h, r, low_s, pub.x, P256_P - pub.y), b""),
    )
