"""Gas of MachineRegistry and SettlementToken operations."""

from __future__ import annotations

from eth_account import Account

from millchain.identity import MachineRegistryClient
from millchain.session import Session
from millchain.signers.software import P256SoftwareSigner
from millchain.types import machine_id

TARGETS: dict[str, int] = {}


def measure(session: Session) -> dict[str, int]:
    registry = MachineRegistryClient(session)
    token = session.contract("SettlementToken")
    device, rotated = Account.create(), Account.create()
    press, lathe = machine_id("gas-press"), machine_id("gas-lathe")
    # P-256 keys (TPM, secure element): the point is checked on the curve and recorded with its evidence hash.
    tpm_key, tpm_rotated = P256SoftwareSigner.generate().public_key, P256SoftwareSigner.generate().public_key
    return {
        "register": registry.register(press, device.address)["gasUsed"],
        "rotateKey": registry.rotate_key(press, rotated.address)["gasUsed"],
        "updateMetadata": registry.update_metadata(press, b"\x07" * 32)["gasUsed"],
        "revoke": registry.revoke(press)["gasUsed"],
        "registerP256": registry.register_p256(lathe, tpm_key, evidence_hash=b"\x05" * 32)["gasUsed"],
        "rotateKeyP256": registry.rotate_key_p256(lathe, tpm_rotated, evidence_hash=b"\x06" * 32)["gasUsed"],
        "tokenMint": session.tx.transact(token.functions.mint(session.tx.address, 10**6))["gasUsed"],
        "tokenTransfer": session.tx.transact(
            token.functions.transfer(session.chain.account(1).address, 10**6))["gasUsed"],
    }
