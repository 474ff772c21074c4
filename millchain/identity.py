"""Typed client for MachineRegistry: who owns a machine, which key signs its counters, and since when."""

from __future__ import annotations

from enum import IntEnum

from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict
from web3.types import TxReceipt

from millchain.session import Session
from millchain.types import MachineId, label_of

NO_EXPIRY = 2**40 - 1
"""MachineRegistry's validUntil for the current key."""


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


class MachineRegistryClient:
    def __init__(self, session: Session, account_index: int | None = None) -> None:
        self.session = session
        self.contract = session.contract("MachineRegistry")
        self.tx = session.transactor(account_index)

    def register(
        self, machine: MachineId, signer: str, *, owner: str | None = None, metadata: bytes = b"\0" * 32
    ) -> TxReceipt:
        owner_address = to_checksum_address(owner or self.tx.address)
        return self.tx.transact(
            self.contract.functions.register(machine, owner_address, to_checksum_address(signer), metadata)
        )

    def rotate_key(self, machine: MachineId, new_signer: str) -> TxReceipt:
        return self.tx.transact(self.contract.functions.rotateKey(machine, to_checksum_address(new_signer)))

    def revoke(self, machine: MachineId) -> TxReceipt:
        return self.tx.transact(self.contract.functions.revoke(machine))

    def update_metadata(self, machine: MachineId, commitment: bytes) -> TxReceipt:
        return self.tx.transact(self.contract.functions.updateMetadata(machine, commitment))

    def transfer(self, machine: MachineId, new_owner: str) -> TxReceipt:
        return self.tx.transact(
            self.contract.functions.transferOwnership(machine, to_checksum_address(new_owner))
        )

    def get(self, machine: MachineId) -> Machine:
        raw = self.tx.call(self.contract.functions.getMachine(machine))
        owner, signer, commitment, registered_at, signer_since, revoked_at, status = raw
        return Machine(
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
        return bool(
            self.tx.call(self.contract.functions.isValidSigner(machine, to_checksum_address(signer), timestamp))
        )

    def key_validity(self, machine: MachineId, signer: str) -> tuple[int, int]:
        start, end = self.tx.call(self.contract.functions.keyValidity(machine, to_checksum_address(signer)))
        return int(start), int(end)
