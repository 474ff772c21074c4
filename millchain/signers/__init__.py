"""Device keys behind one small interface: ``sign(digest) -> signature``, ``public_key``, ``key_type``.

Backends side by side — a software secp256k1 key (:class:`~millchain.signers.software.Secp256k1SoftwareSigner`),
a software P-256 key (:class:`~millchain.signers.software.P256SoftwareSigner`) and a P-256 key that never leaves a
TPM 2.0 (:class:`~millchain.signers.tpm.TpmSigner`). Nothing above this interface knows where a key lives.

The contract every backend keeps:

- ``sign(digest)`` signs the 32-byte ``digest`` *as the hash* ECDSA works on (no further hashing), and returns 64
  bytes: for secp256k1 ``r ‖ vs`` (EIP-2098 compact, low s, v's parity in the top bit, what ecrecover needs); for
  P-256 ``r ‖ s`` with low s (``s ≤ n/2``).
- ``public_key`` is the uncompressed point without its 0x04 prefix, ``x ‖ y`` (64 bytes); for P-256 that is what
  the P256VERIFY precompile takes as ``qx ‖ qy``.

What a P-256 device signs for a UsageReport (agreed with the lease contract): the ECDSA hash is
``sha256(eip712Digest)``, so any standard "hash-then-sign with SHA-256" implementation — WebCrypto's ECDSA/SHA-256,
``openssl dgst -sha256 -sign``, a secure element's sign-message command — produces it from the 32-byte EIP-712
digest, and the contract checks it with the SHA-256 precompile and P256VERIFY. :func:`sign_usage_report_digest`
builds that signature from a digest for any backend; :func:`verify_usage_report_signature` checks one off-chain
exactly as the chain does.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol, runtime_checkable

from millchain.errors import MillchainError
from millchain.p256_precompile import P256_N, VALID, p256_verify
from millchain.typed_data import UsageReport, UsageReportHasher

KeyType = Literal["secp256k1", "p256"]
KEY_TYPES: tuple[KeyType, ...] = ("secp256k1", "p256")


class SignerError(MillchainError):
    """A signing backend refused or failed; the message never contains key material."""


@runtime_checkable
class Signer(Protocol):
    """A device key, wherever it lives."""

    @property
    def key_type(self) -> KeyType:
        """``"secp256k1"`` or ``"p256"``."""
        ...

    @property
    def public_key(self) -> bytes:
        """``x ‖ y``, 64 bytes."""
        ...

    def sign(self, digest: bytes) -> bytes:
        """64-byte low-s signature of the 32-byte ``digest`` (see the module docstring for the layout)."""
        ...


def _check_digest(digest: bytes) -> None:
    if len(digest) != 32:
        raise SignerError(f"a digest to sign is 32 bytes, got {len(digest)}")


def normalize_low_s(signature: bytes) -> bytes:
    """The P-256 ``r ‖ s`` with ``s`` replaced by ``n - s`` when ``s > n/2``: the same signature's other form,
    the one the lease accepts (both verify; accepting only one keeps a report's signature unique)."""
    if len(signature) != 64:
        raise SignerError(f"a P-256 signature is r ‖ s, 64 bytes, got {len(signature)}")
    s = int.from_bytes(signature[32:], "big")
    if not 0 < s < P256_N:
        raise SignerError("P-256 signature has s outside [1, n-1]")
    if s > P256_N // 2:
        s = P256_N - s
    return signature[:32] + s.to_bytes(32, "big")


def is_low_s(signature: bytes) -> bool:
    """True when the 64-byte P-256 ``r ‖ s`` has ``1 ≤ s ≤ n/2``."""
    s = int.from_bytes(signature[32:64], "big")
    return len(signature) == 64 and 0 < s <= P256_N // 2


def usage_report_p256_hash(eip712_digest: bytes) -> bytes:
    """The ECDSA hash a P-256 device signs for a UsageReport: ``sha256(eip712Digest)``."""
    _check_digest(eip712_digest)
    return hashlib.sha256(eip712_digest).digest()


def sign_usage_report_digest(signer: Signer, eip712_digest: bytes) -> bytes:
    """The signature a lease accepts for the UsageReport whose EIP-712 digest is ``eip712_digest``, from any
    backend: secp256k1 signs the digest itself (``r ‖ vs``); P-256 signs ``sha256(digest)`` (``r ‖ s``, low s)."""
    _check_digest(eip712_digest)
    if signer.key_type == "secp256k1":
        return signer.sign(eip712_digest)
    if signer.key_type == "p256":
        return normalize_low_s(signer.sign(usage_report_p256_hash(eip712_digest)))
    raise SignerError(f"unknown key type {signer.key_type!r}: expected one of {', '.join(KEY_TYPES)}")


def sign_usage_report(signer: Signer, hasher: UsageReportHasher, report: UsageReport) -> bytes:
    """:func:`sign_usage_report_digest` of ``report``'s EIP-712 digest under ``hasher``'s lease domain."""
    return sign_usage_report_digest(signer, hasher.digest(report))


def p256verify_input(hash32: bytes, signature: bytes, public_key: bytes) -> bytes:
    """The 160-byte call data of P256VERIFY (0x100): ``h ‖ r ‖ s ‖ qx ‖ qy``."""
    if len(hash32) != 32 or len(signature) != 64 or len(public_key) != 64:
        raise SignerError(
            f"P256VERIFY takes a 32-byte hash, a 64-byte r ‖ s and a 64-byte x ‖ y; got "
            f"{len(hash32)}, {len(signature)}, {len(public_key)}"
        )
    return hash32 + signature + public_key


def verify_usage_report_signature(public_key: bytes, eip712_digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the P-256 signature a lease accepts for ``eip712_digest`` under ``public_key``:
    low s, and P256VERIFY (the same code the embedded chain runs) on ``sha256(digest)``."""
    if not is_low_s(signature):
        return False
    return p256_verify(p256verify_input(usage_report_p256_hash(eip712_digest), signature, public_key)) == VALID


__all__ = [
    "KEY_TYPES",
    "KeyType",
    "Signer",
    "SignerError",
    "is_low_s",
    "normalize_low_s",
    "p256verify_input",
    "sign_usage_report",
    "sign_usage_report_digest",
    "usage_report_p256_hash",
    "verify_usage_report_signature",
]
