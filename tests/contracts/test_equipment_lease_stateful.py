"""EquipmentLease under random operations (hypothesis RuleBasedStateMachine) against a Python model of the
documented rules: several leases on several machines, reports monotone and not (replayed, backwards, expired,
from the future, forged, high-s, anomalous, signed by a rotated-out key), single and batched, accepted and waived
anomalies, top-ups, debt and suspension, consent, closes, refunds, withdrawals, re-opening a freed machine, and
machine key rotations at any point of a lease's life (the key check against the registry's windows).

The rules are the adversarial actors of the threat model (docs/security.md), acting in any order with anything
they can sign: the holder of the current device key (poisoned anchors at 2**64-1, counter jumps, reports dated up
to MAX_CLOCK_SKEW ahead), the holder of a rotated-out key (reports back-dated into its old window), the relayer
(replays, batches with a dirty report word), the lessor (key rotations to keys it holds, re-anchors, waivers,
closing a lease that never reported) and the lessee (accepting anomalies, closing, top-ups).

Every step's events are compared with the model's prediction, and after every step:

- token conservation: the contract's balance = Σ (escrow + earnings), and per lease deposits = escrow + earnings
  + lessor withdrawals + lessee refunds;
- nothing lost, nothing twice: Σ UsageSettled.units + Σ UsageWaived.units = last counter - anchored counter;
- escrow never negative, earnings never negative, debt consistent with status (I4); activeLeaseOf (I6);
- getLease equals the model;
- billed within the rate bound: units billed by submitted reports <= maxRatePerHour x the time they cover / 3600,
  that time <= the time since opening, and runtime billed <= that time + 1 s in total (however the actors act);
- no balance moves without an act of its owner or a stated rule: every token transfer is to or from the account
  that sent the transaction (deposits, top-ups, withdrawals), reports move no tokens;
- every escrow reaches a terminal state without the owing party (teardown): past endsAt the lessor alone closes
  and is paid, the lessee alone is refunded after the grace period; the contract is left holding nothing.

Each example starts from one snapshot (three leases opened, two more offered) and the chain is reverted to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from eth_abi import decode
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from millchain.errors import ContractRevert
from millchain.typed_data import SignedUsageReport, recover_signer
from millchain.types import MachineId
from tests.abi import abi_type
from tests.contracts.lease_helpers import (
    ACCEPTANCE_WINDOW,
    DAY,
    FORGER_KEY,
    HOUR,
    LATHE,
    LESSEE,
    LESSOR,
    MACHINE_KEYS,
    MAX_CLOCK_SKEW,
    MILL,
    OTHER_LESSEE,
    PRESS,
    RELAYER,
    SECP256K1_N,
    STRANGER,
    LeaseHarness,
    Opened,
    Skip,
    Status,
    Terms,
    device_address,
    device_key,
    with_s,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

RUNNING = (Status.ACTIVE, Status.SUSPENDED)
REPORTING = (Status.ACTIVE, Status.SUSPENDED, Status.CLOSED)
CORRUPTIONS = ("none",) * 8 + ("forged", "high-s", "counter-backwards", "runtime-backwards", "replay", "old-key",
                                "old-key-back-dated", "poison", "dirty")
"""How an actor bends a report: none (the current key's holder, honestly); forged, high-s, replay, dirty (a relayer or
anyone: another key, a malleated signature, a settled report again, a counter word with bits above uint64);
counter- and runtime-backwards, poison (the current key's holder: counters below the last, or 2**64-1 to freeze the
lease); old-key, old-key-back-dated (the holder of a rotated-out key, now or dated inside its old window)."""
U64_MAX = 2**64 - 1
FOREVER = 2**40

Event = tuple[str, dict[str, Any]]


@dataclass
class Model:
    """What the contract should hold for one lease, plus the money that left it."""

    lease_id: int
    machine: MachineId
    terms: Terms
    lessee: int
    deposit: int
    status: Status = Status.OFFERED
    anchored: bool = False
    consented: bool = False
    last_counter: int = 0
    last_runtime: int = 0
    last_ts: int = 0
    closed_at: int = 0
    escrow: int = 0
    held: int = 0
    debt: int = 0
    deposits: int = 0
    withdrawn: int = 0
    refunded: int = 0
    anchor_counter: int = 0
    units_billed: int = 0  # from UsageSettled events
    units_waived: int = 0  # from UsageWaived events
    anomaly: SignedUsageReport | None = None
    opened_at: int = 0
    slack: bool = False  # the lease's second of runtime slack is in use
    rebased: int = 0  # Σ (counter before - counter after) over re-anchors, for "nothing lost, nothing twice"
    submit_units: int = 0  # units billed by submitted reports (not accepted anomalies)
    submit_runtime: int = 0  # runtime seconds billed by submitted reports
    submit_elapsed: int = 0  # seconds those reports covered

    @property
    def earnings(self) -> int:
        return self.held - self.escrow


@dataclass
class Base:
    snapshot: int
    leases: list[Model]
    ends_at: int
    spare_of: dict[bytes, int] = field(default_factory=dict)


def build_base(h: LeaseHarness) -> Base:
    """Three opened leases with different terms (one bills runtime with rounding, one has no minimum), and two
    more offers on machines that are leased, to open once those close."""
    ends_at = h.now() + 3 * HOUR
    grace = 1_800
    specs = [
        (PRESS, Terms(h.token.address, ends_at, price_per_unit=1_000, price_per_hour=7_777, min_balance=200_000,
                      max_rate_per_hour=3_600, grace_period=grace, heartbeat=900), LESSEE, 1_000_000),
        (LATHE, Terms(h.token.address, ends_at, price_per_unit=3, price_per_hour=0, min_balance=0,
                      max_rate_per_hour=360_000, grace_period=grace, heartbeat=900), OTHER_LESSEE, 500),
        (MILL, Terms(h.token.address, ends_at, price_per_unit=50_000, price_per_hour=1_000_000,
                     min_balance=1_000_000, max_rate_per_hour=36_000, grace_period=grace, heartbeat=900),
         LESSEE, 2_000_000),
    ]
    leases = []
    for machine, terms, lessee, deposit in specs:
        lease = h.opened(terms, machine=machine, deposit=deposit, lessee=lessee)
        leases.append(Model(lease.lease_id, machine, terms, lessee, deposit, status=Status.ACTIVE,
                            last_ts=lease.opened_at, escrow=deposit, held=deposit, deposits=deposit,
                            opened_at=lease.opened_at))
    for m, counter in ((leases[0], 10_000), (leases[1], 20_000)):  # MILL's lease is left for a report to anchor
        lease_state = h.get(m.lease_id)
        anchor_ts = h.anchor(Opened(m.lease_id, m.machine, m.terms, lease_state["lastTimestamp"], m.deposit),
                             counter, 0, after=h.now() - lease_state["lastTimestamp"])
        m.anchored, m.anchor_counter, m.last_counter, m.last_ts = True, counter, counter, anchor_ts
    spare_of = {}
    for machine, terms in ((PRESS, leases[1].terms), (LATHE, leases[2].terms)):
        lease_id, _ = h.offer(terms, machine=machine)
        spare_of[machine] = len(leases)
        leases.append(Model(lease_id, machine, terms, OTHER_LESSEE, 2_000_000))
    tester = h.session.chain.tester
    assert tester is not None
    return Base(tester.take_snapshot(), leases, ends_at, spare_of)


def settled(m: Model, counter: int, units: int, amount: int) -> Event:
    return ("UsageSettled", {"leaseId": m.lease_id, "counter": counter, "units": units, "amount": amount})


class LeaseMachine(RuleBasedStateMachine):
    harness: ClassVar[LeaseHarness]
    base: ClassVar[Base]

    def __init__(self) -> None:
        super().__init__()
        h = self.h = self.harness
        tester = h.session.chain.tester
        assert tester is not None
        tester.revert_to_snapshot(self.base.snapshot)
        self.leases = [dataclasses.replace(m) for m in self.base.leases]
        self.ts = h.now()  # timestamp of the next block
        # The registry's key windows per machine, [from, until); the base keys were registered before any lease.
        h.signers = dict(MACHINE_KEYS)
        self.windows: dict[bytes, list[tuple[str, int, int]]] = {
            machine: [(device_address(key), 0, FOREVER)] for machine, key in MACHINE_KEYS.items()}
        self.previous_key: dict[bytes, bytes] = {}
        self.rotations = 0
        self._multicall = self._build_multicall()

    # ---------------------------------------------------------------- clock and sending

    def tick(self, dt: int) -> int:
        """Stamp the next block ``dt`` seconds after the current pending one; its timestamp."""
        self.ts = self.h.now() + dt
        self.h.next_block_at(self.ts)
        return self.ts

    def expect(self, call: Any, by: int, predicted: str | list[Event]) -> list[Event]:
        """Send ``call`` (a contract function, or raw calldata as a hex string) if the model predicts events
        (checking them exactly); else check it reverts with the predicted custom error, without mining anything."""
        h = self.h
        raw = call if isinstance(call, str) else None
        if isinstance(predicted, str):
            try:
                if raw is None:
                    call.call(h.dry_run_options(by), block_identifier="pending")
                else:
                    h.session.chain.w3.eth.call({"from": h.address(by), "to": h.lease.address, "data": raw},
                                                block_identifier="pending")
            except Exception as exc:
                err = h.tx(by).explain(exc)
                assert isinstance(err, ContractRevert), exc
                assert err.name == predicted, (err, predicted)
                return []
            raise AssertionError(f"expected {predicted}, the call succeeded")
        if raw is None:
            receipt = h.transact(call, by=by, gas=2_000_000, dry_run=False)
        else:
            receipt = h.tx(by).send({"to": h.lease.address, "data": raw}, gas=2_000_000)
        assert h.block_time(receipt) == self.ts
        events = h.events(receipt)
        assert events == predicted
        # No balance moves without an act of its owner: every transfer is to or from the sender.
        sender = h.address(by)
        assert all(sender in (source, to) for source, to, _ in h.transfers(receipt)), h.transfers(receipt)
        touched = {args["leaseId"] for _, args in events}
        self.check_against_chain([m for m in self.leases if m.lease_id in touched])
        return events

    # ---------------------------------------------------------------- the model's rules

    def predict_report(self, m: Model, signed: SignedUsageReport, corrupt: str, mode: str, batch: bool
                       ) -> tuple[str | None, list[Event]]:
        """(custom error or None, events) for a report against the model at self.ts; applies it to the model."""
        r = signed.report

        def refuse(error: str, reason: Skip) -> tuple[str | None, list[Event]]:
            event(f"report refused: {reason.name}")
            if not batch:
                return error, []
            return None, [("UsageReportSkipped", {"leaseId": m.lease_id, "counter": r.counter,
                                                  "timestamp": r.timestamp, "reason": reason})]

        if corrupt == "dirty":
            return refuse("EquipmentLeaseMalformedReport", Skip.MALFORMED_REPORT)
        if m.status not in REPORTING:
            return refuse("EquipmentLeaseUnexpectedStatus", Skip.LEASE_NOT_REPORTING)
        if m.status == Status.CLOSED:
            if self.ts > m.closed_at + m.terms.grace_period:
                return refuse("EquipmentLeaseGracePeriodOver", Skip.GRACE_PERIOD_OVER)
            if r.timestamp > m.closed_at:
                return refuse("EquipmentLeaseReportAfterClose", Skip.REPORT_AFTER_CLOSE)
        if r.timestamp > self.ts + MAX_CLOCK_SKEW:
            return refuse("EquipmentLeaseReportFromFuture", Skip.REPORT_FROM_FUTURE)
        if mode == "submit" and m.status != Status.CLOSED and r.timestamp + ACCEPTANCE_WINDOW < self.ts:
            return refuse("EquipmentLeaseReportExpired", Skip.REPORT_EXPIRED)
        if r.timestamp <= m.last_ts:
            return refuse("EquipmentLeaseStaleReport", Skip.STALE_REPORT)
        clamped = min(r.timestamp, self.ts)  # the lease's time is never later than the block's
        unchanged = m.anchored and (r.counter, r.runtime_seconds) == (m.last_counter, m.last_runtime)
        if r.timestamp > self.ts and (clamped <= m.last_ts or unchanged):
            return refuse("EquipmentLeaseReportFromFuture", Skip.REPORT_FROM_FUTURE)
        if m.anchored and mode != "reanchor" and r.counter < m.last_counter:
            return refuse("EquipmentLeaseCounterBackwards", Skip.COUNTER_BACKWARDS)
        if m.anchored and mode != "reanchor" and r.runtime_seconds < m.last_runtime:
            return refuse("EquipmentLeaseRuntimeBackwards", Skip.RUNTIME_BACKWARDS)
        if corrupt == "high-s":
            return refuse("EquipmentLeaseInvalidSignature", Skip.INVALID_SIGNATURE)
        signer = recover_signer(self.h.hasher, signed)
        if not any(key == signer and start <= r.timestamp < end for key, start, end in self.windows[m.machine]):
            event(f"report refused by key window ({corrupt})")
            return refuse("EquipmentLeaseInvalidSigner", Skip.INVALID_SIGNER)
        current_key, _, until = self.windows[m.machine][-1]
        if (not m.anchored or mode == "reanchor") and not (signer == current_key and until == FOREVER):
            return refuse("EquipmentLeaseAnchorNotByCurrentKey", Skip.ANCHOR_NOT_BY_CURRENT_KEY)

        if not m.anchored:
            m.anchored, m.anchor_counter = True, r.counter
            self._move(m, r.counter, r.runtime_seconds, clamped)
            event("report anchored" + (" (poisoned)" if r.counter == U64_MAX else ""))
            return None, [settled(m, r.counter, 0, 0)]  # whatever the mode: the anchor bills nothing
        if mode == "reanchor":
            event("re-anchored " + ("down" if r.counter < m.last_counter else "up"))
            events: list[Event] = [("UsageReanchored", {
                "leaseId": m.lease_id, "counter": r.counter, "runtimeSeconds": r.runtime_seconds,
                "previousCounter": m.last_counter, "previousRuntimeSeconds": m.last_runtime})]
            m.rebased += m.last_counter - r.counter
            self._move(m, r.counter, r.runtime_seconds, clamped)
            return None, events
        units, runtime_delta = r.counter - m.last_counter, r.runtime_seconds - m.last_runtime
        elapsed = clamped - m.last_ts
        max_runtime_delta = elapsed if m.slack else elapsed + 1
        plausible = units <= m.terms.max_units(elapsed) and runtime_delta <= max_runtime_delta
        event(f"report {mode}: {'anomaly' if mode == 'submit' and not plausible else 'settled'}")
        if mode == "waive":
            m.units_waived += units
            self._move(m, r.counter, r.runtime_seconds, clamped)
            return None, [("UsageWaived", {"leaseId": m.lease_id, "counter": r.counter, "units": units})]
        if mode == "submit" and not plausible:
            m.anomaly = signed
            return None, [("UsageAnomalyDetected", {
                "leaseId": m.lease_id,
                "report": {"report": {"leaseId": r.lease_id, "machineId": r.machine_id, "counter": r.counter,
                                      "runtimeSeconds": r.runtime_seconds, "timestamp": r.timestamp},
                           "r": signed.r, "vs": signed.vs},
                "units": units, "maxUnits": m.terms.max_units(elapsed), "runtimeDelta": runtime_delta,
                "maxRuntimeDelta": max_runtime_delta,
            })]
        if mode == "submit":
            if runtime_delta != elapsed:
                m.slack = runtime_delta > elapsed
            m.submit_units += units
            m.submit_runtime += runtime_delta
            m.submit_elapsed += elapsed
        amount = m.terms.bill(units, r.runtime_seconds, m.last_runtime)
        events = [settled(m, r.counter, units, amount)]
        before = m.escrow
        if amount <= m.escrow:
            m.escrow -= amount
        else:
            m.debt += amount - m.escrow
            m.escrow = 0
        if before >= m.terms.min_balance > m.escrow:
            events.append(("EscrowFellBelowMinimum", {"leaseId": m.lease_id, "escrow": m.escrow,
                                                      "minBalance": m.terms.min_balance}))
        if m.debt and m.status == Status.ACTIVE:
            event("lease suspended")
            m.status = Status.SUSPENDED
            events.append(("LeaseSuspended", {"leaseId": m.lease_id, "debt": m.debt}))
        m.units_billed += units
        self._move(m, r.counter, r.runtime_seconds, clamped)
        if mode == "accept":
            events.append(("AnomalousUsageAccepted", {"leaseId": m.lease_id, "counter": r.counter}))
        return None, events

    @staticmethod
    def _move(m: Model, counter: int, runtime: int, timestamp: int) -> None:
        m.last_counter, m.last_runtime, m.last_ts = counter, runtime, timestamp

    def honest_counter(self, m: Model) -> int:
        """Where the machine's own counter stands: the lease's last counter, or before the anchor (and after a
        poisoned one) the figure the machine started the lease at."""
        if m.anchored and m.last_counter != U64_MAX:
            return m.last_counter
        return 10_000 * (self.leases.index(m) + 1)

    def make_report(self, m: Model, units: int, runtime: int, offset: int, corrupt: str) -> SignedUsageReport:
        counter = self.honest_counter(m) + units
        runtime_seconds = m.last_runtime + runtime if m.anchored else runtime
        timestamp = max(self.ts + offset, 0)
        if corrupt == "counter-backwards" and m.anchored and m.last_counter:
            counter = m.last_counter - 1 - units % m.last_counter
        if corrupt == "runtime-backwards" and m.anchored and m.last_runtime:
            runtime_seconds = m.last_runtime - 1
        if corrupt == "replay":
            timestamp = m.last_ts
        if corrupt == "poison":
            counter = U64_MAX
        runtime_seconds = min(runtime_seconds, 2**32 - 1)
        key = None
        if corrupt == "forged":
            key = FORGER_KEY
        elif corrupt.startswith("old-key"):
            key = self.previous_key.get(m.machine)
            if corrupt == "old-key-back-dated" and key is not None:
                _, start, until = self.windows[m.machine][-2]
                timestamp = max(until - 1 - offset % 30, start)
        signed = self.h.report(m.lease_id, counter, runtime_seconds, timestamp, machine=m.machine, key=key)
        if corrupt == "high-s":
            signed = with_s(signed, SECP256K1_N // 2 + 1 + units)
        return signed

    # ---------------------------------------------------------------- rules

    near = st.integers(-15, 3)
    report_spec = st.tuples(
        st.sampled_from([0, 0, 1, 1, 2, 2, 3, 4]),  # lease: mostly the running ones
        st.one_of(st.integers(0, 30), st.integers(0, 30), st.integers(0, 3_000)),  # units
        st.integers(0, 40),  # runtime seconds
        st.one_of(near, near, near, st.sampled_from([MAX_CLOCK_SKEW, MAX_CLOCK_SKEW + 1, -ACCEPTANCE_WINDOW,
                                                     -ACCEPTANCE_WINDOW - 1])),  # device time - block time
        st.sampled_from(CORRUPTIONS),
    )

    @staticmethod
    def dirtied(calldata: str, words: list[int]) -> str:
        """``calldata`` with bit 64 set in each of ``words`` (ABI words after the selector): counter words
        that no ABI encoder produces."""
        data = bytearray(bytes.fromhex(calldata[2:]))
        for word in words:
            data[4 + 32 * word + 23] |= 1  # bit 64 of the big-endian word
        return "0x" + data.hex()

    @rule(spec=report_spec, dt=st.integers(1, 120))
    def submit_one(self, spec: tuple[int, int, int, int, str], dt: int) -> None:
        self.tick(dt)
        index, units, runtime, offset, corrupt = spec
        m = self.leases[index]
        signed = self.make_report(m, units, runtime, offset, corrupt)
        error, events = self.predict_report(m, signed, corrupt, "submit", batch=False)
        call: Any = self.h.lease.functions.submitUsage(signed.as_tuple())
        if corrupt == "dirty":
            call = self.dirtied(self.h.lease.encode_abi("submitUsage", [signed.as_tuple()]), [2])
        self.expect(call, RELAYER, error or events)

    @rule(specs=st.lists(report_spec, min_size=1, max_size=4), dt=st.integers(1, 120))
    def submit_batch(self, specs: list[tuple[int, int, int, int, str]], dt: int) -> None:
        self.tick(dt)
        reports, predicted, dirty = [], [], []
        for index, units, runtime, offset, corrupt in specs:
            m = self.leases[index]
            signed = self.make_report(m, units, runtime, offset, corrupt)
            error, events = self.predict_report(m, signed, corrupt, "submit", batch=True)
            assert error is None
            if corrupt == "dirty":
                dirty.append(2 + 7 * len(reports) + 2)  # after offset and length, seven words a report
            reports.append(signed.as_tuple())
            predicted += events
        call: Any = self.h.lease.functions.submitUsageBatch(reports)
        if dirty:
            call = self.dirtied(self.h.lease.encode_abi("submitUsageBatch", [reports]), dirty)
        self.expect(call, RELAYER, predicted)

    @rule(index=st.integers(0, 4), units=st.integers(0, 50), down=st.booleans(), offset=st.integers(-15, 3),
          old_key=st.sampled_from([False, False, False, True]), by_lessor=st.sampled_from([True, True, True, False]),
          dt=st.integers(1, 120))
    def reanchor(self, index: int, units: int, down: bool, offset: int, old_key: bool, by_lessor: bool,
                 dt: int) -> None:
        """The lessor moves a lease's counters to a signed report, down (a poisoned anchor, a reset device) or up,
        billing nothing; the lessee may not, and a rotated-out key cannot be the one it moves to."""
        self.tick(dt)
        m = self.leases[index]
        signed = self.make_report(m, units, 0, offset, "old-key" if old_key else "none")
        if down and m.anchored and m.last_counter != U64_MAX:
            r = signed.report
            signed = self.h.report(m.lease_id, max(m.last_counter - units, 0), max(m.last_runtime - units, 0),
                                   r.timestamp, machine=m.machine, key=self.previous_key.get(m.machine)
                                   if old_key else None)
        call = self.h.lease.functions.reanchor(signed.as_tuple())
        if not by_lessor:
            self.expect(call, m.lessee, "EquipmentLeaseNotLessor")
            return
        error, events = self.predict_report(m, signed, "none", "reanchor", batch=False)
        self.expect(call, LESSOR, error or events)

    def unanchored(self) -> list[Model]:
        return [m for m in self.leases if m.status in RUNNING and not m.anchored]

    @precondition(lambda self: bool(self.unanchored()))
    @rule(data=st.data(), leaked=st.booleans(), batch=st.booleans(), back=st.integers(0, 30), dt=st.integers(1, 60))
    def attack_the_anchor(self, data: st.DataObject, leaked: bool, batch: bool, back: int, dt: int) -> None:
        """The holder of the current key (in the lessee's plant) or of a leaked rotated-out key (rotated out just
        now if the machine had none) signs a first report at 2**64-1 to freeze the lease's counters; the leaked key
        back-dates it into its old window."""
        m = data.draw(st.sampled_from(self.unanchored()))
        if leaked and m.machine not in self.previous_key:
            self.rotate_key(m.machine, dt)
        self.tick(dt)
        signed = self.make_report(m, 0, 0, 0, "poison")
        if leaked:
            _, start, until = self.windows[m.machine][-2]
            timestamp = max(until - 1 - back, start)
            signed = self.h.report(m.lease_id, U64_MAX, 0, timestamp, machine=m.machine,
                                   key=self.previous_key[m.machine])
        error, events = self.predict_report(m, signed, "poison", "submit", batch=batch)
        fns = self.h.lease.functions
        call = fns.submitUsageBatch([signed.as_tuple()]) if batch else fns.submitUsage(signed.as_tuple())
        self.expect(call, RELAYER, error or events)

    @precondition(lambda self: any(m.anomaly for m in self.leases))
    @rule(data=st.data(), accept=st.booleans(), dt=st.integers(1, 600))
    def resolve_anomaly(self, data: st.DataObject, accept: bool, dt: int) -> None:
        self.tick(dt)
        m = data.draw(st.sampled_from([m for m in self.leases if m.anomaly]))
        signed = m.anomaly
        assert signed is not None
        m.anomaly = None
        error, events = self.predict_report(m, signed, "none", "accept" if accept else "waive", batch=False)
        fns = self.h.lease.functions
        call = fns.acceptAnomalousUsage(signed.as_tuple()) if accept else fns.waiveAnomalousUsage(signed.as_tuple())
        self.expect(call, m.lessee if accept else LESSOR, error or events)

    @rule(index=st.integers(0, 4), amount=st.one_of(st.just(0), st.integers(1, 3_000_000)),
          payer=st.sampled_from([LESSEE, STRANGER]), dt=st.integers(1, 120))
    def top_up(self, index: int, amount: int, payer: int, dt: int) -> None:
        self.tick(dt)
        m = self.leases[index]
        call = self.h.lease.functions.topUp(m.lease_id, amount)
        if amount == 0:
            self.expect(call, payer, "EquipmentLeaseZeroAmount")
            return
        if m.status not in REPORTING:
            self.expect(call, payer, "EquipmentLeaseUnexpectedStatus")
            return
        paid = min(amount, m.debt)
        resumed = m.status == Status.SUSPENDED and paid == m.debt
        m.debt -= paid
        m.escrow += amount - paid
        m.held += amount
        m.deposits += amount
        events: list[Event] = [("EscrowToppedUp", {"leaseId": m.lease_id, "payer": self.h.address(payer),
                                                   "amount": amount, "debtPaid": paid, "escrow": m.escrow})]
        if resumed:
            event("lease resumed")
            m.status = Status.ACTIVE
            events.append(("LeaseResumed", {"leaseId": m.lease_id, "escrow": m.escrow}))
        self.expect(call, payer, events)

    @precondition(lambda self: any(m.debt for m in self.leases))
    @rule(data=st.data(), extra=st.one_of(st.just(0), st.integers(1, 10**6)), dt=st.integers(1, 120))
    def pay_debt(self, data: st.DataObject, extra: int, dt: int) -> None:
        """A top-up of exactly the debt, or more: a suspended lease resumes."""
        m = data.draw(st.sampled_from([m for m in self.leases if m.debt]))
        self.top_up(self.leases.index(m), m.debt + extra, LESSEE, dt)

    @rule(index=st.integers(0, 4), dt=st.integers(1, 120))
    def consent(self, index: int, dt: int) -> None:
        self.tick(dt)
        m = self.leases[index]
        call = self.h.lease.functions.consentToClose(m.lease_id)
        if m.status not in RUNNING:
            self.expect(call, LESSOR, "EquipmentLeaseUnexpectedStatus")
            return
        m.consented = True
        self.expect(call, LESSOR, [("EarlyCloseConsented", {"leaseId": m.lease_id})])

    @rule(index=st.integers(0, 4), by_lessee=st.booleans(), dt=st.integers(1, 120))
    def close(self, index: int, by_lessee: bool, dt: int) -> None:
        ts = self.tick(dt)
        m = self.leases[index]
        by = m.lessee if by_lessee else LESSOR
        call = self.h.lease.functions.close(m.lease_id)
        if m.status not in RUNNING:
            self.expect(call, by, "EquipmentLeaseUnexpectedStatus")
            return
        never_reported = not m.anchored and ts > m.last_ts + m.terms.heartbeat
        if ts < m.terms.ends_at and not (m.consented if by_lessee else never_reported):
            self.expect(call, by, "EquipmentLeaseCloseNotAllowed")
            return
        if ts < m.terms.ends_at and not by_lessee:
            event("lessor closed a lease that never reported")
        event("lease closed")
        m.status, m.closed_at = Status.CLOSED, ts
        self.expect(call, by, [("LeaseClosed", {"leaseId": m.lease_id, "machineId": m.machine,
                                                "closedBy": self.h.address(by),
                                                "settleUntil": ts + m.terms.grace_period})])

    @rule(index=st.integers(0, 4), dt=st.sampled_from([1, 60, 1_800, 1_801, 4_000]))
    def withdraw_refund(self, index: int, dt: int) -> None:
        ts = self.tick(dt)
        m = self.leases[index]
        call = self.h.lease.functions.withdrawRefund(m.lease_id)
        if m.status != Status.CLOSED:
            self.expect(call, m.lessee, "EquipmentLeaseUnexpectedStatus")
            return
        if ts <= m.closed_at + m.terms.grace_period:
            self.expect(call, m.lessee, "EquipmentLeaseGracePeriodActive")
            return
        event("refund withdrawn")
        amount = m.escrow
        m.refunded += amount
        m.held -= amount
        m.escrow = 0
        m.status = Status.SETTLED
        self.expect(call, m.lessee, [("RefundWithdrawn", {"leaseId": m.lease_id,
                                                          "lessee": self.h.address(m.lessee), "amount": amount})])

    @rule(index=st.integers(0, 4), dt=st.integers(1, 120))
    def withdraw_earnings(self, index: int, dt: int) -> None:
        self.tick(dt)
        m = self.leases[index]
        call = self.h.lease.functions.withdrawEarnings(m.lease_id)
        amount = m.earnings
        if amount == 0:
            self.expect(call, LESSOR, "EquipmentLeaseNothingToWithdraw")
            return
        m.withdrawn += amount
        m.held = m.escrow
        self.expect(call, LESSOR, [("EarningsWithdrawn", {"leaseId": m.lease_id, "lessor": self.h.address(LESSOR),
                                                          "amount": amount})])

    @rule(machine=st.sampled_from([PRESS, LATHE]), dt=st.integers(1, 120))
    def open_spare_offer(self, machine: MachineId, dt: int) -> None:
        ts = self.tick(dt)
        m = self.leases[self.base.spare_of[machine]]
        call = self.h.lease.functions.open(m.lease_id, m.deposit)
        busy = [o for o in self.leases if o.machine == machine and o.status in RUNNING]
        if m.status != Status.OFFERED:
            self.expect(call, m.lessee, "EquipmentLeaseUnexpectedStatus")
        elif ts >= m.terms.ends_at:
            self.expect(call, m.lessee, "EquipmentLeaseOfferExpired")
        elif busy:
            self.expect(call, m.lessee, "EquipmentLeaseMachineBusy")
        else:
            event("spare offer opened")
            m.status, m.last_ts, m.opened_at = Status.ACTIVE, ts, ts
            m.escrow = m.held = m.deposits = m.deposit
            self.expect(call, m.lessee, [("LeaseOpened", {"leaseId": m.lease_id, "machineId": machine,
                                                          "lessee": self.h.address(m.lessee),
                                                          "deposit": m.deposit})])

    @rule(machine=st.sampled_from([PRESS, LATHE, MILL]), dt=st.integers(1, 120))
    def rotate_key(self, machine: MachineId, dt: int) -> None:
        """The registry tells the lease contract; reports before the rotation stay valid under the old key only."""
        ts = self.tick(dt)
        self.rotations += 1
        key = device_key(10_000 + self.rotations)
        h = self.h
        receipt = h.transact(h.registry.functions.rotateKey(machine, device_address(key)), by=LESSOR,
                             gas=2_000_000, dry_run=False)
        assert h.block_time(receipt) == ts
        old, start, _ = self.windows[machine][-1]
        self.windows[machine][-1] = (old, start, ts)
        self.windows[machine].append((device_address(key), ts, FOREVER))
        self.previous_key[machine], h.signers[machine] = h.signers[machine], key
        event("key rotated")

    @rule(seconds=st.sampled_from([600, HOUR, HOUR, 2 * HOUR, DAY + 60]))
    def wait(self, seconds: int) -> None:
        self.tick(seconds)

    # ---------------------------------------------------------------- invariants

    def _build_multicall(self) -> tuple[Any, list[str]]:
        lease = self.h.lease
        (output,) = next(i for i in lease.abi if i.get("name") == "getLease")["outputs"]
        calls = [lease.encode_abi("getLease", [m.lease_id]) for m in self.leases]
        machines = sorted({m.machine for m in self.leases})
        calls += [lease.encode_abi("activeLeaseOf", [machine]) for machine in machines]
        types = [abi_type(output)] * len(self.leases) + ["uint256"] * len(machines)
        return lease.functions.multicall(calls), types

    def check_against_chain(self, leases: list[Model] | None = None) -> None:
        """getLease of ``leases`` (all, and every machine's activeLeaseOf, by default) equals the model."""
        call, types = self._multicall
        if leases is None:
            results = call.call({"from": self.h.address(STRANGER)}, block_identifier="latest")
            decoded = [decode([t], bytes(raw))[0] for t, raw in zip(types, results, strict=True)]
            leases = self.leases
            machines = sorted({m.machine for m in self.leases})
            for machine, active in zip(machines, decoded[len(self.leases):], strict=True):
                running = [m.lease_id for m in self.leases if m.machine == machine and m.status in RUNNING]
                assert active == (running[0] if running else 0)  # I6
        else:
            getter = self.h.lease.functions.getLease
            decoded = [getter(m.lease_id).call(block_identifier="latest") for m in leases]
        for m, lease in zip(leases, decoded, strict=False):
            (_, _, _, _, status, anchored, consented, last_counter, last_runtime, last_ts, closed_at, escrow,
             earnings, debt) = lease
            assert (Status(status), anchored, consented, last_counter, last_runtime, last_ts, closed_at) == (
                m.status, m.anchored, m.consented, m.last_counter, m.last_runtime, m.last_ts, m.closed_at)
            assert (escrow, earnings, debt) == (m.escrow, m.earnings, m.debt)

    def teardown(self) -> None:
        self.check_against_chain()
        self.every_escrow_reaches_a_terminal_state_without_the_owing_party()

    def every_escrow_reaches_a_terminal_state_without_the_owing_party(self) -> None:
        """Past endsAt, whatever the actors left: the lessor alone closes a running lease (the lessee, who owes
        usage, does nothing) and withdraws; after the grace period the lessee alone withdraws the refund (the
        lessor, who owes it, does nothing). Every opened lease ends Settled and the contract holds nothing."""
        h = self.h
        self.tick(max(max(m.terms.ends_at for m in self.leases) - h.now() + 1, 1))
        for m in self.leases:
            if m.status in RUNNING:
                self.close(self.leases.index(m), by_lessee=False, dt=1)
        self.tick(max(m.terms.grace_period for m in self.leases) + 1)
        for index, m in enumerate(self.leases):
            if m.status == Status.CLOSED:
                self.withdraw_refund(index, dt=1)
            if m.earnings:
                self.withdraw_earnings(index, dt=1)
        assert {m.status for m in self.leases} <= {Status.SETTLED, Status.OFFERED}
        assert h.balance(h.lease.address) == 0

    @invariant()
    def tokens_are_conserved_and_nothing_is_lost_or_billed_twice(self) -> None:
        # The model equals the chain lease by lease (checked after every transaction and at the end), so the
        # model's figures below are the chain's; the contract's token balance is read every step.
        assert self.h.balance(self.h.lease.address) == sum(m.held for m in self.leases)
        for m in self.leases:
            # escrow and earnings never negative (held >= escrow)
            assert m.escrow >= 0 and m.earnings >= 0
            # conservation per lease: deposits = escrow + earnings + withdrawals + refunds
            assert m.deposits == m.escrow + m.earnings + m.withdrawn + m.refunded
            # nothing lost, nothing twice: units from the UsageSettled and UsageWaived events actually emitted
            if m.anchored:
                assert m.units_billed + m.units_waived == m.last_counter - m.anchor_counter + m.rebased
            else:
                assert m.units_billed == m.units_waived == 0
            # billed within the rate bound, whatever the key holders, the relayer and the lessor did
            assert m.submit_units <= m.terms.max_rate_per_hour * m.submit_elapsed // HOUR
            assert m.submit_runtime <= m.submit_elapsed + 1
            assert m.submit_elapsed <= max(m.last_ts - m.opened_at, 0)
            # debt consistency (I4)
            assert m.debt == 0 or m.escrow == 0
            assert m.status != Status.ACTIVE or m.debt == 0
            assert m.status != Status.SUSPENDED or m.debt > 0


def test_lease_invariants_hold_under_random_operations(h: LeaseHarness) -> None:
    LeaseMachine.harness = h
    LeaseMachine.base = build_base(h)
    run_state_machine_as_test(LeaseMachine, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
