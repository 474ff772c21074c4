"""The log throttle under a flood of made-up keys: bounded memory, bounded log volume."""

from __future__ import annotations

import logging

import pytest

from oracle.sources import LogThrottle


def test_a_flood_of_unique_keys_keeps_the_throttle_bounded(caplog: pytest.LogCaptureFixture) -> None:
    # Defect 6: 2 x 20,000 unique 1 kB machine names kept a throttle entry each, never pruned.
    throttle = LogThrottle(logging.getLogger("oracle.test"), interval=60.0, clock=lambda: 0.0, max_keys=100)
    for i in range(20_000):
        throttle.log(logging.WARNING, f"{'x' * 1000}-{i}:unknown_machine", "rejected %s", i)
    assert len(throttle._last) <= 100 and len(throttle._suppressed) <= 100


def test_the_oldest_key_is_forgotten_first_and_a_busy_key_stays_throttled(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("oracle.test"), interval=60.0, clock=lambda: now[0], max_keys=2)
    with caplog.at_level(logging.WARNING, logger="oracle.test"):
        assert throttle.log(logging.WARNING, "busy", "busy")
        assert throttle.log(logging.WARNING, "a", "a")
        assert not throttle.log(logging.WARNING, "a", "a")
        assert throttle.log(logging.WARNING, "b", "b")  # evicts "busy", the least recently logged
        assert not throttle.log(logging.WARNING, "b", "b")
    assert [r.getMessage() for r in caplog.records] == ["busy", "a", "b"]
