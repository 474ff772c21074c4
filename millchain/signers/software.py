"""Software device keys: secp256k1 (coincurve, as :mod:`millchain.typed_data` signs) and P-256 (``cryptography``).

A software key is as safe as the box it sits on: whoever can read the process memory or the key file can sign.
They serve development, machines without a secure element, and tests; see docs/security.md for what each mode
allows. Keys are only ever written encrypted, and neither ``repr`` nor an error message shows one.
"""

from __future__ import annotations

import os
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from eth_utils import keccak, to_checksum_address

from millchain.signers import KeyType, SignerError, _check_digest, normalize_low_s
from millchain.typed_data import sign_compact

_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


class Secp256k1SoftwareSigner:
    """A secp256k1 key in memory; ``sign`` gives ``r ‖ vs`` (EIP-2098), the shape the lease's reports carry."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise SignerError("a secp256k1 private key is 32 bytes")
        try:
            self._key = coincurve.PrivateKey(private_key)
        except ValueError:
            raise SignerError("not a valid secp256k1 private key (zero or not below the group order)") from None
        self._public = self._key.public_key.format(compressed=False)[1:]

    @property
    def key_type(self) -> KeyType:
        return "secp256k1"

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def address(self) -> str:
        """The Ethereum address of the key: what MachineRegistry records for a secp256k1 machine."""
        return str(to_checksum_address(keccak(self._public)[-20:]))

    def sign(self, digest: bytes) -> bytes:
        _check_digest(digest)
        r, vs = sign_compact(self._key, digest)
        return r + vs

    def __repr__(self) -> str:
        return f"Secp256k1SoftwareSigner(address={self.address})"


class P256SoftwareSigner:
    """A P-256 key in memory (OpenSSL through ``cryptography``); ``sign`` gives ``r ‖ s`` with low s."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise SignerError(f"a P-256 signer needs a secp256r1 key, got {private_key.curve.name}")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self._public = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")

    @classmethod
    def generate(cls) -> P256SoftwareSigner:
        """A fresh key from the operating system's randomness."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path: Path, password: bytes) -> P256SoftwareSigner:
        """The key of an encrypted PKCS#8 PEM file written by :meth:`save` (or ``openssl pkcs8 -topk8``)."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=password)
        except FileNotFoundError:
            raise SignerError(f"key file {path} does not exist") from None
        except (ValueError, TypeError):
            # cryptography's message may quote the file's structure; say only what the user must fix.
            msg = f"cannot unlock the P-256 key in {path}: wrong password or not an encrypted PEM key"
            raise SignerError(msg) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SignerError(f"{path} holds a {type(key).__name__}, not a P-256 key")
        return cls(key)

    def save(self, path: Path, password: bytes) -> None:
        """Write the key encrypted (PKCS#8, the best encryption the library offers) to a new file readable by the
        owner only; refuses an empty password and an existing file."""
        if not password:
            raise SignerError("refusing to write a private key without a password")
        if path.exists():
            raise SignerError(f"{path} already exists; refusing to overwrite a key file")
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)

    @property
    def key_type(self) -> KeyType:
        return "p256"

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, digest: bytes) -> bytes:
        _check_digest(digest)
        r, s = decode_dss_signature(self._key.sign(digest, _ECDSA_PREHASHED))
        return normalize_low_s(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def __repr__(self) -> str:
        return f"P256SoftwareSigner(public_key=0x{self._public.hex()})"
