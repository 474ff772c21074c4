"""Floods against a running oracle, judged from the chain and /proc:

- one device-signed machine sends 1,000 bad-signature messages a second for 10 s while good machines report:
  the good machines' settlement latency (a reading acknowledged by the broker -> its counter on chain) stays
  within twice the quiet latency measured on the same floor just before, plus one second (median);
- 2 x 20,000 messages on unique 1 kB machine names nobody configured: the oracle's resident memory after the
  second flood is within 8 MiB of what it was after the first (a leak of the names alone would be 20 MB) and
  within 150 MiB in all (the performance target), and each flood adds at most 64 KiB to its log.
Good machines are billed exactly throughout."""

from __future__ import annotations

import itertools
import json
import random
import statistics
import threading
import time
from collections.abc import Callable

import pytest

from tests.fault.conftest import Rig
from tests.fault.harness import (
    Devices,
    Line,
    chain_counter,
    next_second,
    rejected_by_reason,
    settle_then_audit,
    wait_chain_reaches,
    wait_for,
)

pytestmark = pytest.mark.integration

FLOOD_RATE = 1_000
FLOOD_SECONDS = 10.0
UNKNOWN_NAMES = 20_000
NAME_BYTES = 1024
RSS_SECOND_FLOOD_KIB = 8 * 1024
RSS_TOTAL_KIB = 150 * 1024
LOG_PER_FLOOD_BYTES = 64 * 1024


class Sampler:
    """Settlement latency of good machines: publish a reading (next second, a few units more), wait for the
    broker's PUBACK, then time until the chain's counter for the lease reaches it."""

    def __init__(self, rig: Rig, names: list[str]) -> None:
        self.rig = rig
        self.names = names
        self.counters = {n: chain_counter(rig.floor, n) for n in names}
        self.runtime = 10
        self.turn = 0

    def anchor(self, timeout: float = 30.0) -> None:
        """A first reading each second until every lease settled one: the oracle answers /healthz before it
        has subscribed, and what is published before that reaches nobody."""
        deadline = time.monotonic() + timeout
        while any(chain_counter(self.rig.floor, n) < self.counters[n] + 3 for n in self.names):
            assert time.monotonic() < deadline, "the good machines' first readings did not settle"
            stamp = next_second()
            for name in self.names:
                self.rig.devices.publish(
                    name, {"counter": self.counters[name] + 3, "runtime": self.runtime, "timestamp": stamp}
                )
            time.sleep(0.3)
        self.counters = {n: c + 3 for n, c in self.counters.items()}

    def sample(self, timeout: float = 30.0) -> float:
        name = self.names[self.turn % len(self.names)]
        self.turn += 1
        self.counters[name] += 3
        self.runtime += 1
        stamp = next_second()
        self.rig.devices.publish(name, {"counter": self.counters[name], "runtime": self.runtime, "timestamp": stamp})
        started = time.monotonic()
        try:
            wait_chain_reaches(
                self.rig.floor, {name: self.counters[name]}, timeout, f"{name}'s sample", self.rig.oracle
            )
        except AssertionError:
            if not self.rig.oracle.alive():
                raise
            return float("inf")
        return time.monotonic() - started


def flood_bad_signatures(port: int, name: str, lease_id: int, rate: int, seconds: float) -> dict[str, float]:
    """From the machine's own connection: ``rate`` messages/s, each a fresh counter signed by nobody."""
    devices = Devices(port, client_id=f"flood-{name}")
    rng = random.Random(13)
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                sent += 1
                body = {
                    "counter": 10_000_000 + sent,
                    "runtime": sent,
                    "timestamp": int(time.time()),
                    "leaseId": hex(lease_id),
                    "signature": {"r": "0x" + rng.randbytes(32).hex(), "vs": "0x" + rng.randbytes(32).hex()},
                }
                devices.publish(name, json.dumps(body).encode(), wait=None)
            time.sleep(0.005)
    finally:
        devices.close()
    return {"sent": sent, "seconds": time.monotonic() - started}


def test_bad_signature_flood_from_one_machine_keeps_good_machines_latency(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(3, device_signed=("m-0002",))
    good = ["m-0000", "m-0001"]
    rig.oracle.start().wait_serving(60)
    sampler = Sampler(rig, good)
    sampler.anchor()
    quiet = [sampler.sample() for _ in range(6)]
    before = rejected_by_reason(rig.oracle.metrics()).get("bad_signature", 0)
    result: dict[str, float] = {}
    flood = threading.Thread(
        target=lambda: result.update(
            flood_bad_signatures(rig.broker.port, "m-0002", rig.floor.leases["m-0002"], FLOOD_RATE, FLOOD_SECONDS)
        )
    )
    flood.start()
    flooded = []
    while flood.is_alive() or len(flooded) < 3:
        flooded.append(sampler.sample())
    flood.join()
    assert rig.oracle.alive(), rig.oracle.log_tail()
    refused = rejected_by_reason(rig.oracle.metrics()).get("bad_signature", 0) - before
    settle_then_audit(rig.floor, sampler.counters, 30)
    quiet_median, flood_median = statistics.median(quiet), statistics.median(flooded)
    figures = (
        f"quiet median {quiet_median:.2f} s {[round(q, 2) for q in quiet]}, flood median {flood_median:.2f} s "
        f"{[round(f, 2) for f in flooded]}, flood {result}, bad_signature refusals {refused:.0f}"
    )
    print(figures)
    assert result["sent"] >= FLOOD_RATE * FLOOD_SECONDS * 0.9, figures
    assert flood_median <= 2 * quiet_median + 1.0, figures


def unknown_flood(rig: Rig, offset: int) -> None:
    devices = Devices(rig.broker.port, client_id=f"unknown-{offset}")
    try:
        info = None
        for i in range(UNKNOWN_NAMES):
            name = f"{offset + i:08d}".ljust(NAME_BYTES, "z")
            info = devices.publish(name, b'{"counter":1,"runtime":1,"timestamp":1}', wait=None)
        assert info is not None
        info.wait_for_publish(120)
    finally:
        devices.close()


def test_unknown_name_floods_keep_memory_and_logs_bounded(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(1)
    line = Line(rig.devices, rig.names, seed=17, interval=0.5).start()
    try:
        rig.oracle.start().wait_serving(60)
        wait_chain_reaches(rig.floor, {n: 1 for n in rig.names}, 60, "the first settlement", rig.oracle)

        def refused() -> float:
            return rejected_by_reason(rig.oracle.metrics()).get("unknown_machine", 0)

        unknown_flood(rig, 90_000_000)  # warm-up: 1/20 of a flood would do, a whole one makes the baseline fair
        wait_for(lambda: refused() >= UNKNOWN_NAMES, 120, "the warm-up flood to be refused")
        time.sleep(1.0)
        rss = [rig.oracle.rss_kib()]
        logs = [rig.oracle.log_bytes()]
        for flood in range(2):
            target = refused() + UNKNOWN_NAMES
            unknown_flood(rig, flood * UNKNOWN_NAMES)
            wait_for(lambda t=target: refused() >= t, 120, f"flood {flood + 1} to be refused")
            time.sleep(1.0)
            assert rig.oracle.alive(), rig.oracle.log_tail()
            rss.append(rig.oracle.rss_kib())
            logs.append(rig.oracle.log_bytes())
        finals = line.end_shift()
        settle_then_audit(rig.floor, finals, 30)
    finally:
        line.stop()
    figures = f"RSS KiB after warm-up, flood 1, flood 2: {rss}; log bytes: {logs}"
    print(figures)
    assert rss[2] - rss[1] <= RSS_SECOND_FLOOD_KIB, figures
    assert max(rss) <= RSS_TOTAL_KIB, figures
    assert all(b - a <= LOG_PER_FLOOD_BYTES for a, b in itertools.pairwise(logs)), figures
