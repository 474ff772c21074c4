"""The main job, played on any chain: compile, deploy the suite, then a factory day across the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from millchain.demo.leasing import LeaseStory, play_lease_story
from millchain.session import Session


@dataclass
class DemoReport:
    network: str
    chain_id: int
    contracts: dict[str, str] = field(default_factory=dict)
    lease: LeaseStory | None = None
    steps: list[str] = field(default_factory=list)


def run(session: Session, *, say: Any = print) -> DemoReport:
    report = DemoReport(network=session.chain.network, chain_id=session.chain.chain_id)
    compiled = session.compile()
    how = "from cache" if compiled.cached else f"with {compiled.backend}"
    say(f"compiled {len(compiled.artifacts)} contracts {how} in {compiled.seconds:.2f} s")
    for outcome in session.deploy():
        report.contracts[outcome.name] = outcome.address
        say(f"{outcome.action:>9} {outcome.name} at {outcome.address}")

    say("[bold]Pay-per-use leasing[/bold]")
    report.lease = play_lease_story(session, say)
    return report
