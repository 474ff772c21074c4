"""Typed client for MachineRegistry: who owns a machine, which key signs its counters, and since when.

A machine's key is a secp256k1 key (its address) or a P-256 key, as TPMs and secure elements hold (registered by
its public key, standing on chain as its key id: :func:`p256_key_id`, with a hash of its attestation evidence).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Literal

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict

from millchain.client import ContractClient
from millchain.errors import ConfigError
from millchain.types import MachineId, label_of

if TYPE_CHECKING:  # web3: imported where used (a read-only command never does, see millchain.rpc)
    from web3.types import TxReceipt


NO_EXPIRY = 2**40 - 1
"""MachineRegistry's validUntil for the current key."""


ZERO32 = b"\0" * 32
P256_KEY_ID_TAG = b"millchain.p256"
"""P256KeyLib.TAG: a P-256 key's id is the low 20 bytes of keccak256(tag . x . y)."""

KeyType = Literal["secp256k1", "p256"]


def parse_p256_public_key(text: str | bytes) -> bytes:
    """A P-256 public key as the registry takes it, ``x ‖ y`` (64 bytes), from hex or bytes: 64 bytes, or 65 with
    the uncompressed-point prefix 0x04 (what OpenSSL, WebCrypto's raw export and TPM tools print)."""
    raw = text if isinstance(text, bytes) else _hex_bytes(text)
    if len(raw) == 65 and raw[0] == 4:
        raw = raw[1:]
    if len(raw) != 64:
        raise ConfigError(
            f"a P-256 public key is x ‖ y (64 bytes) or 04 ‖ x ‖ y (65 bytes) in hex; got {len(raw)} bytes"
        )
    return raw


def _hex_bytes(text: str) -> bytes:
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ConfigError(f"{text[:20]!r}… is not hex") from None


def p256_key_id(public_key: bytes) -> str:
    """The address a P-256 public key (``x ‖ y``) stands as on chain: P256KeyLib.keyId."""
    return to_checksum_address(keccak(P256_KEY_ID_TAG + parse_p256_public_key(public_key))[12:])


class MachineStatus(IntEnum):
    UNREGISTERED = 0
    ACTIVE = 1
    REVOKED = 2


class Machine(BaseModel):
    model_config = ConfigDict(frozen=True)

    machine_id: str
    owner: str
    signer: str
    metadata_commitment: str
    registered_at: int
    signer_since: int
    revoked_at: int
    status: MachineStatus
    key_type: KeyType = "secp256k1"
    p256_public_key: str | None = None
    """``0x`` + x ‖ y of the current key when it is P-256."""
    evidence_hash: str | None = None
    """Hash of the P-256 key's hardware attestation evidence; None when none was registered."""

    @property
    def hardware_attested(self) -> bool:
        """Whether the current key was registered with attestation evidence (a TPM's or secure element's)."""
        return self.evidence_hash is not None


class MachineRegistryClient(ContractClient):
    """Machine identities as one account (an owner, or anyone reading)."""

    CONTRACT = "MachineRegistry"

    def register(
        self, machine: MachineId, signer: str, *, owner: str | None = None, metadata: bytes = b"\0" * 32
    ) -> TxReceipt:
        owner_address = to_checksum_address(owner or self.tx.address)
        return self.tx.transact(
            self.contract.functions.register(machine, owner_address, to_checksum_address(signer), metadata)
        )

    def register_p256(
        self,
        machine: MachineId,
        public_key: bytes,
        *,
        owner: str | None = None,
        metadata: bytes = ZERO32,
        evidence_hash: bytes = ZERO32,
    ) -> TxReceipt:
        """Register ``machine`` with a P-256 key (``x ‖ y``, or 04 ‖ x ‖ y) and the hash of its attestation
        evidence (zero for none)."""
        key = parse_p256_public_key(public_key)
        owner_address = to_checksum_address(owner or self.tx.address)
        return self.tx.transact(
            self.contract.functions.registerP256(machine, owner_address, key[:32], key[32:], evidence_hash, metadata)
        )

    def rotate_key(self, machine: MachineId, new_signer: str) -> TxReceipt:
        return self.tx.transact(self.contract.functions.rotateKey(machine, to_checksum_address(new_signer)))

    def rotate_key_p256(self, machine: MachineId, public_key: bytes, *, evidence_hash: bytes = ZERO32) -> TxReceipt:
        """Rotate ``machine`` to a P-256 key; the old key (either type) stays valid only before now."""
        key = parse_p256_public_key(public_key)
        return self.tx.transact(self.contract.functions.rotateKeyP256(machine, key[:32], key[32:], evidence_hash))

    def revoke(self, machine: MachineId) -> TxReceipt:
        return self.tx.transact(self.contract.functions.revoke(machine))

    def update_metadata(self, machine: MachineId, commitment: bytes) -> TxReceipt:
        return self.tx.transact(self.contract.functions.updateMetadata(machine, commitment))

    def transfer(self, machine: MachineId, new_owner: str) -> TxReceipt:
        return self.tx.transact(self.contract.functions.transferOwnership(machine, to_checksum_address(new_owner)))

    def get(self, machine: MachineId) -> Machine:
        raw = self.reader.call("getMachine", machine)
        owner, signer, commitment, registered_at, signer_since, revoked_at, status = raw
        qx, qy = self.reader.call("p256KeyOf", signer)
        p256 = bytes(qx) != ZERO32 or bytes(qy) != ZERO32
        evidence = self.reader.call("evidenceHashOf", machine, signer) if p256 else ZERO32
        return Machine(
            key_type="p256" if p256 else "secp256k1",
            p256_public_key="0x" + (bytes(qx) + bytes(qy)).hex() if p256 else None,
            evidence_hash="0x" + bytes(evidence).hex() if p256 and bytes(evidence) != ZERO32 else None,
            machine_id=label_of(machine),
            owner=owner,
            signer=signer,
            metadata_commitment="0x" + bytes(commitment).hex(),
            registered_at=registered_at,
            signer_since=signer_since,
            revoked_at=revoked_at,
            status=MachineStatus(status),
        )

    def is_valid_signer(self, machine: MachineId, signer: str, timestamp: int) -> bool:
        return bool(self.reader.call("isValidSigner", machine, to_checksum_address(signer), timestamp))

    def key_validity(self, machine: MachineId, signer: str) -> tuple[int, int]:
        start, end = self.reader.call("keyValidity", machine, to_checksum_address(signer))
        return int(start), int(end)
