"""EquipmentLease under random operations (hypothesis RuleBasedStateMachine) against a Python model of the
documented rules: several leases on several machines, reports monotone and not (replayed, backwards, expired,
from the future, forged, high-s, anomalous, signed by a rotated-out key), single and batched, accepted and waived
anomalies, top-ups, debt and suspension, consent, closes, refunds, withdrawals, re-opening a freed machine, and
machine key rotations at any point of a lease's life (the key check against the registry's windows).

Every step's events are compared with the model's prediction, and after every step:

- token conservation: the contract's balance = Σ (escrow + earnings), and per lease deposits = escrow + earnings
  + lessor withdrawals + lessee refunds;
- nothing lost, nothing twice: Σ UsageSettled.units + Σ UsageWaived.units = last counter - anchored counter;
- escrow never negative, earnings never negative, debt consistent with status (I4); activeLeaseOf (I6);
- getLease equals the model.

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
CORRUPTIONS = ("none",) * 8 + ("forged", "high-s", "counter-backwards", "runtime-backwards", "replay", "old-key")
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
                            last_ts=lease.opened_at, escrow=deposit, held=deposit, deposits=deposit))
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
        """Send ``call`` if the model predicts events (checking them exactly); else check it reverts with the
        predicted custom error, without mining anything."""
        h = self.h
        if isinstance(predicted, str):
            try:
                call.call(h.dry_run_options(by), block_identifier="pending")
            except Exception as exc:
                err = h.tx(by).explain(exc)
                assert isinstance(err, ContractRevert), exc
                assert err.name == predicted, (err, predicted)
                return []
            raise AssertionError(f"expected {predicted}, the call succeeded")
        receipt = h.transact(call, by=by, gas=2_000_000, dry_run=False)
        assert h.block_time(receipt) == self.ts
        events = h.events(receipt)
        assert events == predicted
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

        if m.status not in REPORTING:
            return refuse("EquipmentLeaseUnexpectedStatus", Skip.LEASE_NOT_REPORTING)
        if m.status == Status.CLOSED:
            if self.ts > m.closed_at + m.terms.grace_period:
                return refuse("EquipmentLeaseGracePeriodOver", Skip.GRACE_PERIOD_OVER)
            if r.timestamp > m.closed_at:
                return refuse("EquipmentLeaseReportAfterClose", Skip.REPORT_AFTER_CLOSE)
        if r.timestamp > self.ts + MAX_CLOCK_SKEW:
            return refuse("EquipmentLeaseReportFromFuture", Skip.REPORT_FROM_FUTURE)
        if mode == "submit" and r.timestamp + ACCEPTANCE_WINDOW < self.ts:
            return refuse("EquipmentLeaseReportExpired", Skip.REPORT_EXPIRED)
        if r.timestamp <= m.last_ts:
            return refuse("EquipmentLeaseStaleReport", Skip.STALE_REPORT)
        if m.anchored and r.counter < m.last_counter:
            return refuse("EquipmentLeaseCounterBackwards", Skip.COUNTER_BACKWARDS)
        if m.anchored and r.runtime_seconds < m.last_runtime:
            return refuse("EquipmentLeaseRuntimeBackwards", Skip.RUNTIME_BACKWARDS)
        if corrupt == "high-s":
            return refuse("EquipmentLeaseInvalidSignature", Skip.INVALID_SIGNATURE)
        signer = recover_signer(self.h.hasher, signed)
        if not any(key == signer and start <= r.timestamp < end for key, start, end in self.windows[m.machine]):
            event(f"report refused by key window ({corrupt})")
            return refuse("EquipmentLeaseInvalidSigner", Skip.INVALID_SIGNER)

        if not m.anchored:
            m.anchored, m.anchor_counter = True, r.counter
            self._move(m, r.counter, r.runtime_seconds, r.timestamp)
            event("report anchored")
            return None, [settled(m, r.counter, 0, 0)]  # whatever the mode: the anchor bills nothing
        units, runtime_delta = r.counter - m.last_counter, r.runtime_seconds - m.last_runtime
        elapsed = r.timestamp - m.last_ts
        plausible = units <= m.terms.max_units(elapsed) and runtime_delta <= elapsed + 1
        event(f"report {mode}: {'anomaly' if mode == 'submit' and not plausible else 'settled'}")
        if mode == "waive":
            m.units_waived += units
            self._move(m, r.counter, r.runtime_seconds, r.timestamp)
            return None, [("UsageWaived", {"leaseId": m.lease_id, "counter": r.counter, "units": units})]
        if mode == "submit" and not plausible:
            m.anomaly = signed
            return None, [("UsageAnomalyDetected", {
                "leaseId": m.lease_id,
                "report": {"report": {"leaseId": r.lease_id, "machineId": r.machine_id, "counter": r.counter,
                                      "runtimeSeconds": r.runtime_seconds, "timestamp": r.timestamp},
                           "r": signed.r, "vs": signed.vs},
                "units": units, "maxUnits": m.terms.max_units(elapsed), "runtimeDelta": runtime_delta,
                "maxRuntimeDelta": elapsed + 1,
            })]
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
        self._move(m, r.counter, r.runtime_seconds, r.timestamp)
        if mode == "accept":
            events.append(("AnomalousUsageAccepted", {"leaseId": m.lease_id, "counter": r.counter}))
        return None, events

    @staticmethod
    def _move(m: Model, counter: int, runtime: int, timestamp: int) -> None:
        m.last_counter, m.last_runtime, m.last_ts = counter, runtime, timestamp

    def make_report(self, m: Model, units: int, runtime: int, offset: int, corrupt: str) -> SignedUsageReport:
        counter = m.last_counter + units if m.anchored else 10_000 * (self.leases.index(m) + 1) + units
        runtime_seconds = m.last_runtime + runtime if m.anchored else runtime
        timestamp = max(self.ts + offset, 0)
        if corrupt == "counter-backwards" and m.anchored and m.last_counter:
            counter = m.last_counter - 1 - units % m.last_counter
        if corrupt == "runtime-backwards" and m.anchored and m.last_runtime:
            runtime_seconds = m.last_runtime - 1
        if corrupt == "replay":
            timestamp = m.last_ts
        key = FORGER_KEY if corrupt == "forged" else self.previous_key.get(m.machine) if corrupt == "old-key" else None
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

    @rule(spec=report_spec, dt=st.integers(1, 120))
    def submit_one(self, spec: tuple[int, int, int, int, str], dt: int) -> None:
        self.tick(dt)
        index, units, runtime, offset, corrupt = spec
        m = self.leases[index]
        signed = self.make_report(m, units, runtime, offset, corrupt)
        error, events = self.predict_report(m, signed, corrupt, "submit", batch=False)
        self.expect(self.h.lease.functions.submitUsage(signed.as_tuple()), RELAYER, error or events)

    @rule(specs=st.lists(report_spec, min_size=1, max_size=4), dt=st.integers(1, 120))
    def submit_batch(self, specs: list[tuple[int, int, int, int, str]], dt: int) -> None:
        self.tick(dt)
        reports, predicted = [], []
        for index, units, runtime, offset, corrupt in specs:
            m = self.leases[index]
            signed = self.make_report(m, units, runtime, offset, corrupt)
            error, events = self.predict_report(m, signed, corrupt, "submit", batch=True)
            assert error is None
            reports.append(signed.as_tuple())
            predicted += events
        self.expect(self.h.lease.functions.submitUsageBatch(reports), RELAYER, predicted)

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
        if ts < m.terms.ends_at and not (by_lessee and m.consented):
            self.expect(call, by, "EquipmentLeaseCloseNotAllowed")
            return
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
            m.status, m.last_ts = Status.ACTIVE, ts
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
                assert m.units_billed + m.units_waived == m.last_counter - m.anchor_counter
            else:
                assert m.units_billed == m.units_waived == 0
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
