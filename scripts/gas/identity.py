"""Gas of MachineRegistry and SettlementToken operations."""

from __future__ import annotations

from eth_account import Account

from millchain.identity import MachineRegistryClient
from millchain.session import Session
from millchain.types import machine_id

TARGETS: dict[str, int] = {}


def measure(session: Session) -> dict[str, int]:
    registry = MachineRegistryClient(session)
    token = session.contract("SettlementToken")
    device, rotated = Account.create(), Account.create()
    press = machine_id("gas-press")
    return {
        "register": registry.register(press, device.address)["gasUsed"],
        "rotateKey": registry.rotate_key(press, rotated.address)["gasUsed"],
        "updateMetadata": registry.update_metadata(press, b"\x07" * 32)["gasUsed"],
        "revoke": registry.revoke(press)["gasUsed"],
        "tokenMint": session.tx.transact(token.functions.mint(session.tx.address, 10**6))["gasUsed"],
        "tokenTransfer": session.tx.transact(
            token.functions.transfer(session.chain.account(1).address, 10**6))["gasUsed"],
    }
