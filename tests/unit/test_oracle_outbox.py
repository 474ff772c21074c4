"""The outbox: supersession of cumulative readings, batches that go back to pending, re-baselining, durability."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from oracle.outbox import UNSIGNED, AcceptedReading, Attempt, Outbox, Outcome

MID = b"press-01".ljust(32, b"\0")


def reading(counter: int, lease: int = 7, machine: str = "press-01", ts: int = 1000) -> AcceptedReading:
    return AcceptedReading(
        machine=machine,
        machine_id=MID,
        lease_id=lease,
        counter=counter,
        runtime=counter,
        timestamp=ts + counter,
        r=b"\1" * 32,
        vs=b"\2" * 32,
        device_counter=counter,
        device_runtime=counter,
        received_at=0.0,
    )


def attempt(tx: str = "0xaa") -> Attempt:
    return Attempt(tx_hash=tx, batch_id=0, raw="0x00", max_fee=2, tip=1, gas=100_000, sent_block=1)


def test_only_the_newest_pending_reading_of_a_lease_is_kept(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(1), reading(2), reading(5, lease=8, machine="press-02")])
    box.accept_many([reading(3)])
    assert sorted((r.lease_id, r.counter) for r in box.pending(10)) == [(7, 3), (8, 5)]


def test_accepted_readings_survive_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(4)])
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert [r.counter for r in again.pending(10)] == [4]
    assert again.machine_state("press-01").last_counter == 4


def test_a_dropped_batch_returns_its_readings_unless_newer_ones_arrived(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(1), reading(9, lease=8, machine="press-02")])
    batch = box.open_batch(5, box.pending(10), attempt())
    assert box.pending(10) == []
    box.accept_many([reading(2)])  # lease 7 moved on while the batch was in flight
    box.drop_batch(batch, "nonce used by another transaction")
    assert sorted((r.lease_id, r.counter) for r in box.pending(10)) == [(7, 2), (8, 9)]
    assert box.inflight() == []


def test_finished_batches_record_outcomes_for_status(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(1), reading(9, lease=8, machine="press-02")])
    batch = box.open_batch(0, box.pending(10), attempt())
    assert box.attempts(batch.id)[0].tx_hash == "0xaa"
    first, second = batch.reading_ids
    box.finish_batch(batch, {first: Outcome("settled"), second: Outcome("quarantined", "invalid_signer")})
    status = {row["machine"]: row for row in box.status()}
    assert status["press-01"]["last_settled"] == 1 and status["press-01"]["pending"] == 0
    assert status["press-02"]["quarantined_readings"] == 1
    assert status["press-02"]["quarantine_reasons"] == ["invalid_signer"]
    assert box.depth() == 0


def test_rebaseline_lifts_the_quarantine_and_continues_the_counters(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(500)])
    box.quarantine_machine("press-01", "counter went backwards")
    assert box.machine_state("press-01").quarantined
    state = box.rebaseline("press-01")
    assert state.quarantined is None
    # The next reading decides: below 500 the machine was reset (offsets move then), else nothing changes.
    assert (state.counter_offset, state.last_counter, state.rebaseline) == (0, 500, True)


def test_a_reading_sent_back_to_pending_is_retimed_and_waits_until_not_before(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(1)])
    batch = box.open_batch(0, box.pending(10), attempt())
    (rid,) = batch.reading_ids
    box.finish_batch(
        batch, {rid: Outcome("pending", "stale_report: carried", timestamp=12345, not_before=time.time() + 60)}
    )
    assert box.pending(10) == [] and box.depth() == 1  # waiting, still counted
    box.finish_batch(batch, {rid: Outcome("pending", "again", not_before=time.time() - 1)})
    (again,) = box.pending(10)
    assert (again.timestamp, again.r, box.tries([rid])[rid]) == (12345, UNSIGNED, 2)


def test_a_lease_with_readings_is_known_after_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert not box.has_readings(7)
    box.accept_many([reading(1)])
    assert box.has_readings(7) and not box.has_readings(8)
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.has_readings(7) and not again.has_readings(8)
    again.accept_many([reading(5, lease=8, machine="press-02")])
    assert again.has_readings(8)


def test_a_lease_whose_only_reading_the_chain_refused_anchors_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert not box.has_readings(7)
    box.accept_many([reading(1), reading(9, lease=8, machine="press-02")])
    box.accept_many([reading(10, lease=8, machine="press-02")])  # lease 8 has a newer reading, still pending
    batch = box.open_batch(0, box.pending(10), attempt())
    box.finish_batch(batch, {rid: Outcome("quarantined", "invalid_signer") for rid in batch.reading_ids})
    assert not box.has_readings(7)  # its next reading must anchor the lease
    assert box.has_readings(8)
    box.close()
    assert not Outbox(tmp_path / "o.sqlite").has_readings(7)


def test_a_group_keeps_the_anchor_and_the_newest_reading_of_each_lease_pending(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([reading(1)])
    anchor = dataclasses.replace(reading(20, lease=8, machine="press-02"), anchor=True)
    ids = box.accept_many(
        [
            reading(2),
            anchor,
            reading(3),
            reading(21, lease=8, machine="press-02"),
            reading(22, lease=8, machine="press-02"),
            reading(4),
        ]
    )
    assert ids == list(range(ids[0], ids[0] + 6))
    assert [r.id for r in box.readings(ids)] == ids
    assert sorted((r.lease_id, r.counter) for r in box.pending(10)) == [(7, 4), (8, 20), (8, 22)]
    assert box.machine_state("press-01").last_counter == 4
    assert box.machine_state("press-02").last_counter == 22
    assert box.depth() == 3


def test_a_batch_records_the_signatures_its_readings_are_sent_with(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([dataclasses.replace(reading(1), r=UNSIGNED, vs=UNSIGNED)])
    [pending] = box.pending(10)
    assert (pending.r, pending.vs) == (UNSIGNED, UNSIGNED)
    batch = box.open_batch(0, [dataclasses.replace(pending, r=b"\7" * 32, vs=b"\x08" * 32)], attempt())
    box.drop_batch(batch, "nonce used by another transaction")  # sent again later: with the same signature
    [again] = box.pending(10)
    assert (again.r, again.vs) == (b"\7" * 32, b"\x08" * 32)


def test_readings_that_cannot_be_signed_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.accept_many([dataclasses.replace(reading(1), r=UNSIGNED, vs=UNSIGNED)])
    assert box.has_readings(7)
    box.quarantine_pending([r.id for r in box.pending(10)], "no device key to sign with")
    assert box.pending(10) == [] and not box.has_readings(7)
    assert box.status()[0]["quarantine_reasons"] == ["no device key to sign with"]


def test_prune_keeps_what_status_and_audit_need_and_deletes_old_delivered_history(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    old = [dataclasses.replace(reading(c), received_at=1.0) for c in (1, 2, 3)]
    box.accept_many(old[:1])
    batch = box.open_batch(0, box.pending(10), attempt())
    box.finish_batch(batch, {batch.reading_ids[0]: Outcome("settled")})
    box.accept_many(old[1:])  # 2 superseded by 3, 3 pending
    assert box.prune(older_than=time.time()) == 1  # the superseded one; the lease's newest settled one stays
    status = {row["machine"]: row for row in box.status()}["press-01"]
    assert (status["last_settled"], status["pending"]) == (1, 1)
    assert [r.counter for r in box.pending(10)] == [3]


def settle(box: Outbox, nonce: int) -> list[int]:
    batch = box.open_batch(nonce, box.pending(10), attempt(f"0x{nonce:02x}"))
    box.finish_batch(batch, {rid: Outcome("settled") for rid in batch.reading_ids})
    return batch.reading_ids


def test_a_chain_that_lost_settlements_gets_the_anchor_and_the_newest_settled_reading_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    [anchor] = box.accept_many([dataclasses.replace(reading(1), anchor=True, received_at=1.0)])
    settle(box, 0)
    box.accept_many([dataclasses.replace(reading(2), received_at=1.0)])
    settle(box, 1)
    [newest] = box.accept_many([dataclasses.replace(reading(3), received_at=1.0)])
    settle(box, 2)
    # Pruning keeps what a lost chain needs again: the anchor and the newest settled reading.
    assert box.prune(older_than=time.time()) == 1
    [head] = box.settled_heads().values()
    assert (head.id, head.counter, head.timestamp, head.anchor_id) == (newest, 3, 1003, anchor)
    box.reopen([anchor, newest], "chain_lost: the block that settled it is gone; sent again")
    assert [r.counter for r in box.pending(10)] == [1, 3]
    assert box.settled_heads() == {}
    assert box.status()[0]["last_settled"] is None
