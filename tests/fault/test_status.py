"""At rest — machines stopped, oracle drained — what the oracle tells its operator must be what the chain says:
`oracle status --json` (last seen, last settled, pending, outbox depth) and /metrics (per-machine units seen vs
units billed on chain: the gap is the alarm, issue 12) agree with each lease's settled counter."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.fault.conftest import Rig
from tests.fault.harness import Line, chain_counter, settle_then_audit, wait_chain_reaches

pytestmark = pytest.mark.integration

GAUGES_AGREE_S = 10.0
"""How long after the chain settled the final counters /metrics may take to say so."""


def per_machine(metrics: dict[str, float], matches: Callable[[str], bool]) -> dict[str, float]:
    """{machine: value} of the oracle_* samples with a machine label whose metric name ``matches`` (the names
    are the oracle's to choose and its operator's guide documents them; the suite only needs their meaning)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = key.split("{", 1)[0]
        label = re.search(r'machine="([^"]*)"', key)
        if label and name.startswith("oracle_") and matches(name):
            out[label[1]] = out.get(label[1], 0.0) + value
    return out


def test_status_and_metrics_agree_with_the_chain_at_rest(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(2)
    line = Line(rig.devices, rig.names, seed=21).start()
    try:
        rig.oracle.start()
        wait_chain_reaches(rig.floor, {n: 1 for n in rig.names}, 60, "the first settlements", rig.oracle)
        time.sleep(3.0)
        line_finals = line.end_shift()
        settle_then_audit(rig.floor, line_finals, 30)
    finally:
        line.stop()
    time.sleep(1.0)  # the drain: the last receipts are booked
    status = rig.oracle.status()
    rows = {row["machine"]: row for row in status["machines"]}
    mismatches = []
    for name, final in line_finals.items():
        row, on_chain = rows.get(name, {}), chain_counter(rig.floor, name)
        # Issue 12: status shows the chain's view beside the outbox's and flags any difference (none at rest).
        for field, expected in (
            ("last_seen", final),
            ("last_settled", on_chain),
            ("on_chain", on_chain),
            ("pending", 0),
            ("flags", []),
        ):
            if row.get(field) != expected:
                mismatches.append(f"{name}: status {field} = {row.get(field)!r}, chain/machines say {expected}")
    if status.get("outbox_depth") != 0:
        mismatches.append(f"status outbox_depth = {status.get('outbox_depth')!r} at rest")
    assert not mismatches, "oracle status disagrees with the chain at rest:\n" + "\n".join(mismatches)

    # The gauges may lag the chain by a refresh: allow them a few seconds to agree, then judge.
    deadline = time.monotonic() + GAUGES_AGREE_S
    while True:
        metrics = rig.oracle.metrics()
        seen = per_machine(metrics, lambda name: "seen" in name)
        billed = per_machine(metrics, lambda name: ("billed" in name or "on_chain" in name) and "unbilled" not in name)
        unbilled = per_machine(metrics, lambda name: "unbilled" in name)
        gaps = {name: (seen.get(name), billed.get(name), unbilled.get(name, 0)) for name in rig.names}
        agree = bool(seen and billed) and all(s == b and u == 0 for s, b, u in gaps.values())
        if agree or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert metrics.get("oracle_outbox_depth") == 0, metrics.get("oracle_outbox_depth")
    assert seen and billed, (
        f"no per-machine seen / billed-on-chain metrics on /metrics: {sorted(k for k in metrics if 'machine=' in k)}"
    )
    assert agree, (
        f"(seen, billed on chain, unbilled) on /metrics {GAUGES_AGREE_S:.0f} s after the chain settled "
        f"the final counters {line_finals}: {gaps}"
    )
