"""The main job, played on any chain: compile, deploy the suite, put a machine on the ledger, report.

Later use cases extend :func:`run` with a leased machine billing itself, an inspection and an order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from millchain.identity import MachineRegistryClient
from millchain.session import Session
from millchain.types import machine_id


@dataclass
class DemoReport:
    network: str
    chain_id: int
    contracts: dict[str, str] = field(default_factory=dict)
    machines: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


def run(session: Session, *, say: Any = print) -> DemoReport:
    report = DemoReport(network=session.chain.network, chain_id=session.chain.chain_id)
    compiled = session.compile()
    how = "from cache" if compiled.cached else f"with {compiled.backend}"
    say(f"compiled {len(compiled.artifacts)} contracts {how} in {compiled.seconds:.2f} s")
    for outcome in session.deploy():
        report.contracts[outcome.name] = outcome.address
        say(f"{outcome.action:>9} {outcome.name} at {outcome.address}")

    registry = MachineRegistryClient(session)
    device = Account.create()  # the press's own key; in a factory it lives in the machine or the edge box
    label = "press-01"
    registry.register(machine_id(label), device.address)
    machine = registry.get(machine_id(label))
    report.machines.append(machine.model_dump(mode="json"))
    say(f"registered machine {label}: owner {machine.owner}, device key {machine.signer}, "
        f"status {machine.status.name}")
    return report
