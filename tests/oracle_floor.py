"""A factory floor on a real chain for oracle tests: the suite deployed, machines registered with device keys
(kept in encrypted keystores, as on an edge box), each leased to a factory with escrow, and oracle settings
pointing at all of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from millchain.identity import MachineRegistryClient
from millchain.leasing import LeaseClient, LeaseTerms
from millchain.session import Session
from millchain.types import machine_id
from oracle.config import ChainSettings, MachineSettings, OracleSettings

LESSOR, LESSEE, RELAYER = 1, 2, 3
DEVICE_PASSWORD = "device-secret"
PRICE_PER_UNIT = 10_000  # 0.01 mUSD


@dataclass
class Floor:
    session: Session
    deployments: Path
    leases: dict[str, int] = field(default_factory=dict)
    device_keys: dict[str, bytes] = field(default_factory=dict)
    keystores: dict[str, Path] = field(default_factory=dict)

    def settings(self, tmp: Path, rpc_url: str, **overrides: Any) -> OracleSettings:
        machines = [MachineSettings(name=name, machine_id=name, device_keystore=self.keystores[name])
                    for name in self.leases]
        chain = ChainSettings(network="anvil", rpc_url=rpc_url, deployments=self.deployments,
                              relayer_dev_account=RELAYER, **overrides.pop("chain", {}))
        values: dict[str, Any] = {"chain": chain, "machines": machines, "outbox": tmp / "outbox.sqlite",
                                  "metrics_port": 0, "batch_window_ms": 50, **overrides}
        return OracleSettings(**values)

    def write_config(self, path: Path, rpc_url: str, **extra: Any) -> Path:
        """The same floor as an oracle.toml, for running the oracle as a separate process."""
        lines = [f'outbox = "{path.parent / "outbox.sqlite"}"', "metrics_port = 0", "batch_window_ms = 100"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
        lines += ["[chain]", 'network = "anvil"', f'rpc_url = "{rpc_url}"', f'deployments = "{self.deployments}"',
                  f"relayer_dev_account = {RELAYER}", "poll_interval_s = 0.1"]
        for name in self.leases:
            lines += ["[[machines]]", f'name = "{name}"', f'machine_id = "{name}"',
                      f'device_keystore = "{self.keystores[name]}"']
        path.write_text("\n".join(lines) + "\n")
        return path

    def lease_state(self, name: str) -> Any:
        return LeaseClient(self.session).get(self.leases[name])


def build_floor(session: Session, tmp: Path, machines: int, *, escrow: int = 10_000 * 10**6,
                max_rate_per_hour: int = 36_000) -> Floor:
    session.deploy()
    folder = session.store.folder
    assert folder is not None
    floor = Floor(session=session, deployments=folder)
    token = session.contract("SettlementToken")
    lessee = LeaseClient(session, LESSEE)
    lessor = LeaseClient(session, LESSOR)
    registry = MachineRegistryClient(session, LESSOR)
    session.tx.transact(token.functions.mint(lessee.tx.address, escrow * machines))
    session.transactor(LESSEE).transact(token.functions.approve(lessee.contract.address, escrow * machines))
    for i in range(machines):
        name = f"m-{i:04d}"
        device = Account.create()
        registry.register(machine_id(name), device.address)
        terms = LeaseTerms(token=token.address, price_per_unit=PRICE_PER_UNIT, max_rate_per_hour=max_rate_per_hour,
                           ends_at=session.chain.now() + 30 * 86400, heartbeat=3600, grace_period=600)
        lease_id = lessor.offer(machine_id(name), terms)
        lessee.tx.transact(lessee.contract.functions.open(lease_id, escrow))
        keystore = tmp / "keys" / f"{name}.json"
        keystore.parent.mkdir(parents=True, exist_ok=True)
        # pbkdf2 with few rounds keeps hundreds of test keystores fast; production keystores use scrypt.
        keystore.write_text(json.dumps(Account.encrypt(device.key, DEVICE_PASSWORD, kdf="pbkdf2", iterations=1024)))
        floor.leases[name] = lease_id
        floor.device_keys[name] = bytes(device.key)
        floor.keystores[name] = keystore
    return floor
