"""Shared by the EquipmentLease tests (embedded chain and anvil): deploying the lease next to the suite,
terms, device keys, signed reports, the billing formula, event decoding and exact-revert assertions.

The lease gets its own SettlementToken instance: the suite's token is asserted on by its own tests (total
supply 0), and a lease settles in whatever ERC-20 its terms name. Machines are registered in the suite's
MachineRegistry under labels no other test uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from millchain.errors import ContractRevert
from millchain.leasing import LeaseStatus, SkipReason
from millchain.session import Session
from millchain.tx import Transactor
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    permit_typed_data,
)
from millchain.types import MachineId, machine_id
from tests.abi import abi_type

ADMIN, LESSOR, LESSEE, STRANGER, RELAYER, OTHER_LESSOR, OTHER_LESSEE, PERMIT_USER = range(8)
"""Dev account indices. ADMIN deployed everything and holds the lease's DEFAULT_ADMIN_ROLE and PAUSER_ROLE and the
registry's REGISTRAR_ROLE; LESSOR owns every lease machine; PERMIT_USER holds tokens but never approved the lease."""

MUSD = 10**6
HOUR = 3_600
DAY = 86_400
MAX_CLOCK_SKEW = 300
ACCEPTANCE_WINDOW = DAY
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\0" * 32
MAX_UINT256 = 2**256 - 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FUNDING = 1_000_000 * MUSD
"""Tokens each paying account starts with."""
DEPOSIT = 100 * MUSD
"""Default opening deposit: twice the default minimum balance."""
FIXED_GAS = 3_000_000
"""Gas limit of every harness transaction on the embedded chain (see LeaseHarness.transact)."""


# The SDK's enums, under the short names these tests use.
Status = LeaseStatus
Skip = SkipReason


def device_key(n: int) -> bytes:
    return keccak(text=f"millchain-lease-device-{n}")


def device_address(key: bytes) -> str:
    return str(Account.from_key(key).address)


MACHINES: tuple[MachineId, ...] = tuple(machine_id(f"lease-machine-{n}") for n in range(1, 9))
PRESS, LATHE, MILL, DRILL = MACHINES[:4]
UNREGISTERED = machine_id("lease-machine-unregistered")
MACHINE_KEYS: dict[bytes, bytes] = {m: device_key(n) for n, m in enumerate(MACHINES, start=1)}
"""Each machine's registered device key."""
FORGER_KEY = keccak(text="millchain-lease-forger")


def with_s(signed: SignedUsageReport, s: int, parity: int | None = None) -> SignedUsageReport:
    """``signed`` with its signature's s replaced (EIP-2098: s in the low 255 bits of vs, v's parity on top)."""
    assert s < 2**255
    old = int.from_bytes(signed.vs, "big")
    bit = old >> 255 if parity is None else parity
    return SignedUsageReport(signed.report, signed.r, (s | bit << 255).to_bytes(32, "big"))


def low(address: str) -> str:
    return address.lower()


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    """Expect the custom error ``name`` with exactly ``args`` (addresses lowercase, bytes32 as bytes)."""
    with pytest.raises(ContractRevert) as caught:
        yield
    actual = (caught.value.name, caught.value.args_by_name)
    assert actual == (name, args), f"reverted with {actual}, expected {(name, args)}"


# ---------------------------------------------------------------------------------------------- terms, money


@dataclass(frozen=True)
class Terms:
    token: str
    ends_at: int
    price_per_unit: int = 2_000
    price_per_hour: int = 250_000
    """Not a multiple of 3600, so runtime billing rounds."""
    min_balance: int = 50 * MUSD
    max_rate_per_hour: int = 36_000
    """Ten units a second."""
    heartbeat: int = HOUR
    grace_period: int = DAY

    def as_tuple(self) -> tuple[str, int, int, int, int, int, int, int]:
        return (self.token, self.price_per_unit, self.price_per_hour, self.min_balance, self.max_rate_per_hour,
                self.ends_at, self.heartbeat, self.grace_period)

    def replace(self, **changes: Any) -> Terms:
        return dataclasses.replace(self, **changes)

    def lease_id(self, sequence: int) -> int:
        return (self.price_per_unit << 160 | self.price_per_hour << 64 | self.max_rate_per_hour << 32
                | sequence)

    def runtime_cost(self, runtime: int, last_runtime: int) -> int:
        return runtime * self.price_per_hour // HOUR - last_runtime * self.price_per_hour // HOUR

    def bill(self, units: int, runtime: int, last_runtime: int) -> int:
        """What the contract bills for ``units`` and the runtime moving from ``last_runtime`` to ``runtime``."""
        return units * self.price_per_unit + self.runtime_cost(runtime, last_runtime)

    def max_units(self, elapsed: int) -> int:
        return self.max_rate_per_hour * elapsed // HOUR


def terms_dict(terms: Terms) -> dict[str, Any]:
    """As the LeaseOffered event and getLease decode them."""
    return {"token": terms.token, "pricePerUnit": terms.price_per_unit, "pricePerHour": terms.price_per_hour,
            "minBalance": terms.min_balance, "maxRatePerHour": terms.max_rate_per_hour, "endsAt": terms.ends_at,
            "heartbeat": terms.heartbeat, "gracePeriod": terms.grace_period}


# ---------------------------------------------------------------------------------------------- deployment


@dataclass
class LeaseSuite:
    """Contracts deployed once per chain for the lease tests."""

    session: Session
    lease: Contract
    token: Contract
    registry: Contract
    reentrant: Contract
    snapshot: int | None = None


def deploy(session: Session, name: str, *args: Any, by: int = ADMIN) -> Contract:
    artifact = session.artifact(name)
    factory = session.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = session.transactor(by)
    built = factory.constructor(*args).build_transaction(
        {"from": tx.address, "gas": 1, "nonce": 0, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
    receipt = tx.send({"data": built["data"]})
    return session.chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def deploy_lease_suite(session: Session) -> LeaseSuite:
    """EquipmentLease on the session's MachineRegistry, its own SettlementToken, a re-entering token; every
    lease machine registered to LESSOR with its device key; paying accounts funded and (but PERMIT_USER) approved."""
    registry = session.contract("MachineRegistry")
    admin = session.transactor(ADMIN)
    lease = deploy(session, "EquipmentLease", admin.address, registry.address)
    session.subscribe_to_key_changes(registry.address, lease.address)
    token = deploy(session, "SettlementToken", admin.address)
    reentrant = deploy(session, "ReentrantToken")
    lessor = session.chain.account(LESSOR).address
    for machine, key in MACHINE_KEYS.items():
        admin.transact(registry.functions.register(machine, lessor, device_address(key), ZERO_BYTES32))
    for index in (LESSEE, OTHER_LESSEE, STRANGER, PERMIT_USER):
        who = session.chain.account(index).address
        admin.transact(token.functions.mint(who, FUNDING))
        if index != PERMIT_USER:
            session.transactor(index).transact(token.functions.approve(lease.address, MAX_UINT256))
    return LeaseSuite(session, lease, token, registry, reentrant)


# ---------------------------------------------------------------------------------------------- events


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, HexBytes):
        return bytes(value)
    return value


class EventDecoder:
    """Decodes a receipt's logs emitted by one contract, in order, as (event name, args)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._by_topic: dict[bytes, str] = {}
        for item in contract.abi:
            if item["type"] == "event":
                types = ",".join(abi_type(p) for p in item["inputs"])
                self._by_topic[keccak(text=f"{item['name']}({types})")] = item["name"]

    def __call__(self, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != self.contract.address:
                continue
            name = self._by_topic[bytes(log["topics"][0])]
            decoded = self.contract.events[name]().process_log(log)
            out.append((name, _plain(decoded["args"])))
        return out


# ---------------------------------------------------------------------------------------------- harness


@dataclass(frozen=True)
class Opened:
    """A lease offered by LESSOR and opened."""

    lease_id: int
    machine: MachineId
    terms: Terms
    opened_at: int
    deposit: int


@dataclass
class LeaseHarness:
    """Drives one LeaseSuite: offers, opens, signed reports, clock, events and state.

    Times: ``now()`` is the timestamp the next block will carry; ``at=`` on a send makes that block carry
    exactly the given timestamp (forward only). Subclasses move time on other chains.
    """

    suite: LeaseSuite
    signers: dict[bytes, bytes] = field(default_factory=lambda: dict(MACHINE_KEYS))
    """The device key each machine signs with; tests swap in rotated, forged or revoked keys."""

    @property
    def session(self) -> Session:
        return self.suite.session

    @property
    def lease(self) -> Contract:
        return self.suite.lease

    @property
    def token(self) -> Contract:
        return self.suite.token

    @property
    def registry(self) -> Contract:
        return self.suite.registry

    @cached_property
    def chain_id(self) -> int:
        return self.session.chain.chain_id

    @cached_property
    def hasher(self) -> UsageReportHasher:
        return UsageReportHasher(lease_domain(self.chain_id, self.lease.address))

    @cached_property
    def lease_events(self) -> EventDecoder:
        return EventDecoder(self.lease)

    @cached_property
    def token_events(self) -> EventDecoder:
        return EventDecoder(self.token)

    def tx(self, index: int) -> Transactor:
        return self.session.transactor(index)

    def address(self, index: int) -> str:
        return str(self.session.chain.account(index).address)

    # ---- clock

    def now(self) -> int:
        return int(self.session.chain.w3.eth.get_block("pending")["timestamp"])

    def latest_time(self) -> int:
        return int(self.session.chain.w3.eth.get_block("latest")["timestamp"])

    def next_block_at(self, timestamp: int) -> None:
        tester = self.session.chain.tester
        assert tester is not None
        tester.time_travel(timestamp)

    def advance(self, seconds: int) -> None:
        """Let ``seconds`` pass: the next block is at least that much later than the current pending one."""
        self.next_block_at(self.now() + seconds)

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.session.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def at(self, timestamp: int | None, send: Callable[[], TxReceipt]) -> TxReceipt:
        if timestamp is None:
            return send()
        self.next_block_at(timestamp)
        receipt = send()
        assert self.block_time(receipt) == timestamp
        return receipt

    # ---- generic calls

    def transact(self, call: ContractFunction, *, by: int, gas: int | None = None,
                 dry_run: bool = True) -> TxReceipt:
        """Send ``call``; a revert raises ContractRevert with the custom error, as Transactor.transact does.

        py-evm's gas estimate runs the call a dozen times (a binary search), which would make this suite crawl:
        the call is dry-run once on the pending block (same state and timestamp as the block it will be mined
        in) to surface a revert, then sent with a fixed gas limit. Without the dry run a revert still raises
        ContractRevert (the Transactor replays a failed transaction), but from a replay at the mined block.
        """
        tx = self.tx(by)
        if dry_run:
            try:
                call.call(self.dry_run_options(by, gas), block_identifier="pending")
            except Exception as exc:
                raise tx.explain(exc) from exc
        return tx.transact(call, gas=gas or FIXED_GAS)

    def dry_run_options(self, by: int = RELAYER, gas: int | None = None) -> Any:
        return {"from": self.address(by), "gas": gas or FIXED_GAS}

    def send(self, fn: str, *args: Any, by: int, at: int | None = None) -> TxReceipt:
        call = getattr(self.lease.functions, fn)(*args)
        return self.at(at, lambda: self.transact(call, by=by))

    def view(self, fn: str, *args: Any, by: int = STRANGER) -> Any:
        return self.tx(by).call(getattr(self.lease.functions, fn)(*args))

    def events(self, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
        """The lease contract's events in the receipt, in order."""
        return self.lease_events(receipt)

    def transfers(self, receipt: TxReceipt) -> list[tuple[str, str, int]]:
        """The settlement token's Transfer events: (from, to, value)."""
        return [(a["from"], a["to"], a["value"]) for n, a in self.token_events(receipt) if n == "Transfer"]

    def get(self, lease_id: int) -> dict[str, Any]:
        """getLease as a dict keyed by the Lease struct's member names (terms as a dict too)."""
        raw = self.view("getLease", lease_id)
        (output,) = next(i for i in self.lease.abi if i.get("name") == "getLease")["outputs"]
        lease = dict(zip((c["name"] for c in output["components"]), raw, strict=True))
        terms_names = next(c for c in output["components"] if c["name"] == "terms")["components"]
        lease["terms"] = dict(zip((c["name"] for c in terms_names), lease["terms"], strict=True))
        lease["machineId"] = bytes(lease["machineId"])
        return lease

    def balance(self, who: int | str) -> int:
        address = self.address(who) if isinstance(who, int) else who
        return int(self.token.functions.balanceOf(address).call())

    # ---- lease operations

    def default_terms(self, **changes: Any) -> Terms:
        return Terms(token=self.token.address, ends_at=self.now() + 30 * DAY).replace(**changes)

    def offer(self, terms: Terms | None = None, *, machine: MachineId = PRESS, by: int = LESSOR,
              at: int | None = None) -> tuple[int, TxReceipt]:
        terms = terms or self.default_terms()
        receipt = self.send("offer", machine, terms.as_tuple(), by=by, at=at)
        ((name, args),) = self.events(receipt)
        assert name == "LeaseOffered"
        return int(args["leaseId"]), receipt

    def open(self, lease_id: int, deposit: int = DEPOSIT, *, by: int = LESSEE, at: int | None = None) -> TxReceipt:
        return self.send("open", lease_id, deposit, by=by, at=at)

    def opened(self, terms: Terms | None = None, *, machine: MachineId = PRESS, deposit: int = DEPOSIT,
               lessee: int = LESSEE, at: int | None = None) -> Opened:
        terms = terms or self.default_terms()
        lease_id, _ = self.offer(terms, machine=machine)
        receipt = self.open(lease_id, deposit, by=lessee, at=at)
        return Opened(lease_id, machine, terms, self.block_time(receipt), deposit)

    def report(self, lease: Opened | int, counter: int, runtime: int, timestamp: int, *,
               machine: MachineId | None = None, key: bytes | None = None,
               hasher: UsageReportHasher | None = None) -> SignedUsageReport:
        """A report signed by the machine's current device key (or ``key``) over this lease's domain (or
        ``hasher``'s)."""
        if isinstance(lease, Opened):
            lease_id, machine = lease.lease_id, machine or lease.machine
        else:
            lease_id = lease
        assert machine is not None
        report = UsageReport(lease_id=lease_id, machine_id=machine, counter=counter, runtime_seconds=runtime,
                             timestamp=timestamp)
        return DeviceSigner(key or self.signers[machine], hasher or self.hasher).sign(report)

    def submit(self, signed: SignedUsageReport, *, by: int = RELAYER, at: int | None = None) -> TxReceipt:
        return self.send("submitUsage", signed.as_tuple(), by=by, at=at)

    def batch(self, reports: Sequence[SignedUsageReport], *, by: int = RELAYER, at: int | None = None,
              gas: int | None = None, dry_run: bool = True) -> TxReceipt:
        call = self.lease.functions.submitUsageBatch([r.as_tuple() for r in reports])
        return self.at(at, lambda: self.transact(call, by=by, gas=gas, dry_run=dry_run))

    def batch_result(self, reports: Sequence[SignedUsageReport], *, gas: int | None = None) -> int:
        """What submitUsageBatch returns (reports settled) if mined in the next block."""
        call = self.lease.functions.submitUsageBatch([r.as_tuple() for r in reports])
        return int(call.call(self.dry_run_options(gas=gas), block_identifier="pending"))

    def anchor(self, lease: Opened, counter: int = 1_000, runtime: int = 0, *, after: int = 10) -> int:
        """Settle the first report, timestamped ``after`` seconds after opening and mined then; its time."""
        t = lease.opened_at + after
        receipt = self.submit(self.report(lease, counter, runtime, t), at=t)
        assert self.events(receipt) == [("UsageSettled", {"leaseId": lease.lease_id, "counter": counter,
                                                           "units": 0, "amount": 0})]
        return t


# ---------------------------------------------------------------------------------------------- keys, events


def rotate(h: LeaseHarness, machine: MachineId, key: bytes, *, at: int | None = None) -> int:
    receipt = h.at(at, lambda: h.tx(LESSOR).transact(h.registry.functions.rotateKey(machine, device_address(key))))
    h.signers[machine] = key
    return h.block_time(receipt)


def revoke(h: LeaseHarness, machine: MachineId, *, at: int | None = None) -> int:
    return h.block_time(h.at(at, lambda: h.tx(LESSOR).transact(h.registry.functions.revoke(machine))))


def settled(lease: Opened, counter: int, units: int, amount: int) -> tuple[str, dict[str, Any]]:
    return ("UsageSettled", {"leaseId": lease.lease_id, "counter": counter, "units": units, "amount": amount})


def skipped(signed: SignedUsageReport, reason: Skip) -> tuple[str, dict[str, Any]]:
    r = signed.report
    return ("UsageReportSkipped", {"leaseId": r.lease_id, "counter": r.counter, "timestamp": r.timestamp,
                                   "reason": reason})


def sign_permit(h: LeaseHarness, owner: int, spender: str, value: int, deadline: int, *,
                key: bytes | None = None) -> tuple[int, bytes, bytes]:
    """(v, r, s) of an ERC-2612 permit for the lease's token, signed with eth-account by ``owner`` (or ``key``)."""
    token = h.token
    account = h.session.chain.account(owner)
    typed = permit_typed_data(token, account.address, spender, value,
                              token.functions.nonces(account.address).call(), deadline)
    signed = Account.sign_typed_data(key or account.key, full_message=typed)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


# ---------------------------------------------------------------------------------------------- scenario (both chains)


def lease_scenario(h: LeaseHarness) -> None:
    """A lease's whole life with exact money at every step, moving time only with ``h.advance`` and deriving every
    expectation from the blocks' actual timestamps, so it runs unchanged on the embedded chain and on anvil.

    Offer; open with an ERC-2612 permit; a batch anchoring the counters and billing five readings; a batch with a
    replay, a forgery and an anomaly, none billed; a bill beyond the escrow suspends the lease with debt; a
    top-up pays the debt and resumes it; early close with consent; the final reading settles within the grace
    period; the refund waits for it; the machine is leased again at once; earnings withdrawn; tokens conserved.
    """
    terms = h.default_terms(grace_period=600)
    lid, _ = h.offer(terms)
    deadline = h.latest_time() + HOUR
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, DEPOSIT, deadline)
    opened_at = h.block_time(h.send("openWithPermit", lid, DEPOSIT, deadline, v, r, s, by=PERMIT_USER))
    lease = Opened(lid, PRESS, terms, opened_at, DEPOSIT)
    assert h.view("activeLeaseOf", PRESS) == lid

    def settled(counter: int, units: int, amount: int) -> tuple[str, dict[str, Any]]:
        return ("UsageSettled", {"leaseId": lid, "counter": counter, "units": units, "amount": amount})

    def skipped(signed: SignedUsageReport, reason: Skip) -> tuple[str, dict[str, Any]]:
        rep = signed.report
        return ("UsageReportSkipped", {"leaseId": lid, "counter": rep.counter, "timestamp": rep.timestamp,
                                       "reason": reason})

    # readings every 20 s; the first anchors the counters
    h.advance(200)
    t0 = h.latest_time()
    reports = [h.report(lease, 1_000 + 10 * i, 20 * i, t0 - 100 + 20 * i) for i in range(6)]
    receipt = h.batch(reports)
    billed = [terms.bill(10, 20 * i, 20 * (i - 1)) for i in range(1, 6)]
    assert h.events(receipt) == [settled(1_000, 0, 0)] + [settled(1_000 + 10 * i, 10, billed[i - 1])
                                                          for i in range(1, 6)]
    total = sum(billed)
    assert (h.get(lid)["escrow"], h.get(lid)["earnings"]) == (DEPOSIT - total, total)

    # a replay, a forgery and an anomaly: none bills a unit
    h.advance(60)
    t1 = h.latest_time()
    forged = h.report(lease, 1_060, 110, t1, key=FORGER_KEY)
    anomaly = h.report(lease, 1_050 + 100_000, 110, t1)
    receipt = h.batch([reports[-1], forged, anomaly])
    elapsed = t1 - t0
    assert h.events(receipt) == [
        skipped(reports[-1], Skip.STALE_REPORT),
        skipped(forged, Skip.INVALID_SIGNER),
        ("UsageAnomalyDetected", {
            "leaseId": lid,
            "report": {"report": {"leaseId": lid, "machineId": PRESS, "counter": 1_050 + 100_000,
                                  "runtimeSeconds": 110, "timestamp": t1}, "r": anomaly.r, "vs": anomaly.vs},
            "units": 100_000, "maxUnits": terms.max_units(elapsed), "runtimeDelta": 10,
            "maxRuntimeDelta": elapsed + 1,
        }),
    ]
    assert h.get(lid)["lastCounter"] == 1_050

    # two hours of heavy production bill more than the escrow: debt, suspension
    h.advance(2 * HOUR)
    t2 = h.latest_time()
    elapsed = t2 - t0
    escrow = DEPOSIT - total
    amount = terms.bill(60_000, 100 + elapsed, 100)
    assert amount > escrow
    receipt = h.submit(h.report(lease, 61_050, 100 + elapsed, t2))
    debt = amount - escrow
    assert h.events(receipt) == [
        settled(61_050, 60_000, amount),
        ("EscrowFellBelowMinimum", {"leaseId": lid, "escrow": 0, "minBalance": terms.min_balance}),
        ("LeaseSuspended", {"leaseId": lid, "debt": debt}),
    ]
    total += amount
    lease_state = h.get(lid)
    assert (lease_state["status"], lease_state["escrow"], lease_state["debt"]) == (Status.SUSPENDED, 0, debt)

    # a top-up pays the debt first and resumes the lease
    top_up = debt + 60 * MUSD
    receipt = h.send("topUp", lid, top_up, by=LESSEE)
    assert h.events(receipt) == [
        ("EscrowToppedUp", {"leaseId": lid, "payer": h.address(LESSEE), "amount": top_up, "debtPaid": debt,
                            "escrow": 60 * MUSD}),
        ("LeaseResumed", {"leaseId": lid, "escrow": 60 * MUSD}),
    ]

    # early close with consent; the reading taken at the close settles in the grace period
    h.advance(10)  # anvil may stamp consecutive blocks alike: keep the close strictly after the last reading
    h.send("consentToClose", lid, by=LESSOR)
    receipt = h.send("close", lid, by=PERMIT_USER)
    closed_at = h.block_time(receipt)
    assert h.events(receipt) == [("LeaseClosed", {"leaseId": lid, "machineId": PRESS,
                                                  "closedBy": h.address(PERMIT_USER), "settleUntil": closed_at + 600})]
    assert h.view("activeLeaseOf", PRESS) == 0
    runtime = 100 + (t2 - t0)
    final = h.report(lease, 61_055, runtime, closed_at)
    receipt = h.submit(final)
    assert h.events(receipt) == [settled(61_055, 5, terms.bill(5, runtime, runtime))]
    total += terms.bill(5, runtime, runtime)
    with reverts("EquipmentLeaseGracePeriodActive", leaseId=lid, refundableAfter=closed_at + 600):
        h.send("withdrawRefund", lid, by=PERMIT_USER)

    # the machine is free for a new lease at once
    next_id, _ = h.offer(h.default_terms())
    h.open(next_id, by=OTHER_LESSEE)
    assert h.view("activeLeaseOf", PRESS) == next_id

    # after the grace period: refund, earnings, and every token accounted for
    h.advance(601)
    refund = 60 * MUSD - terms.bill(5, runtime, runtime)
    receipt = h.send("withdrawRefund", lid, by=PERMIT_USER)
    assert h.events(receipt) == [("RefundWithdrawn", {"leaseId": lid, "lessee": h.address(PERMIT_USER),
                                                      "amount": refund})]
    receipt = h.send("withdrawEarnings", lid, by=LESSOR)
    assert h.events(receipt) == [("EarningsWithdrawn", {"leaseId": lid, "lessor": h.address(LESSOR),
                                                        "amount": total})]
    assert DEPOSIT + top_up == total + refund
    assert h.balance(LESSOR) == total
    assert h.balance(PERMIT_USER) == FUNDING - DEPOSIT + refund
    assert h.balance(LESSEE) == FUNDING - top_up
    assert h.balance(h.lease.address) == DEPOSIT  # the new lease's escrow, nothing else
    final_state = h.get(lid)
    assert (final_state["status"], final_state["escrow"], final_state["earnings"], final_state["debt"]) == (
        Status.SETTLED, 0, 0, 0)
