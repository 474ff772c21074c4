"""A leased fleet in one call: machines registered with fresh device keys, each offered and leased with
escrow. For demos, benchmarks and tests of the oracle; a factory does the same through the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

from millchain.events import decode_events
from millchain.identity import MachineRegistryClient
from millchain.leasing import LeaseClient, LeaseTerms
from millchain.session import Session
from millchain.types import machine_id

LESSOR, LESSEE = 1, 2
"""Development accounts playing the machine maker and the factory."""
SETUP_GAS = 400_000
"""Fixed gas for each setup transaction (above what register, offer and open need), so none is estimated."""


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
    devices = [Account.create() for _ in names]
    registry.tx.send_many([registry.tx.call_data(registry.contract.functions.register(
        machine_id(name), registry.tx.address, device.address, b"\0" * 32)) for name, device in zip(names, devices,
                                                                                                 strict=True)],
        gas=SETUP_GAS)
    ends_at = session.chain.now() + days * 86400
    terms = LeaseTerms(token=token.address, price_per_unit=price_per_unit, max_rate_per_hour=max_rate_per_hour,
                       ends_at=ends_at, heartbeat=heartbeat, grace_period=grace_period)
    offers = lessor.tx.send_many([lessor.tx.call_data(lessor.contract.functions.offer(machine_id(name),
                                                                                        terms.as_tuple()))
                                  for name in names], gas=SETUP_GAS)
    lease_ids = [int(event["args"]["leaseId"]) for receipt in offers
                 for event in decode_events(lessor.contract, receipt) if event["event"] == "LeaseOffered"]
    lessee.tx.send_many([lessee.tx.call_data(lessee.contract.functions.open(lease_id, escrow))
                         for lease_id in lease_ids], gas=SETUP_GAS)
    return [LeasedMachine(name=name, lease_id=lease_id, device_key=bytes(device.key))
            for name, lease_id, device in zip(names, lease_ids, devices, strict=True)]
