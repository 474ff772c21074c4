"""The oracle under the lease's clock rule (IEquipmentLease, "Time"): readings dated after the chain's time are
held back with a named reason, what passes with time is never quarantined nor settled, and the plausibility the
oracle checks before sending is the contract's, on the time the chain will store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from millchain.leasing import SkipReason
from oracle.outbox import AcceptedReading, Attempt, Outbox, Outcome, PendingReading
from oracle.status import flags
from oracle.submitter import MAX_TRIES, ChainLease, Submitter, _implausible

MID = b"press-01".ljust(32, b"\0")
RATE = 36_000  # units an hour: 10 a second
LEASE = (RATE << 32) | 7  # the lease id carries the rated rate (bits 32..63), as the contract reads it


def pending(counter: int, timestamp: int, runtime: int = 0, machine: str = "press-01") -> PendingReading:
    return PendingReading(1, machine, MID, LEASE, counter, runtime, timestamp, b"\1" * 32, b"\2" * 32, 0.0)


def accepted(counter: int, timestamp: int) -> AcceptedReading:
    return AcceptedReading(
        machine="press-01",
        machine_id=MID,
        lease_id=LEASE,
        counter=counter,
        runtime=0,
        timestamp=timestamp,
        r=b"\1" * 32,
        vs=b"\2" * 32,
        device_counter=counter,
        device_runtime=0,
        received_at=0.0,
    )


BASE = ChainLease(anchored=True, last_counter=1000, last_timestamp=5000, last_runtime=0)


def test_a_reading_within_the_rate_on_the_time_the_chain_stores_is_plausible() -> None:
    assert _implausible(pending(1100, 5010, runtime=10), BASE, chain_time=5010) is None


def test_device_seconds_the_chain_has_not_seen_do_not_count_towards_the_rate() -> None:
    # 100 units over 10 s of device time pass on the device's clock; on the chain's, only 2 s have passed
    # (the lease stores min(timestamp, block time)), so the lease would flag them: the oracle does not send.
    why = _implausible(pending(1100, 5010), BASE, chain_time=5002)
    assert why == (
        "100 units in 2 s since the chain's report at 5000 exceed the rated 36000/h (at most 20); "
        "a newer reading carries them"
    )


def test_runtime_beyond_the_interval_plus_one_second_is_implausible() -> None:
    assert _implausible(pending(1001, 5002, runtime=3), BASE, chain_time=5002) is None
    why = _implausible(pending(1001, 5002, runtime=4), BASE, chain_time=5002)
    assert why is not None and why.startswith("runtime +4 s in 2 s")


@pytest.mark.parametrize(
    "base, reading",
    [
        (ChainLease(anchored=False, last_counter=0, last_timestamp=5000), pending(10**9, 5001)),  # the anchor
        (BASE, pending(5000, 5000)),  # stale: the contract's skip names it
        (BASE, pending(999, 5001)),  # backwards: likewise
    ],
)
def test_what_the_contract_refuses_for_another_reason_is_left_to_it(base: ChainLease, reading: PendingReading) -> None:
    assert _implausible(reading, base, chain_time=6000) is None


def test_held_readings_wait_with_their_reason_in_status_and_are_not_sent_before_their_time(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([accepted(1000, int(time.time()) + 20)])
    [held] = box.pending(10)
    box.hold([(held.id, "awaiting_chain_time: dated later than the chain", time.time() + 60)])
    assert box.pending(10) == [] and box.count_pending(10) == 0
    assert box.waiting() == {"awaiting_chain_time": 1}
    [row] = box.status()
    assert (row["pending"], row["waiting_reasons"], row["last_settled"]) == (1, ["awaiting_chain_time"], None)
    assert flags({**row, "on_chain": 0}) == ["1000 units seen, not billed yet (waiting: awaiting_chain_time)"]
    box.hold([(held.id, "awaiting_chain_time: dated later than the chain", time.time() - 1)])
    assert [r.id for r in box.pending(10)] == [held.id]  # its time has come: sent with the next batch


def test_a_reason_that_passes_with_time_is_not_a_try(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([accepted(1000, 5000)])
    for counted in (False, True):
        batch = box.open_batch(0, box.pending(10), Attempt(f"0x{int(counted)}", 0, "0x", 1, 1, 1, 1))
        box.finish_batch(batch, {batch.reading_ids[0]: Outcome("pending", "x", not_before=0.0, counted=counted)})
    assert box.tries(batch.reading_ids) == {batch.reading_ids[0]: 1}


def submitter(signers: dict[str, object]) -> Submitter:
    # _not_settled reads only the signers: the rest of a Submitter needs a chain.
    sub = Submitter.__new__(Submitter)
    sub.signers = signers  # type: ignore[assignment]
    return sub


def test_report_from_future_stays_pending_however_often_it_comes_back() -> None:
    out = submitter({})._not_settled(
        pending(1100, 5010), BASE, "skipped", SkipReason.REPORT_FROM_FUTURE, MAX_TRIES + 5, 100.0
    )
    assert (out.state, out.counted) == ("pending", False)
    assert out.reason is not None and out.reason.startswith("report_from_future:")


def test_a_same_second_counter_is_carried_by_the_gateway_and_waits_for_a_newer_reading_when_device_signed() -> None:
    view = ChainLease(anchored=True, last_counter=1001, last_timestamp=5000)
    carried = submitter({"press-01": object()})._not_settled(
        pending(1006, 5000), view, "skipped", SkipReason.STALE_REPORT, MAX_TRIES, 100.0
    )
    assert (carried.state, carried.timestamp, carried.counted) == ("pending", 5001, False)
    device = submitter({})._not_settled(pending(1006, 5000), view, "skipped", SkipReason.STALE_REPORT, 0, 100.0)
    assert (device.state, device.counted) == ("pending", False)
    assert device.reason is not None and device.reason.startswith("awaiting_newer_reading:")


@pytest.mark.parametrize("reason, name", [(11, "malformed_report"), (12, "anchor_not_by_current_key")])
def test_the_new_skip_reasons_are_decoded_and_named_in_the_quarantine_reason(reason: int, name: str) -> None:
    out = submitter({})._not_settled(pending(1100, 5010), BASE, "skipped", SkipReason(reason), 0, 100.0)
    assert out.state == "quarantined" and out.reason is not None and out.reason.startswith(f"{name}: ")


def test_only_what_the_lease_would_accept_now_leaves_the_rest_waits_by_name(tmp_path: Path) -> None:
    from oracle.metrics import Metrics

    leases = {name: (RATE << 32) | i for i, name in enumerate(("device", "ahead", "burst", "fine"), start=1)}
    sub = Submitter.__new__(Submitter)
    sub.signers = {"ahead": object(), "burst": object(), "fine": object()}  # type: ignore[dict-item]
    sub.outbox = Outbox(tmp_path / "o.sqlite")
    sub.metrics = Metrics()
    sub.chain_time = lambda: 5010  # type: ignore[method-assign]
    sub._bases = lambda ids: dict.fromkeys(ids, BASE)  # type: ignore[method-assign]
    sub.outbox.accept_many(
        [
            AcceptedReading(
                machine=name,
                machine_id=MID,
                lease_id=leases[name],
                counter=counter,
                runtime=0,
                timestamp=ts,
                r=b"\1" * 32,
                vs=b"\2" * 32,
                device_counter=counter,
                device_runtime=0,
                received_at=0.0,
            )
            for name, counter, ts in (
                ("device", 1006, 5000),  # device-signed, within the second the lease holds: stale if sent
                ("ahead", 1050, 5020),  # dated after the chain's time
                ("burst", 1500, 5010),  # 500 units in 10 s at 10 a second
                ("fine", 1100, 5010),
            )
        ]
    )
    ready = sub._ready(sub.outbox.pending(10))
    assert [r.machine for r in ready] == ["fine"]
    assert sub.outbox.waiting() == {"awaiting_newer_reading": 1, "awaiting_chain_time": 1, "implausible_on_chain": 1}
    assert [r.machine for r in sub.outbox.pending(10)] == ["fine"]  # the held ones wait for their time to look
    for reason in ("awaiting_newer_reading", "awaiting_chain_time", "implausible_on_chain"):
        assert sub.metrics.registry.get_sample_value("oracle_readings_held_total", {"reason": reason}) == 1
