"""The CLI benchmark's verdict (scripts/bench_cli.py): a median over its target, or more than 25 % slower than the
committed snapshot, fails; the committed snapshot itself meets the targets. No timing here."""

from __future__ import annotations

import json

from scripts.bench_cli import REGRESSION, SNAPSHOT, TARGETS, compare


def figures(median: float) -> dict[str, float]:
    return {"min": median, "median": median, "mean": median, "max": median, "runs": 10}


def test_the_committed_snapshot_meets_every_target() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert set(TARGETS) <= set(snapshot)
    assert compare({name: snapshot[name] for name in TARGETS}, snapshot) == []


def test_a_read_command_slower_than_its_snapshot_fails_while_still_under_its_target() -> None:
    # One heavy import back on the read path (requests ~0.12 s, pycryptodome's keccak ~0.1 s): still under the 0.8 s
    # target, so only the snapshot comparison catches it.
    snapshot = {"status": figures(0.33)}
    problems = compare({"status": figures(0.45)}, snapshot)
    assert problems == ["status: median 0.450 s regressed more than 25% from the snapshot's 0.330 s"]


def test_a_median_within_the_allowance_passes_and_one_over_its_target_fails() -> None:
    snapshot = {"status": figures(0.35), "help": figures(0.07)}
    assert compare({"status": figures(0.35 * (1 + REGRESSION) - 0.001)}, snapshot) == []
    assert compare({"help": figures(0.31)}, snapshot) == [
        "help: median 0.310 s is over its 0.3 s target",
        "help: median 0.310 s regressed more than 25% from the snapshot's 0.070 s",
    ]
