"""A factory floor on a real chain for oracle tests: the suite deployed, machines registered with device keys
(kept in encrypted keystores, as on an edge box), each leased to a factory with escrow, and oracle settings
pointing at all of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from millchain.fleet import LESSEE, lease_fleet
from millchain.leasing import LeaseClient
from millchain.session import Session
from oracle.config import ChainSettings, MachineSettings, OracleSettings

RELAYER = 3
DEVICE_PASSWORD = "device-secret"
PRICE_PER_UNIT = 10_000  # 0.01 mUSD


@dataclass
class Floor:
    session: Session
    deployments: Path
    leases: dict[str, int] = field(default_factory=dict)
    device_keys: dict[str, bytes] = field(default_factory=dict)
    keystores: dict[str, Path] = field(default_factory=dict)

    def settings(self, tmp: Path, rpc_url: str, *, machine_fields: dict[str, Any] | None = None,
                 **overrides: Any) -> OracleSettings:
        machines = [MachineSettings(name=name, machine_id=name, device_keystore=self.keystores[name],
                                    **(machine_fields or {}).get(name, {}))
                    for name in self.leases]
        chain = ChainSettings(network="anvil", rpc_url=rpc_url, deployments=self.deployments,
                              relayer_dev_account=RELAYER, **overrides.pop("chain", {}))
        values: dict[str, Any] = {"chain": chain, "machines": machines, "outbox": tmp / "outbox.sqlite",
                                  "metrics_port": 0, "batch_window_ms": 50, **overrides}
        return OracleSettings(**values)

    def write_config(self, path: Path, rpc_url: str, *, mqtt_port: int | None = None, **extra: Any) -> Path:
        """The same floor as an oracle.toml, for running the oracle as a separate process."""
        lines = [f'outbox = "{path.parent / "outbox.sqlite"}"', "metrics_port = 0", "batch_window_ms = 100"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
        lines += ["[chain]", 'network = "anvil"', f'rpc_url = "{rpc_url}"', f'deployments = "{self.deployments}"',
                  f"relayer_dev_account = {RELAYER}", "poll_interval_s = 0.1"]
        if mqtt_port is not None:
            lines += ["[mqtt]", 'host = "127.0.0.1"', f"port = {mqtt_port}"]
        for name in self.leases:
            lines += ["[[machines]]", f'name = "{name}"', f'machine_id = "{name}"',
                      f'device_keystore = "{self.keystores[name]}"']
        path.write_text("\n".join(lines) + "\n")
        return path

    def top_up(self, name: str, amount: int) -> None:
        """The factory pays more into a lease (minted first: the test token is free)."""
        lessee = LeaseClient(self.session, LESSEE)
        token = self.session.contract("SettlementToken")
        self.session.tx.transact(token.functions.mint(lessee.tx.address, amount))
        lessee.top_up(self.leases[name], amount)

    def lease_state(self, name: str) -> Any:
        return LeaseClient(self.session).get(self.leases[name])


def build_floor(session: Session, tmp: Path, machines: int, *, escrow: int = 10_000 * 10**6,
                max_rate_per_hour: int = 36_000, price_per_unit: int = PRICE_PER_UNIT) -> Floor:
    session.deploy()
    folder = session.store.folder
    assert folder is not None
    floor = Floor(session=session, deployments=folder)
    names = [f"m-{i:04d}" for i in range(machines)]
    for leased in lease_fleet(session, names, escrow=escrow, price_per_unit=price_per_unit,
                              max_rate_per_hour=max_rate_per_hour):
        keystore = tmp / "keys" / f"{leased.name}.json"
        keystore.parent.mkdir(parents=True, exist_ok=True)
        # pbkdf2 with few rounds keeps hundreds of test keystores fast; production keystores use scrypt.
        encrypted = Account.encrypt(leased.device_key, DEVICE_PASSWORD, kdf="pbkdf2", iterations=1024)
        keystore.write_text(json.dumps(encrypted))
        floor.leases[leased.name] = leased.lease_id
        floor.device_keys[leased.name] = leased.device_key
        floor.keystores[leased.name] = keystore
    return floor
