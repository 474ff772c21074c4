"""The main job, played on any chain: compile, deploy the suite, then a factory day across the use cases.

Parts played by packages above the SDK (the oracle's shift of leased machines) are found through the
``millchain.demo`` entry point group, so the SDK never imports them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from millchain.demo.quality import play_quality_story
from millchain.demo.settlement import play_settlement_story
from millchain.errors import ConfigError
from millchain.session import Session

PARTS = ("leasing",)
"""Entry point names in the ``millchain.demo`` group, in the order the day plays them."""


@dataclass
class DemoReport:
    network: str
    chain_id: int
    contracts: dict[str, str] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)
    clock: str = ""
    """What the day did to a persistent node's clock (empty on the embedded chain, fresh every run)."""


def _part(name: str) -> Callable[..., Any]:
    found = {ep.name: ep for ep in entry_points(group="millchain.demo")}
    if name not in found:
        raise ConfigError(f"the demo's {name} part is not installed (entry point millchain.demo:{name}); "
                          "install the project with `pip install -e .`")
    part: Callable[..., Any] = found[name].load()
    return part


def run(session: Session, *, say: Callable[..., Any] = print, keep_state: bool = False) -> DemoReport:
    """Compile, deploy and play the day. On a node that keeps state (anvil) the day moves the node's clock by
    hours, so it is played in a snapshot that is rolled back at the end (clock included; the deployment stays)
    unless ``keep_state``; its names carry the starting block either way, so a run interrupted before the roll-back
    does not stop the next one."""
    report = DemoReport(network=session.chain.network, chain_id=session.chain.chain_id)
    compiled = session.compile()
    how = "from cache" if compiled.cached else f"with {compiled.backend}"
    say(f"compiled {len(compiled.artifacts)} contracts {how} in {compiled.seconds:.2f} s")
    for outcome in session.deploy():
        report.contracts[outcome.name] = outcome.address
        say(f"{outcome.action:>9} {outcome.name} at {outcome.address}")
    persistent = not session.chain.embedded
    tag = f"-b{session.chain.w3.eth.block_number}" if persistent else ""
    snapshot = session.chain.snapshot() if persistent and not keep_state else None
    started = session.chain.now()
    try:
        say("\n[bold]Pay-per-use leasing[/bold] (through the edge oracle)")
        report.parts["leasing"] = _part("leasing")(session, say, tag=tag)
        say("\n[bold]Quality control across firms[/bold]")
        report.parts["quality"] = play_quality_story(session, say)
        say("\n[bold]Supply-chain settlement (四流合一)[/bold]")
        report.parts["settlement"] = dataclasses.asdict(play_settlement_story(session, say, tag=tag))
    finally:
        moved = session.chain.now() - started
        if snapshot is not None:
            session.chain.revert(snapshot)
            report.clock = (f"the day moved {session.chain.network}'s clock {moved:,} s ahead; it was played in a "
                            "snapshot, now rolled back: the node's clock and state are as before the day (the "
                            "deployment stays); --keep-state keeps the day's leases, orders and clock")
        elif persistent:
            report.clock = (f"the day moved {session.chain.network}'s clock {moved:,} s ahead, for good (--keep-state):"
                            " readings stamped with the wall clock are now older than the chain's; restart the "
                            "node with `millchain node --fresh` for a clock in step with the wall")
    if report.clock:
        say(f"\n{report.clock}")
    return report
