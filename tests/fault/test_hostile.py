"""Hostile payloads on a configured machine's topic (and on topics of machines nobody configured), with the
oracle running as an operator runs it. For every kind: the process stays alive, the message is refused with a
named reason (counted in ``oracle_readings_rejected_total{reason}``, never ``internal_error``), the attacked
machine keeps billing its genuine readings and the good machines keep billing exactly.

One floor and one oracle serve the module (setting them up costs more than all the payloads together); a kind
that kills the oracle fails its own test and the oracle is restarted for the next one.

Machines (gateway-signed unless said): m-0000 and m-0001 good, reporting after every hostile input; m-0002 the
target of the malformed payloads; m-0003 device-signed (signs its own reports); one more for each test whose
input might leave its machine refused, so that a defect fails its own test and not the ones after it."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from millchain.chain import connect
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from tests.fault.conftest import Rig, make_rig
from tests.fault.harness import (
    assert_billed_exactly,
    chain_counter,
    chain_position,
    device_signer,
    next_second,
    rejected_by_reason,
    wait_chain_reaches,
)
from tests.oracle_fixtures import running_mosquitto

pytestmark = pytest.mark.integration

MACHINES = tuple(f"m-{i:04d}" for i in range(11))
GOOD = MACHINES[0:2]
TARGET, DEVICE, RETAINED, EXTRA, DUPLICATED, REDELIVERED, SAME_SECOND, JUMP, SKEW = MACHINES[2:]
"""One machine per test that may leave it refused or quarantined, so a defect fails one test, not the rest."""
SETTLE_S = 15.0


@dataclass
class Hostile:
    rig: Rig
    counters: dict[str, int]
    """Every machine's genuine counter, as far as it was published."""
    runtimes: dict[str, int]
    used: set[str] = field(default_factory=set)

    def reading(self, name: str, units: int, timestamp: int | None = None) -> dict[str, int]:
        """``name``'s next genuine reading (``units`` more), stamped ``timestamp`` (default now)."""
        self.used.add(name)
        self.counters[name] += units
        self.runtimes[name] += 1
        return {
            "counter": self.counters[name],
            "runtime": self.runtimes[name],
            "timestamp": int(time.time()) if timestamp is None else timestamp,
        }

    def publish(self, name: str, payload: bytes | dict[str, Any], **kwargs: Any) -> None:
        if name == DEVICE and isinstance(payload, dict) and "signature" not in payload:
            payload = device_signer(self.rig.floor, DEVICE)(payload)  # type: ignore[arg-type]
        self.rig.devices.publish(name, payload, **kwargs)

    def rejections(self) -> dict[str, float]:
        return rejected_by_reason(self.rig.oracle.metrics())

    def genuine_reading_settles(self, name: str = TARGET) -> None:
        """A genuine reading from ``name`` and from each good machine a second later reaches the chain: the
        attacked machine was neither stalled nor quarantined, and the others kept billing."""
        stamp = next_second()
        for machine in (name, *GOOD):
            self.publish(machine, self.reading(machine, 3, stamp))
        wait_chain_reaches(
            self.rig.floor,
            {m: self.counters[m] for m in (name, *GOOD)},
            SETTLE_S,
            f"{name}'s genuine reading {self.counters[name]} (and the good machines') to settle "
            "after the hostile input",
            self.rig.oracle,
        )


@pytest.fixture(scope="module")
def hostile_rig(compiled: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hostile")
    node = AnvilNode(compiled, state=workdir / "anvil-state.json").start()
    try:
        with running_mosquitto(workdir / "mosquitto") as broker:
            session = Session(
                connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=workdir / "deployments"
            )
            rig = make_rig(session, node, broker, workdir, len(MACHINES), device_signed=(DEVICE,))
            assert rig.names == list(MACHINES)
            rig.oracle.start().wait_serving(60)
            try:
                yield rig
            finally:
                if rig.oracle.alive():
                    rig.oracle.terminate(15)
                rig.devices.close()
    finally:
        node.stop()


@pytest.fixture
def hostile(hostile_rig: Rig) -> Iterator[Hostile]:
    """Per test: each machine continues from where the chain has it; afterwards the oracle must be alive and
    the good machines and every machine the test used billed exactly from their genuine readings."""
    rig = hostile_rig
    if not rig.oracle.alive():  # an earlier kind killed it; that test failed, this one starts afresh
        rig.oracle.start().wait_serving(60)
    positions = {name: chain_position(rig.floor, name) for name in MACHINES}
    state = Hostile(rig, {n: c for n, (c, _) in positions.items()}, {n: r for n, (_, r) in positions.items()})
    if 0 in state.counters.values():
        # The first test anchors every lease: repeated each second, since /healthz answers before the oracle
        # has subscribed and a reading published before that reaches nobody.
        state.counters = dict.fromkeys(MACHINES, 1000)
        deadline = time.monotonic() + 30
        while any(chain_counter(rig.floor, n) < 1000 for n in MACHINES) and time.monotonic() < deadline:
            stamp = next_second()
            for name in MACHINES:
                state.publish(name, state.reading(name, 0, stamp))
            time.sleep(0.5)
        state.used.clear()
    wait_chain_reaches(rig.floor, state.counters, SETTLE_S, "every lease's anchor", rig.oracle)
    yield state
    if rig.oracle.alive():  # if not, the test failed on it already; the next test restarts the oracle
        assert_billed_exactly(rig.floor, {n: state.counters[n] for n in {*GOOD, *state.used}})


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def valid(**fields: Any) -> bytes:
    body = {"counter": 5, "runtime": 1, "timestamp": int(time.time()), **fields}
    return json.dumps(body).encode()


MALFORMED: dict[str, Callable[[], bytes]] = {
    "deep_array_100000": lambda: deep(100_000),
    "deep_object_100000": lambda: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "huge_8mb_counter_string": lambda: valid(counter="9" * 8_000_000),
    "huge_8mb_padding": lambda: valid(counter=-1, pad="x" * 8_000_000),
    "counter_5000_digits": lambda: b'{"counter": ' + b"9" * 5000 + b', "runtime": 1, "timestamp": 1}',
    "counter_nan": lambda: b'{"counter": NaN, "runtime": 1, "timestamp": 1}',
    "counter_infinity": lambda: b'{"counter": Infinity, "runtime": 1, "timestamp": 1}',
    "timestamp_minus_infinity": lambda: b'{"counter": 1, "runtime": 1, "timestamp": -Infinity}',
    "counter_string": lambda: valid(counter="1001"),
    "counter_float": lambda: valid(counter=1001.5),
    "counter_negative": lambda: valid(counter=-1),
    "counter_bool": lambda: valid(counter=True),
    "counter_null": lambda: valid(counter=None),
    "counter_list": lambda: valid(counter=[1]),
    "counter_above_uint64": lambda: valid(counter=2**64),
    "timestamp_string": lambda: valid(timestamp="2026-12-05T00:00:00Z"),
    "missing_counter": lambda: json.dumps({"runtime": 1, "timestamp": int(time.time())}).encode(),
    "json_array": lambda: b"[1, 2, 3]",
    "json_string": lambda: b'"counter"',
    "json_null": lambda: b"null",
    "empty": lambda: b"",
    "invalid_utf8": lambda: b"\xff\xfe\xfd",
    "binary_noise": lambda: random.Random(5).randbytes(4096),
    "signature_wrong_shape": lambda: valid(signature="0xdead"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_message_is_refused_by_name_and_the_machine_keeps_billing(hostile: Hostile, kind: str) -> None:
    before = hostile.rejections()
    hostile.publish(TARGET, MALFORMED[kind]())
    hostile.genuine_reading_settles()
    after = hostile.rejections()
    grown = {reason: after[reason] - before.get(reason, 0) for reason in after if after[reason] > before.get(reason, 0)}
    assert grown, f"the {kind} message was not counted as refused (rejections {after})"
    assert "internal_error" not in grown, f"the {kind} message was an internal error, not a named refusal: {grown}"


def test_retained_poison_message_does_not_crash_the_oracle_at_restart(hostile: Hostile) -> None:
    """A retained message is redelivered at every (re)subscription: the oracle must survive it each start."""
    hostile.publish(RETAINED, deep(100_000), retain=True)
    try:
        hostile.rig.oracle.kill9()
        hostile.rig.oracle.start().wait_serving(60)
        time.sleep(2.0)  # subscribed by now: the retained message has been delivered
        hostile.genuine_reading_settles(RETAINED)
    finally:
        with contextlib.suppress(AssertionError):
            hostile.publish(RETAINED, b"", retain=True)  # clears the retained message for the other tests


def test_unknown_fields_are_ignored_or_refused_and_billing_goes_on(hostile: Hostile) -> None:
    reading = hostile.reading(EXTRA, 2, next_second())
    hostile.publish(EXTRA, {**reading, "firmware": "1.2.3", "extra": {"nested": [1, 2]}, "counterX": 10**6})
    hostile.genuine_reading_settles(EXTRA)


def test_exact_duplicates_and_redeliveries_bill_once(hostile: Hostile) -> None:
    reading = hostile.reading(DUPLICATED, 4, next_second())
    for _ in range(5):
        hostile.publish(DUPLICATED, reading)
    wait_chain_reaches(
        hostile.rig.floor, {DUPLICATED: reading["counter"]}, SETTLE_S, "the duplicated reading", hostile.rig.oracle
    )
    hostile.publish(DUPLICATED, reading)  # a redelivery after it settled
    hostile.genuine_reading_settles(DUPLICATED)


def test_redelivered_older_reading_within_a_second_is_a_duplicate_not_a_reset(hostile: Hostile) -> None:
    """1001@T, 1002@T, then 1001@T again (a QoS 1 redelivery): not counter_backwards, no quarantine (issue 12, 3)."""
    second = next_second()
    first = hostile.reading(REDELIVERED, 1, second)
    newer = hostile.reading(REDELIVERED, 1, second)
    for payload in (first, newer, first):
        hostile.publish(REDELIVERED, payload)
    hostile.genuine_reading_settles(REDELIVERED)
    row = {r["machine"]: r for r in hostile.rig.oracle.status()["machines"]}[REDELIVERED]
    assert not row["machine_quarantined"], row


def test_same_second_newer_counter_is_billed_even_if_the_machine_then_falls_silent(hostile: Hostile) -> None:
    """c@T settles, then c+5@T (same device second) and nothing more: the chain must reach c+5, and `oracle
    status` must never call settled what the chain has not billed (issue 12, defect 2)."""
    floor = hostile.rig.floor
    second = next_second()
    first = hostile.reading(SAME_SECOND, 1, second)
    hostile.publish(SAME_SECOND, first)
    wait_chain_reaches(
        floor, {SAME_SECOND: first["counter"]}, SETTLE_S, "the first reading of the second", hostile.rig.oracle
    )
    later = hostile.reading(SAME_SECOND, 5, second)
    hostile.publish(SAME_SECOND, later)
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and chain_counter(floor, SAME_SECOND) < later["counter"]:
        row = {r["machine"]: r for r in hostile.rig.oracle.status()["machines"]}[SAME_SECOND]
        on_chain = chain_counter(floor, SAME_SECOND)
        assert row["last_settled"] is None or row["last_settled"] <= on_chain, (
            f"oracle status says {SAME_SECOND} settled up to {row['last_settled']}, the chain billed up to {on_chain}"
        )
        time.sleep(0.3)
    assert chain_counter(floor, SAME_SECOND) == later["counter"], (
        f"the same-second reading {later['counter']} was never billed; chain at {chain_counter(floor, SAME_SECOND)}"
    )


def test_counter_jump_within_one_second_is_refused_and_does_not_quarantine(hostile: Hostile) -> None:
    """c@T then c+900000@T: above the lease's rated rate whatever the elapsed time; the machine's next genuine
    reading must still settle (issue 12, defect 4)."""
    second = next_second()
    first = hostile.reading(JUMP, 1, second)
    hostile.publish(JUMP, first)
    jump = {**first, "counter": first["counter"] + 900_000}
    hostile.publish(JUMP, jump)
    hostile.genuine_reading_settles(JUMP)
    assert chain_counter(hostile.rig.floor, JUMP) < jump["counter"]


@pytest.mark.parametrize("offset", [3600, -3600, 10**9])
def test_timestamps_far_from_now_are_refused(hostile: Hostile, offset: int) -> None:
    before = hostile.rejections()
    bogus = {
        "counter": hostile.counters[SKEW] + 50,
        "runtime": hostile.runtimes[SKEW] + 1,
        "timestamp": int(time.time()) + offset,
    }
    hostile.publish(SKEW, bogus)
    hostile.genuine_reading_settles(SKEW)
    after = hostile.rejections()
    assert sum(after.values()) > sum(before.values()), f"a reading stamped {offset:+d} s was not refused"
    assert after.get("internal_error", 0) == before.get("internal_error", 0)


def test_unknown_machines_with_1kb_names_are_refused(hostile: Hostile) -> None:
    before = hostile.rejections().get("unknown_machine", 0)
    for i in range(200):
        hostile.rig.devices.publish(f"{i:04d}" + "u" * 1020, valid(), wait=None)
    hostile.rig.devices.publish("u" * 1024, valid())
    hostile.genuine_reading_settles(TARGET)
    assert hostile.rejections().get("unknown_machine", 0) - before >= 201


def test_bad_signatures_on_a_device_signed_machine_are_refused_and_it_keeps_billing(hostile: Hostile) -> None:
    rng = random.Random(12)
    before = hostile.rejections().get("bad_signature", 0)
    forged = device_signer(hostile.rig.floor, DEVICE, key=rng.randbytes(32))
    stamp = next_second()
    reading = {"counter": hostile.counters[DEVICE] + 7, "runtime": hostile.runtimes[DEVICE] + 1, "timestamp": stamp}
    payloads: list[dict[str, Any]] = [
        forged(reading),  # signed by a key that is not the machine's
        {**reading, "signature": {"r": "0x" + rng.randbytes(32).hex(), "vs": "0x" + rng.randbytes(32).hex()}},
        {**reading, "signature": {"r": "0x" + "00" * 32, "vs": "0x" + "00" * 32}},
        {**reading, "signature": {"r": "0x" + "ff" * 32, "vs": "0x" + "ff" * 32}},
    ]
    signed = device_signer(hostile.rig.floor, DEVICE)(reading)
    # The machine's own signature over another (plausible) counter: only the signature can tell.
    payloads.append({**signed, "counter": signed["counter"] + 5})
    for payload in payloads:
        hostile.publish(DEVICE, payload)
    hostile.genuine_reading_settles(DEVICE)
    assert hostile.rejections().get("bad_signature", 0) - before >= len(payloads)
