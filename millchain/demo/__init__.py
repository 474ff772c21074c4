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

from millchain.demo.settlement import play_settlement_story
from millchain.errors import ConfigError
from millchain.quality import play_quality_story
from millchain.session import Session

PARTS = ("leasing",)
"""Entry point names in the ``millchain.demo`` group, in the order the day plays them."""


@dataclass
class DemoReport:
    network: str
    chain_id: int
    contracts: dict[str, str] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)


def _part(name: str) -> Callable[[Session, Callable[..., Any]], Any]:
    found = {ep.name: ep for ep in entry_points(group="millchain.demo")}
    if name not in found:
        raise ConfigError(f"the demo's {name} part is not installed (entry point millchain.demo:{name}); "
                          "install the project with `pip install -e .`")
    part: Callable[[Session, Callable[..., Any]], Any] = found[name].load()
    return part


def run(session: Session, *, say: Callable[..., Any] = print) -> DemoReport:
    report = DemoReport(network=session.chain.network, chain_id=session.chain.chain_id)
    compiled = session.compile()
    how = "from cache" if compiled.cached else f"with {compiled.backend}"
    say(f"compiled {len(compiled.artifacts)} contracts {how} in {compiled.seconds:.2f} s")
    for outcome in session.deploy():
        report.contracts[outcome.name] = outcome.address
        say(f"{outcome.action:>9} {outcome.name} at {outcome.address}")
    say("\n[bold]Pay-per-use leasing[/bold] (through the edge oracle)")
    report.parts["leasing"] = _part("leasing")(session, say)
    say("\n[bold]Quality control across firms[/bold]")
    report.parts["quality"] = play_quality_story(session, say)
    say("\n[bold]Supply-chain settlement (四流合一)[/bold]")
    report.parts["settlement"] = dataclasses.asdict(play_settlement_story(session, say))
    return report
