"""A leased fleet in one call: machines registered with fresh device keys, each offered and leased with
escrow. For demos, benchmarks and tests of the oracle; a factory does the same through the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

from millchain.identity import MachineRegistryClient
from millchain.leasing import LeaseClient, LeaseTerms
from millchain.session import Session
from millchain.types import machine_id

LESSOR, LESSEE = 1, 2
"""Development accounts playing the machine maker and the factory."""


@dataclass(frozen=True)
class LeasedMachine:
    name: str
    lease_id: int
    device_key: bytes  # in memory only: the caller decides where (if anywhere) it is stored, encrypted

    @property
    def machine_id(self) -> bytes:
        return machine_id(self.name)


def lease_fleet(session: Session, names: list[str], *, escrow: int, price_per_unit: int, max_rate_per_hour: int,
                days: int = 30, heartbeat: int = 3600, grace_period: int = 600) -> list[LeasedMachine]:
    """Register ``names`` for the lessor, offer each, open each for the lessee with ``escrow`` (minted)."""
    token = session.contract("SettlementToken")
    lessor = LeaseClient(session, LESSOR)
    lessee = LeaseClient(session, LESSEE)
    registry = MachineRegistryClient(session, LESSOR)
    total = escrow * len(names)
    session.tx.transact(token.functions.mint(lessee.tx.address, total))
    lessee.tx.transact(token.functions.approve(lessee.contract.address, total))
    fleet = []
    for name in names:
        device = Account.create()
        registry.register(machine_id(name), device.address)
        terms = LeaseTerms(token=token.address, price_per_unit=price_per_unit, max_rate_per_hour=max_rate_per_hour,
                           ends_at=session.chain.now() + days * 86400, heartbeat=heartbeat, grace_period=grace_period)
        lease_id = lessor.offer(machine_id(name), terms)
        lessee.tx.transact(lessee.contract.functions.open(lease_id, escrow))
        fleet.append(LeasedMachine(name=name, lease_id=lease_id, device_key=bytes(device.key)))
    return fleet
