"""Gas benchmarks: each use case contributes a module with ``measure(session) -> {operation: gas}``.

``python -m scripts.gas`` prints the figures and compares them with the committed snapshot
(scripts/gas/snapshot.json); a figure more than 5 % above its snapshot is a regression and exits 1.
``--update`` rewrites the snapshot (commit it with the change that moved the numbers). The test suite runs
the same comparison (tests/test_gas_snapshot.py), so CI fails on a regression.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

from millchain.session import Session

SNAPSHOT = Path(__file__).with_name("snapshot.json")
TOLERANCE = 0.05
SCENARIOS: tuple[str, ...] = ("identity", "quality", "lease", "settlement")
"""Module names under scripts.gas, one per use case, each defining measure(session) and TARGETS."""

Measure = Callable[[Session], dict[str, int]]


def scenario(name: str) -> tuple[Measure, dict[str, int]]:
    module = importlib.import_module(f"scripts.gas.{name}")
    return module.measure, getattr(module, "TARGETS", {})


def measure_all(new_session: Callable[[], Session]) -> dict[str, dict[str, int]]:
    """Every scenario, each on the session `new_session` gives it: on the embedded chain a fresh chain each, as
    the snapshot test runs them, so what one scenario leaves behind (a token balance makes a later transfer
    cheaper) cannot move another's figures."""
    return {name: scenario(name)[0](new_session()) for name in SCENARIOS}


def load_snapshot() -> dict[str, dict[str, int]]:
    if not SNAPSHOT.is_file():
        return {}
    data: dict[str, dict[str, int]] = json.loads(SNAPSHOT.read_text())
    return data


def regressions(current: dict[str, dict[str, int]], snapshot: dict[str, dict[str, int]]) -> list[str]:
    """Every operation above its snapshot by more than TOLERANCE, or missing from the snapshot."""
    problems = []
    for group, figures in current.items():
        for op, gas in figures.items():
            before = snapshot.get(group, {}).get(op)
            if before is None:
                problems.append(f"{group}.{op}: {gas} gas has no snapshot (run `python -m scripts.gas --update`)")
            elif gas > before * (1 + TOLERANCE):
                over = 100 * (gas / before - 1)
                problems.append(f"{group}.{op}: {gas} gas is {over:.1f} % above the snapshot {before}")
    return problems


def over_target(current: dict[str, dict[str, int]]) -> list[str]:
    """Every operation above the target its use case sets."""
    problems = []
    for group, figures in current.items():
        targets = scenario(group)[1]
        for op, limit in targets.items():
            if op in figures and figures[op] > limit:
                problems.append(f"{group}.{op}: {figures[op]} gas exceeds the target {limit}")
    return problems
