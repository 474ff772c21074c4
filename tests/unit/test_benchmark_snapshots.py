"""The verdict every benchmark script shares (scripts/snapshots.py): a figure worse than its target, or more than
20 % worse than the committed snapshot, is named; a better one passes; with no snapshot only the target counts."""

from __future__ import annotations

from scripts.snapshots import judge


def test_a_throughput_below_its_target_or_a_fifth_below_its_snapshot_is_named() -> None:
    assert judge("updates_per_s", 2_500, target=2_000, before=3_000) == []
    assert judge("updates_per_s", 1_900, target=2_000) == ["updates_per_s = 1900.00 misses the target 2000"]
    assert judge("updates_per_s", 2_400, target=2_000, before=3_000) == [
        "updates_per_s = 2400.00 regressed more than 20% from the snapshot 3000.00"
    ]


def test_a_latency_above_its_target_or_a_fifth_above_its_snapshot_is_named() -> None:
    assert judge("p95_s", 0.55, target=2.0, before=0.5, lower_is_better=True) == []
    assert judge("p95_s", 0.61, target=2.0, before=0.5, lower_is_better=True) == [
        "p95_s = 0.61 regressed more than 20% from the snapshot 0.50"
    ]
    assert judge("p95_s", 2.5, target=2.0, lower_is_better=True) == ["p95_s = 2.50 misses the target 2.0"]
