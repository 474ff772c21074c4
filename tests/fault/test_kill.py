"""kill -9 of the oracle at seeded random moments — while it starts, while it ingests, right after the broker
acknowledged a machine's reading, while a batch is broadcast and not mined — restarted each time as systemd
would. Judged from the chain alone: every lease billed (final counter - anchor) x price, each unit once."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from tests.fault.conftest import Rig
from tests.fault.harness import (
    Line,
    chain_counter,
    relayer_in_flight,
    settle_then_audit,
    wait_chain_reaches,
    wait_for,
)

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("FAULT_KILLS", "6"))
"""Kills in the CI run; scripts/fault_soak.py runs the same scenario with 25 and more."""
SEED = int(os.environ.get("FAULT_SEED", "20261205"))
"""Issue 12: from SIGKILL to settling again ≤ 5 s with 16 encrypted machine keys (anvil mining at once)."""
RESTART_MACHINES = 16
RESTARTS = 3


def kill_at(rig: Rig, line: Line, mode: str, rng: random.Random) -> str:
    """Wait for the moment ``mode`` names, then SIGKILL the oracle; returns what actually happened."""
    oracle = rig.oracle
    if mode == "random":
        time.sleep(rng.uniform(0.0, 3.0))  # starting, decrypting keys, subscribing, ingesting, sending …
    elif mode == "in_flight":
        try:
            wait_for(lambda: relayer_in_flight(rig.floor), 8, "a batch in flight", interval=0.01)
        except AssertionError:
            mode = "in_flight (none seen within 8 s: killed anyway)"
    elif mode == "after_puback":
        oracle.wait_serving(30)
        time.sleep(rng.uniform(0.2, 1.5))
        name = rng.choice(list(line.machines))
        machine = line.machines[name]
        line.devices.publish(name, machine.tick())  # returns on the broker's PUBACK
    oracle.kill9()
    return mode


def run_kills(rig: Rig, kills: int, seed: int) -> dict[str, object]:
    """The scenario shared with scripts/fault_soak.py: ``kills`` SIGKILLs at seeded moments while the machines
    run, one more SIGKILL just before the machines publish their final readings (acknowledged by the broker
    while the oracle is down), a restart, and the chain audited. Returns the figures of the run."""
    rng = random.Random(seed)
    line = Line(rig.devices, rig.names, seed=seed, interval=0.2).start()
    modes: list[str] = []
    try:
        rig.oracle.start()
        wait_chain_reaches(rig.floor, {n: 1 for n in rig.names}, 60, "the first settlement of every lease")
        for _ in range(kills):
            modes.append(kill_at(rig, line, rng.choice(["random", "in_flight", "after_puback"]), rng))
            time.sleep(rng.choice([0.0, 0.0, rng.uniform(0.1, 2.0)]))  # readings keep arriving while it is down
            rig.oracle.start()
        # The end of the shift while the oracle is down: the broker acknowledges each machine's final reading,
        # then the machines fall silent for good. Only the oracle's session at the broker can still bring them.
        rig.oracle.kill9()
        finals = line.end_shift()
        restarted_at = time.monotonic()
        rig.oracle.start()
        settle_then_audit(rig.floor, finals, 30)
        recovery = time.monotonic() - restarted_at
    finally:
        line.stop()
    rig.oracle.wait_serving(30)  # a SIGTERM before the service installed its handlers is not the point here
    assert rig.oracle.terminate() == 0, rig.oracle.log_tail()
    return {
        "kills": kills + 1,
        "modes": {mode: modes.count(mode) for mode in sorted(set(modes))},
        "restart_to_settled_s": round(recovery, 2),
        "units": dict(finals),
        "chain": {n: chain_counter(rig.floor, n) for n in finals},
    }


@pytest.mark.anvil_args("--block-time", "1")
def test_sigkill_at_random_moments_bills_every_unit_exactly_once(rig_factory: Callable[..., Rig]) -> None:
    run_kills(rig_factory(3), KILLS, SEED)


def test_readings_published_while_the_oracle_is_down_are_billed_after_each_restart_with_16_machine_keys(
    rig_factory: Callable[..., Rig],
) -> None:
    """Readings published while the oracle is down (16 machines, 16 encrypted keys) reach the chain after each of
    three SIGKILL/restart rounds, and the shift audits exactly. How fast a restart settles again (issue 12: 5 s with
    16 keys) is a speed target, measured by `python -m scripts.bench_restart` against its snapshot, not here."""
    rig = rig_factory(RESTART_MACHINES)
    line = Line(rig.devices, rig.names, seed=SEED, interval=0.5).start()
    try:
        rig.oracle.start()
        wait_chain_reaches(rig.floor, dict.fromkeys(rig.names, 1), 60, "the first settlements", rig.oracle)
        for _ in range(RESTARTS):
            rig.oracle.kill9()
            time.sleep(1.0)  # the machines report while the oracle is down
            due = {n: m.counter for n, m in line.machines.items()}
            rig.oracle.start()
            wait_chain_reaches(rig.floor, due, 60, "the readings published while the oracle was down", rig.oracle)
        finals = line.end_shift()
        settle_then_audit(rig.floor, finals, 30)
    finally:
        line.stop()
