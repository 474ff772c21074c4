"""The oracle core against a real anvil: readings in, exact billing out; a flood of bad input; a machine reset;
another sender moving the relayer's nonce; a stuck transaction replaced with a higher fee."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from millchain.leasing import LeaseClient
from millchain.node import AnvilNode
from millchain.session import Session
from oracle.config import OracleSettings
from oracle.outbox import AcceptedReading, Attempt, Outbox, Outcome
from oracle.service import OracleService
from oracle.sources import Emit, Telemetry
from oracle.status import collect
from tests.oracle_floor import DEVICE_PASSWORD, PRICE_PER_UNIT, RELAYER, Floor, build_floor

pytestmark = pytest.mark.integration


class ListSource:
    """Stands in for a protocol adapter: hands the service a fixed list of messages, then idles."""

    def __init__(self, items: Sequence[Telemetry], delay: float = 0.0) -> None:
        self.items = items
        self.delay = delay

    async def run(self, emit: Emit) -> None:
        for item in self.items:
            await emit(item)
            if self.delay:
                await asyncio.sleep(self.delay)
        await asyncio.Event().wait()


def msg(machine: str, counter: int, runtime: int, timestamp: int) -> Telemetry:
    body = json.dumps({"counter": counter, "runtime": runtime, "timestamp": timestamp}).encode()
    return Telemetry(machine=machine, payload=body, received_at=time.time())


def run_service(
    settings: OracleSettings,
    items: Sequence[Telemetry],
    until: Callable[[OracleService], bool],
    timeout: float = 60.0,
    during: Callable[[OracleService], None] | None = None,
) -> OracleService:
    async def main() -> OracleService:
        service = OracleService(settings, sources=[ListSource(items)])
        task = asyncio.create_task(service.run())
        deadline = time.monotonic() + timeout
        while not until(service):
            if during is not None:
                await asyncio.to_thread(during, service)
            assert time.monotonic() < deadline, "the oracle did not get there in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.1)
        service.stop()
        assert await task == 0
        return service

    return asyncio.run(main())


@pytest.fixture
def floor(anvil_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Floor:
    monkeypatch.setenv("ORACLE_DEVICE_PASSWORD", DEVICE_PASSWORD)
    return build_floor(anvil_session, tmp_path, 3)


def settled(floor: Floor, expected: dict[str, int]) -> Callable[[OracleService], bool]:
    return lambda _: all(floor.lease_state(m).last_counter == c for m, c in expected.items())


def test_readings_settle_and_bill_exactly_the_units_counted(floor: Floor, anvil: AnvilNode, tmp_path: Path) -> None:
    t0 = int(time.time()) + 1
    items = [msg(m, 1000 + 50 * k, 600 + 10 * k, t0 + 10 * k) for k in range(4) for m in floor.leases]
    service = run_service(floor.settings(tmp_path, anvil.url), items, settled(floor, dict.fromkeys(floor.leases, 1150)))
    for name in floor.leases:
        lease = floor.lease_state(name)
        assert lease.earnings == 150 * PRICE_PER_UNIT  # the first reading anchors, the rest bill 150 units
    text = generate_latest(service.metrics.registry).decode()
    assert "oracle_readings_received_total" in text
    # Gateway signing happens when a reading is sent, once: superseded readings are never signed.
    signed = service.metrics.registry.get_sample_value("oracle_readings_signed_total")
    assert signed == service.metrics.registry.get_sample_value("oracle_readings_submitted_total")
    assert signed is not None and 6 <= signed <= 12


def test_ten_thousand_bad_messages_crash_nothing_and_the_good_ones_settle(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    rng = random.Random(7)
    t0 = int(time.time()) + 1
    machines = list(floor.leases)
    good = [msg(m, 100 * k, 10 * k, t0 + 10 * k) for k in range(5) for m in machines]
    junk_makers: list[Callable[[], Telemetry]] = [
        lambda: Telemetry(rng.choice(machines), rng.randbytes(rng.randint(0, 60)), time.time()),
        lambda: Telemetry(rng.choice(machines), b'{"counter": "7", "runtime": 1, "timestamp": 1}', time.time()),
        lambda: Telemetry(rng.choice(machines), b'{"runtime": 1, "timestamp": 1}', time.time()),
        lambda: Telemetry(
            rng.choice(machines), json.dumps({"counter": -5, "runtime": 0, "timestamp": t0}).encode(), time.time()
        ),
        lambda: Telemetry("ghost-machine", b'{"counter": 1, "runtime": 1, "timestamp": 1}', time.time()),
        lambda: msg(rng.choice(machines), 10, 10, t0 + 100_000),  # clock far off
        lambda: Telemetry(rng.choice(machines), b"[]", time.time()),
    ]
    junk = [rng.choice(junk_makers)() for _ in range(10_000)]
    items: list[Telemetry] = []
    for i, item in enumerate(good):  # interleave: valid readings keep their order among the junk
        items.append(item)
        items.extend(junk[i * len(junk) // len(good) : (i + 1) * len(junk) // len(good)])
    service = run_service(
        floor.settings(tmp_path, anvil.url), items, settled(floor, dict.fromkeys(machines, 400)), timeout=120
    )
    rejected = {
        s.labels["reason"]: s.value for s in service.metrics.rejected.collect()[0].samples if s.name.endswith("_total")
    }
    assert sum(rejected.values()) == len(junk)
    assert set(rejected) <= {
        "malformed_json",
        "bad_type",
        "missing_field",
        "out_of_range",
        "unknown_machine",
        "clock_skew",
    }
    for name in machines:
        assert floor.lease_state(name).earnings == 400 * PRICE_PER_UNIT


def test_a_machine_reset_is_quarantined_until_rebaselined_and_billing_continues(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    t0 = int(time.time()) + 1

    def quarantined_after_600(service: OracleService) -> bool:
        return bool(service.outbox.machine_state(name).quarantined) and floor.lease_state(name).last_counter == 600

    run_service(
        settings, [msg(name, 500, 50, t0), msg(name, 600, 60, t0 + 10), msg(name, 3, 1, t0 + 20)], quarantined_after_600
    )
    service = OracleService(settings, sources=[])
    status = {row["machine"]: row for row in service.outbox.status()}
    assert status[name]["machine_quarantined"].startswith("counter_backwards: counter went from 600 to 3")
    service.outbox.rebaseline(name)
    service.outbox.close()
    # After the reset the machine counts from 3 again; the chain sees 600 + its new counts.
    run_service(settings, [msg(name, 13, 11, t0 + 30)], settled(floor, {name: 613}))
    assert floor.lease_state(name).earnings == 113 * PRICE_PER_UNIT


def test_nonce_moved_by_another_sender_with_the_relayer_key(floor: Floor, anvil: AnvilNode, tmp_path: Path) -> None:
    relayer = floor.session.transactor(RELAYER)
    t0 = int(time.time()) + 1
    names = list(floor.leases)

    def meddle(service: OracleService) -> None:
        # Someone else uses the relayer key while the oracle works: its next nonce must come from the chain.
        if not getattr(meddle, "done", False):
            relayer.send({"to": floor.session.chain.account(9).address, "value": 1})
            meddle.done = True  # type: ignore[attr-defined]

    items = [msg(m, 10 * k, k, t0 + k) for k in range(6) for m in names]
    run_service(floor.settings(tmp_path, anvil.url), items, settled(floor, dict.fromkeys(names, 50)), during=meddle)


def test_a_stuck_transaction_is_replaced_with_a_fee_bump(floor: Floor, anvil: AnvilNode, tmp_path: Path) -> None:
    w3 = floor.session.chain.w3
    name = next(iter(floor.leases))
    t0 = int(time.time()) + 1
    settings = floor.settings(tmp_path, anvil.url, chain={"stuck_blocks": 2})
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]

    def produce_blocks(service: OracleService) -> None:
        attempts = [a for b in service.outbox.inflight() for a in service.outbox.attempts(b.id)]
        if len(attempts) >= 2:
            w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        elif attempts:
            # Blocks without our transaction (as if the fee were too low): drop it from the pool, mine empty.
            w3.provider.make_request("anvil_dropTransaction", [attempts[0].tx_hash])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    service = run_service(
        settings, [msg(name, 0, 0, t0), msg(name, 20, 2, t0 + 2)], settled(floor, {name: 20}), during=produce_blocks
    )
    replaced = [
        s
        for s in service.metrics.transactions.collect()[0].samples
        if s.labels.get("event") == "replaced" and s.name.endswith("_total")
    ]
    assert replaced and replaced[0].value >= 1
    lease = LeaseClient(floor.session).get(floor.leases[name])
    assert lease.earnings == 20 * PRICE_PER_UNIT


def test_a_reorg_that_drops_the_receipt_sends_the_batch_again(floor: Floor, anvil: AnvilNode, tmp_path: Path) -> None:
    w3 = floor.session.chain.w3
    name = next(iter(floor.leases))
    t0 = int(time.time()) + 1
    settings = floor.settings(tmp_path, anvil.url, chain={"confirmations": 3})
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    state = {"reorged": False}

    def reorg_once_then_build_blocks(service: OracleService) -> None:
        mined = [
            a
            for b in service.outbox.inflight()
            for a in service.outbox.attempts(b.id)
            if service.submitter._receipt(a.tx_hash) is not None
        ]
        if mined and not state["reorged"]:
            # The block holding our batch leaves the chain before it has 3 confirmations.
            w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
            state["reorged"] = True
        else:
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def confirmed_after_the_reorg(service: OracleService) -> bool:
        # On chain is not enough: the outbox must have seen its batch through 3 confirmations.
        return state["reorged"] and not service.outbox.inflight() and settled(floor, {name: 30})(service)

    run_service(
        settings,
        [msg(name, 0, 0, t0), msg(name, 30, 3, t0 + 3)],
        confirmed_after_the_reorg,
        during=reorg_once_then_build_blocks,
    )
    assert state["reorged"]
    assert floor.lease_state(name).earnings == 30 * PRICE_PER_UNIT  # settled once, after the reorg


def rejected_by_reason(service: OracleService) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value for s in service.metrics.rejected.collect()[0].samples if s.name.endswith("_total")
    }


def opened(floor: Floor, name: str) -> int:
    """When the machine's lease opened on chain: device readings from before it are stale there."""
    return int(floor.lease_state(name).last_timestamp)


def reopened(service: OracleService) -> Outbox:
    """The outbox a stopped service left, opened again (the service closes its own at shutdown)."""
    return Outbox(service.settings.outbox)


def outbox_agrees_with_chain(floor: Floor, service: OracleService) -> None:
    """Nothing the outbox calls settled is above what the chain holds for its lease."""
    for row in reopened(service).status():
        if row["last_settled"] is not None:
            assert row["last_settled"] <= floor.lease_state(str(row["machine"])).last_counter, row


def test_a_same_second_newer_counter_is_carried_into_the_next_second_and_billed(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defect 2: 1001 at T settles, then 1006 at the same T; the contract skips it as stale. It used to be
    # called settled while the chain stayed at 1001 (5 units never billed once the machine stopped).
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    t = opened(floor, name) + 3
    run_service(settings, [msg(name, 1000, 100, t - 2), msg(name, 1001, 100, t)], settled(floor, {name: 1001}))
    service = run_service(settings, [msg(name, 1006, 100, t)], settled(floor, {name: 1006}), timeout=30)
    assert floor.lease_state(name).earnings == 6 * PRICE_PER_UNIT
    outbox_agrees_with_chain(floor, service)


def test_a_leases_first_reading_sharing_a_batch_with_an_equal_counter_settles(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defect 7: receipts were matched by (lease, counter), so the anchor stayed "submitted" for ever.
    name = next(iter(floor.leases))
    t = opened(floor, name) + 1
    service = run_service(
        floor.settings(tmp_path, anvil.url, batch_window_ms=500),
        [msg(name, 1000, 100, t), msg(name, 1000, 100, t + 1)],
        lambda s: settled(floor, {name: 1000})(s) and s.outbox.depth() == 0,
        timeout=20,
    )
    row = next(r for r in reopened(service).status() if r["machine"] == name)
    assert (row["pending"], row["last_settled"]) == (0, 1000)


def test_a_redelivered_reading_is_a_duplicate_and_quarantines_nothing(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defect 3: 1001@T, 1002@T, then 1001@T again (an MQTT QoS 1 redelivery) used to quarantine the machine.
    name = next(iter(floor.leases))
    t = opened(floor, name) + 1
    items = [msg(name, 1001, 100, t), msg(name, 1002, 100, t), msg(name, 1001, 100, t), msg(name, 1010, 104, t + 5)]
    service = run_service(floor.settings(tmp_path, anvil.url), items, settled(floor, {name: 1010}), timeout=30)
    assert reopened(service).machine_state(name).quarantined is None
    assert rejected_by_reason(service) == {"duplicate": 1}
    assert floor.lease_state(name).earnings == 9 * PRICE_PER_UNIT


def test_rebaseline_after_a_false_backwards_reading_leaves_reports_the_contract_accepts(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defect 3's repair: `oracle rebaseline` used to add the last counters as offsets even when the machine was
    # never reset, so every later report was an on-chain anomaly and the lease kept producing unbilled.
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    t0 = opened(floor, name) + 1

    def quarantined_after_510(service: OracleService) -> bool:
        return bool(service.outbox.machine_state(name).quarantined) and floor.lease_state(name).last_counter == 510

    run_service(
        settings, [msg(name, 500, 50, t0), msg(name, 510, 51, t0 + 1), msg(name, 3, 1, t0 + 2)], quarantined_after_510
    )
    box = Outbox(settings.outbox)
    box.rebaseline(name)
    box.close()
    items = [msg(name, 515, 52, t0 + 3), msg(name, 525, 53, t0 + 4)]  # the 3 was false: no reset happened
    service = run_service(settings, items, settled(floor, {name: 525}), timeout=30)
    lease = floor.lease_state(name)
    assert (lease.earnings, lease.last_runtime_seconds) == (25 * PRICE_PER_UNIT, 53)
    assert not [r for r in rejected_by_reason(service) if r.startswith("chain_")]


def test_a_counter_jump_within_one_second_is_refused_and_quarantines_nothing(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defect 4: 1001@T then 901001@T passed the rate check (no elapsed time); the next genuine reading then
    # quarantined the machine. Anyone able to publish on the topic could do it.
    name = next(iter(floor.leases))
    t = opened(floor, name) + 1
    items = [msg(name, 1001, 100, t), msg(name, 901_001, 100, t), msg(name, 1011, 102, t + 2)]
    service = run_service(floor.settings(tmp_path, anvil.url), items, settled(floor, {name: 1011}), timeout=30)
    assert rejected_by_reason(service) == {"implausible_jump": 1}
    assert reopened(service).machine_state(name).quarantined is None


def test_status_shows_the_chain_beside_the_outbox_and_flags_an_outbox_claiming_more(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    t = opened(floor, name) + 1
    run_service(settings, [msg(name, 1000, 100, t), msg(name, 1010, 101, t + 1)], settled(floor, {name: 1010}))
    row = next(r for r in collect(settings)["machines"] if r["machine"] == name)
    assert (row["last_settled"], row["on_chain"], row["flags"]) == (1010, 1010, [])
    # What the old oracle did after a stale skip: a reading recorded settled that the chain never billed.
    box = Outbox(settings.outbox)
    box.accept_many(
        [
            AcceptedReading(
                machine=name,
                machine_id=name.encode().ljust(32, b"\0"),
                lease_id=floor.leases[name],
                counter=1020,
                runtime=102,
                timestamp=t + 1,
                r=b"\1" * 32,
                vs=b"\2" * 32,
                device_counter=1020,
                device_runtime=102,
                received_at=time.time(),
            )
        ]
    )
    batch = box.open_batch(10_000, box.pending(10), Attempt("0x01", 0, "0x", 1, 1, 1, 1))
    box.finish_batch(batch, {batch.reading_ids[0]: Outcome("settled")})
    box.close()
    row = next(r for r in collect(settings)["machines"] if r["machine"] == name)
    assert row["flags"][0] == "ALARM: outbox says 1020 settled, chain holds 1010"


def test_the_status_command_prints_the_chain_beside_the_outbox(floor: Floor, anvil: AnvilNode, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from oracle.cli import oracle

    name = next(iter(floor.leases))
    config = floor.write_config(tmp_path / "oracle.toml", anvil.url)
    t = opened(floor, name) + 1
    run_service(floor.settings(tmp_path, anvil.url), [msg(name, 1000, 100, t)], settled(floor, {name: 1000}))
    table = CliRunner().invoke(oracle, ["status", "--config", str(config)], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "on chain" in table.output and "flags" in table.output
    report = json.loads(CliRunner().invoke(oracle, ["status", "--config", str(config), "--json"]).output)
    row = next(r for r in report["machines"] if r["machine"] == name)
    assert (row["last_settled"], row["on_chain"], row["flags"], report["chain_error"]) == (1000, 1000, [], None)


def metric(service: OracleService, name: str, **labels: str) -> float:
    return service.metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_a_reading_dated_after_the_chain_waits_for_the_chains_time_then_bills_exactly(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # The lease stores a report's time clamped to its block's (IEquipmentLease, "Time"). Sent at once, a reading
    # dated 20 s ahead of the chain would have its 150 units judged against ~1 s of chain time: an anomaly, which
    # the oracle used to quarantine. It must wait, pending with its reason, until the chain's time reaches it.
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    w3 = floor.session.chain.w3
    now = int(w3.eth.get_block("pending")["timestamp"])
    items = [msg(name, 1000, 100, now + 1), msg(name, 1150, 119, now + 20)]
    seen: dict[str, object] = {}

    def advance_once_held(service: OracleService) -> None:
        if seen or floor.lease_state(name).last_counter != 1000:
            return
        if metric(service, "oracle_readings_waiting", reason="awaiting_chain_time") != 1:
            return  # the gauge follows the outbox once a second
        row = next(r for r in service.outbox.status() if r["machine"] == name)
        seen.update(
            waiting=service.outbox.waiting(),
            reasons=row["waiting_reasons"],
            submitted=metric(service, "oracle_readings_submitted_total"),
            held=metric(service, "oracle_readings_held_total", reason="awaiting_chain_time"),
        )
        # The chain's clock moves past the reading (as it does by itself, 20 s later).
        w3.provider.make_request("evm_increaseTime", [25])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    service = run_service(settings, items, settled(floor, {name: 1150}), timeout=30, during=advance_once_held)
    assert seen["waiting"] == {"awaiting_chain_time": 1} and seen["reasons"] == ["awaiting_chain_time"]
    assert seen["submitted"] == 1  # only the anchor had left; the reading ahead of the chain had not
    assert isinstance(seen["held"], float) and seen["held"] >= 1
    lease = floor.lease_state(name)
    assert (lease.earnings, lease.last_timestamp) == (150 * PRICE_PER_UNIT, now + 20)
    assert not [r for r in rejected_by_reason(service) if r.startswith("chain_")]
    outbox_agrees_with_chain(floor, service)


def test_a_device_clock_ahead_of_the_chain_is_a_preflight_warning_and_its_reading_waits_named_in_status(
    floor: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    name = next(iter(floor.leases))
    settings = floor.settings(tmp_path, anvil.url)
    ahead = int(floor.session.chain.w3.eth.get_block("latest")["timestamp"]) + 120  # within the 300 s skew
    service = run_service(
        settings, [msg(name, 1000, 100, ahead)], lambda s: bool(s.preflight) and s.outbox.depth() == 1, timeout=20
    )
    [finding] = [f for f in service.preflight if f.check == "device_clock"]
    assert finding.level == "warning" and f"machine {name}: its last reading ({ahead}) is" in finding.message
    assert "awaiting_chain_time" in finding.message
    row = next(r for r in collect(settings)["machines"] if r["machine"] == name)
    assert (row["pending"], row["waiting_reasons"], row["on_chain"]) == (1, ["awaiting_chain_time"], 0)
    assert row["flags"] == ["1000 units seen, not billed yet (waiting: awaiting_chain_time)"]
    assert floor.lease_state(name).anchored is False  # nothing was sent ahead of the chain
