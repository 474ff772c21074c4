"""EquipmentLease usage reports under attack, and batches: forged, high-s, malleated, zero, wrong chain, wrong
contract, tampered, another machine's key, replayed, older, revoked and rotated keys — none bills a unit, through
submitUsage (exact custom error) or submitUsageBatch (UsageReportSkipped with the matching reason) — and the valid
boundary cases on either side of a rotation or revocation. Batches mixing every skip reason with valid reports,
and batches near their practical size limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from millchain.typed_data import (
    SignedUsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
    usage_report_typed_data,
)
from millchain.types import MachineId
from tests.contracts.lease_helpers import (
    DAY,
    DEPOSIT,
    DRILL,
    FORGER_KEY,
    LATHE,
    LESSEE,
    LESSOR,
    MACHINES,
    MILL,
    PRESS,
    SECP256K1_N,
    LeaseHarness,
    Opened,
    Skip,
    device_address,
    device_key,
    low,
    reverts,
    with_s,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

START = 1_000
"""Every attacked lease is anchored at counter START, runtime 0."""


@dataclass(frozen=True)
class Attack:
    """A report meant to bill 100 units it has no right to, and how the contract must refuse it."""

    signed: SignedUsageReport
    error: str
    args: dict[str, Any]
    reason: Skip


def anchored(h: LeaseHarness, machine: MachineId = PRESS) -> tuple[Opened, int]:
    lease = h.opened(machine=machine)
    return lease, h.anchor(lease, START, 0)


def invalid_signer(lease: Opened, signed: SignedUsageReport, signer: str) -> Attack:
    return Attack(signed, "EquipmentLeaseInvalidSigner",
                  {"leaseId": lease.lease_id, "machineId": lease.machine, "signer": low(signer),
                   "timestamp": signed.report.timestamp}, Skip.INVALID_SIGNER)


def invalid_signature(lease: Opened, signed: SignedUsageReport) -> Attack:
    return Attack(signed, "EquipmentLeaseInvalidSignature", {"leaseId": lease.lease_id}, Skip.INVALID_SIGNATURE)


def recover_compact(h: LeaseHarness, signed: SignedUsageReport) -> str | None:
    """What ecrecover yields for an EIP-2098 signature taken at face value (no low-s rule); None if nothing."""
    vs = int.from_bytes(signed.vs, "big")
    s, recid = vs & ((1 << 255) - 1), vs >> 255
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signed.r + s.to_bytes(32, "big") + bytes([recid]), h.hasher.digest(signed.report), hasher=None)
    except Exception:
        return None
    return str(to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:]))


# Each builds, for an anchored lease at t, a report of counter START + 100 at t + 60 and its expected refusal.
ATTACKS: dict[str, Callable[[LeaseHarness, Opened, int], Attack]] = {
    "forged-random-key": lambda h, lease, t: invalid_signer(
        lease, h.report(lease, START + 100, 60, t + 60, key=FORGER_KEY), device_address(FORGER_KEY)),
    "another-machines-key": lambda h, lease, t: invalid_signer(
        lease, h.report(lease, START + 100, 60, t + 60, key=h.signers[LATHE]), device_address(h.signers[LATHE])),
    "high-s-just-above-half-order": lambda h, lease, t: invalid_signature(
        lease, with_s(h.report(lease, START + 100, 60, t + 60), SECP256K1_N // 2 + 1)),
    "high-s-largest-eip2098": lambda h, lease, t: invalid_signature(
        lease, with_s(h.report(lease, START + 100, 60, t + 60), 2**255 - 1, parity=0)),
    "high-s-other-parity": lambda h, lease, t: invalid_signature(
        lease, with_s(h.report(lease, START + 100, 60, t + 60), SECP256K1_N // 2 + 12_345, parity=1)),
    "all-zero-signature": lambda h, lease, t: invalid_signature(
        lease, SignedUsageReport(h.report(lease, START + 100, 60, t + 60).report, b"\0" * 32, b"\0" * 32)),
    "wrong-chain-id": lambda h, lease, t: _other_domain(h, lease, t, lease_domain(h.chain_id + 1, h.lease.address)),
    "wrong-verifying-contract": lambda h, lease, t: _other_domain(
        h, lease, t, lease_domain(h.chain_id, h.registry.address)),
    "wrong-domain-version": lambda h, lease, t: _other_domain(
        h, lease, t, {**lease_domain(h.chain_id, h.lease.address), "version": "2"}),
    "tampered-counter": lambda h, lease, t: _tampered(h, lease, t),
    "malleated-signature": lambda h, lease, t: _malleated(h, lease, t),
}


def _other_domain(h: LeaseHarness, lease: Opened, t: int, domain: dict[str, Any]) -> Attack:
    signed = h.report(lease, START + 100, 60, t + 60, hasher=UsageReportHasher(domain))
    signer = recover_signer(h.hasher, signed)  # what the contract recovers over its own domain
    assert signer != device_address(h.signers[lease.machine])
    return invalid_signer(lease, signed, signer)


def _tampered(h: LeaseHarness, lease: Opened, t: int) -> Attack:
    genuine = h.report(lease, START + 1, 60, t + 60)
    tampered = SignedUsageReport(genuine.report.model_copy(update={"counter": START + 100}), genuine.r, genuine.vs)
    return invalid_signer(lease, tampered, recover_signer(h.hasher, tampered))


def _malleated(h: LeaseHarness, lease: Opened, t: int) -> Attack:
    """The other valid (r, n - s) signature of the digest. For all but a 2**-126 sliver of signatures n - s
    needs bit 255, which EIP-2098 gives to v's parity: the compact form cannot carry it, and what it does
    carry recovers nobody or somebody else."""
    genuine = h.report(lease, START + 100, 60, t + 60)
    vs = int.from_bytes(genuine.vs, "big")
    s, parity = vs & ((1 << 255) - 1), vs >> 255
    flipped = SECP256K1_N - s
    assert flipped >= 2**255
    vs_flipped = (flipped | (1 - parity) << 255) % 2**256
    signed = SignedUsageReport(genuine.report, genuine.r, vs_flipped.to_bytes(32, "big"))
    signer = recover_compact(h, signed)
    if signer is None:
        return invalid_signature(lease, signed)
    assert signer != device_address(h.signers[lease.machine])
    return invalid_signer(lease, signed, signer)


attacks = pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())


def assert_nothing_billed(h: LeaseHarness, lease: Opened, before: dict[str, Any]) -> None:
    """The lease is exactly as before (counters, escrow, earnings, debt, status) and holds its deposit."""
    assert h.get(lease.lease_id) == before
    assert h.balance(h.lease.address) == DEPOSIT


def skipped(signed: SignedUsageReport, reason: Skip) -> tuple[str, dict[str, Any]]:
    r = signed.report
    return ("UsageReportSkipped", {"leaseId": r.lease_id, "counter": r.counter, "timestamp": r.timestamp,
                                   "reason": reason})


def settled(lease_id: int, counter: int, units: int, amount: int) -> tuple[str, dict[str, Any]]:
    return ("UsageSettled", {"leaseId": lease_id, "counter": counter, "units": units, "amount": amount})


# ---------------------------------------------------------------------------------------------- attacks


@attacks
def test_attacked_report_is_refused_by_submit_usage_and_bills_nothing(
    h: LeaseHarness, attack: Callable[[LeaseHarness, Opened, int], Attack]
) -> None:
    lease, t = anchored(h)
    a = attack(h, lease, t)
    before = h.get(lease.lease_id)
    h.next_block_at(t + 60)
    with reverts(a.error, **a.args):
        h.submit(a.signed)
    assert_nothing_billed(h, lease, before)
    # the genuine reading still bills its 100 units afterwards
    receipt = h.submit(h.report(lease, START + 100, 60, t + 60))
    assert h.events(receipt) == [settled(lease.lease_id, START + 100, 100, lease.terms.bill(100, 60, 0))]


@attacks
def test_attacked_report_is_skipped_by_a_batch_with_its_reason_and_bills_nothing(
    h: LeaseHarness, attack: Callable[[LeaseHarness, Opened, int], Attack]
) -> None:
    lease, t = anchored(h)
    a = attack(h, lease, t)
    before = h.get(lease.lease_id)
    h.next_block_at(t + 60)
    assert h.batch_result([a.signed]) == 0
    receipt = h.batch([a.signed])
    assert h.events(receipt) == [skipped(a.signed, a.reason)]
    assert_nothing_billed(h, lease, before)


def test_replayed_report_bills_nothing_the_second_time(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    signed = h.report(lease, START + 100, 60, t + 60)
    h.submit(signed, at=t + 60)
    after_first = h.get(lease.lease_id)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t + 60, lastTimestamp=t + 60):
        h.submit(signed)
    receipt = h.batch([signed, signed])
    assert h.events(receipt) == [skipped(signed, Skip.STALE_REPORT)] * 2
    assert h.get(lease.lease_id) == after_first


def test_older_report_bills_nothing_whether_older_by_time_or_by_counter(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    h.submit(h.report(lease, START + 100, 60, t + 60), at=t + 60)
    after = h.get(lease.lease_id)
    older_in_time = h.report(lease, START + 50, 30, t + 30)
    older_counter = h.report(lease, START + 50, 70, t + 70)
    older_runtime = h.report(lease, START + 100, 59, t + 70)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t + 30, lastTimestamp=t + 60):
        h.submit(older_in_time)
    h.next_block_at(t + 70)
    with reverts("EquipmentLeaseCounterBackwards", leaseId=lease.lease_id, counter=START + 50,
                 lastCounter=START + 100):
        h.submit(older_counter)
    with reverts("EquipmentLeaseRuntimeBackwards", leaseId=lease.lease_id, runtimeSeconds=59,
                 lastRuntimeSeconds=60):
        h.submit(older_runtime)
    receipt = h.batch([older_in_time, older_counter, older_runtime])
    assert h.events(receipt) == [skipped(older_in_time, Skip.STALE_REPORT),
                                 skipped(older_counter, Skip.COUNTER_BACKWARDS),
                                 skipped(older_runtime, Skip.RUNTIME_BACKWARDS)]
    assert h.get(lease.lease_id) == after


def test_report_signed_with_a_standard_wallet_over_the_typed_data_json_settles(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    report = h.report(lease, START + 100, 60, t + 60).report
    wallet = Account.from_key(h.signers[PRESS])
    sig = Account.sign_typed_data(wallet.key, full_message=usage_report_typed_data(h.hasher.domain, report))
    vs = sig.s | (sig.v - 27) << 255
    signed = SignedUsageReport(report, sig.r.to_bytes(32, "big"), vs.to_bytes(32, "big"))
    receipt = h.submit(signed, at=t + 60)
    assert h.events(receipt) == [settled(lease.lease_id, START + 100, 100, lease.terms.bill(100, 60, 0))]


# ---------------------------------------------------------------------------------------------- key lifecycle


@pytest.mark.parametrize(("offset", "valid"), [(-1, True), (0, False), (1, False)],
                         ids=["just-before-revocation", "at-revocation", "after-revocation"])
def test_report_of_a_revoked_machine_bills_only_if_timestamped_before_the_revocation(
    h: LeaseHarness, offset: int, valid: bool
) -> None:
    lease, t = anchored(h)
    revoked_at = t + 100
    h.at(revoked_at, lambda: h.tx(LESSOR).transact(h.registry.functions.revoke(PRESS)))
    signed = h.report(lease, START + 100, 60, revoked_at + offset)
    h.next_block_at(revoked_at + 5)
    if valid:
        receipt = h.submit(signed)
        assert h.events(receipt) == [settled(lease.lease_id, START + 100, 100, lease.terms.bill(100, 60, 0))]
        return
    before = h.get(lease.lease_id)
    with reverts("EquipmentLeaseInvalidSigner", leaseId=lease.lease_id, machineId=PRESS,
                 signer=low(device_address(h.signers[PRESS])), timestamp=revoked_at + offset):
        h.submit(signed)
    receipt = h.batch([signed])
    assert h.events(receipt) == [skipped(signed, Skip.INVALID_SIGNER)]
    assert_nothing_billed(h, lease, before)


@pytest.mark.parametrize(
    ("key", "offset", "valid"),
    [("old", -1, True), ("old", 0, False), ("old", 1, False), ("new", -1, False), ("new", 0, True)],
    ids=["old-key-before-cutoff", "old-key-at-cutoff", "old-key-after-cutoff", "new-key-before-cutoff",
         "new-key-at-cutoff"],
)
def test_report_around_a_key_rotation_bills_only_under_the_key_valid_at_its_timestamp(
    h: LeaseHarness, key: str, offset: int, valid: bool
) -> None:
    lease, t = anchored(h)
    old_key, new_key = h.signers[PRESS], device_key(100)
    rotated_at = t + 100
    h.at(rotated_at, lambda: h.tx(LESSOR).transact(
        h.registry.functions.rotateKey(PRESS, device_address(new_key))))
    signing_key = old_key if key == "old" else new_key
    signed = h.report(lease, START + 100, 60, rotated_at + offset, key=signing_key)
    h.next_block_at(rotated_at + 5)
    if valid:
        receipt = h.submit(signed)
        assert h.events(receipt) == [settled(lease.lease_id, START + 100, 100, lease.terms.bill(100, 60, 0))]
        return
    before = h.get(lease.lease_id)
    with reverts("EquipmentLeaseInvalidSigner", leaseId=lease.lease_id, machineId=PRESS,
                 signer=low(device_address(signing_key)), timestamp=rotated_at + offset):
        h.submit(signed)
    receipt = h.batch([signed])
    assert h.events(receipt) == [skipped(signed, Skip.INVALID_SIGNER)]
    assert_nothing_billed(h, lease, before)


def test_leaked_rotated_key_cannot_back_date_past_the_last_settled_report(h: LeaseHarness) -> None:
    """A key rotated out at T still signs readings timestamped before T; once a newer report settled, those are
    stale (docs: security notes, back-dated reports by an old key)."""
    lease, t = anchored(h)
    old_key, new_key = h.signers[PRESS], device_key(100)
    rotated_at = t + 100
    h.at(rotated_at, lambda: h.tx(LESSOR).transact(
        h.registry.functions.rotateKey(PRESS, device_address(new_key))))
    h.submit(h.report(lease, START + 10, 110, rotated_at + 10, key=new_key), at=rotated_at + 10)
    backdated = h.report(lease, START + 999, 99, rotated_at - 1, key=old_key)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=rotated_at - 1,
                 lastTimestamp=rotated_at + 10):
        h.submit(backdated)


# ---------------------------------------------------------------------------------------------- batches


def test_batch_mixing_every_skip_reason_with_valid_reports_settles_the_valid_ones(h: LeaseHarness) -> None:
    a, _ = anchored(h, PRESS)
    b = h.opened(machine=LATHE)
    h.anchor(b, 5_000, 100)
    c1 = h.opened(h.default_terms(grace_period=10_000), machine=MILL)  # closed, in its grace period
    c2 = h.opened(h.default_terms(grace_period=10), machine=DRILL)  # closed, grace period over
    offered, _ = h.offer(machine=MACHINES[4])
    for closing in (c1, c2):
        h.send("consentToClose", closing.lease_id, by=LESSOR)
        h.send("close", closing.lease_id, by=LESSEE)
    c1_closed_at = h.get(c1.lease_id)["closedAt"]
    now = h.now() + 1_000
    h.next_block_at(now)
    forged = FORGER_KEY

    reports = [
        h.report(a, START + 10, 0, now - 50),  # 0 settles
        h.report(a.lease_id + 2**20, 1, 0, now - 50, machine=PRESS),  # unknown id
        h.report(a.lease_id, START + 11, 0, now - 49, machine=LATHE),  # PRESS's lease, LATHE named: unknown
        h.report(offered, 1, 0, now - 50, machine=MACHINES[4]),  # not opened
        h.report(a, START + 12, 0, now + 301),  # from the future
        h.report(b, 5_010, 100, now - DAY - 1),  # expired
        h.report(a, START + 10, 0, now - 50),  # replay of 0
        h.report(c1, 1, 0, c1_closed_at + 1),  # after the close
        h.report(c2, 1, 0, now - 60),  # grace period over
        h.report(b, 4_999, 100, now - 40),  # counter backwards
        h.report(b, 5_000, 99, now - 40),  # runtime backwards
        with_s(h.report(b, 5_010, 110, now - 40), SECP256K1_N // 2 + 1),  # high s
        h.report(b, 5_010, 110, now - 40, key=forged),  # forged
        h.report(b, 5_010, 110, now - 30),  # 13 settles
        h.report(a, START + 100_000, 0, now - 20),  # anomaly
        h.report(a, START + 20, 0, now - 10),  # 15 settles
    ]
    assert h.batch_result(reports, gas=5_000_000) == 3
    receipt = h.batch(reports, gas=5_000_000)
    events = h.events(receipt)

    reasons = [Skip.UNKNOWN_LEASE, Skip.UNKNOWN_LEASE, Skip.LEASE_NOT_REPORTING, Skip.REPORT_FROM_FUTURE,
               Skip.REPORT_EXPIRED, Skip.STALE_REPORT, Skip.REPORT_AFTER_CLOSE, Skip.GRACE_PERIOD_OVER,
               Skip.COUNTER_BACKWARDS, Skip.RUNTIME_BACKWARDS, Skip.INVALID_SIGNATURE, Skip.INVALID_SIGNER]
    elapsed_a = (now - 20) - (now - 50)
    assert events == [
        settled(a.lease_id, START + 10, 10, a.terms.bill(10, 0, 0)),
        *(skipped(r, reason) for r, reason in zip(reports[1:13], reasons, strict=True)),
        settled(b.lease_id, 5_010, 10, b.terms.bill(10, 110, 100)),
        ("UsageAnomalyDetected", {
            "leaseId": a.lease_id,
            "report": {"report": {"leaseId": a.lease_id, "machineId": PRESS, "counter": START + 100_000,
                                  "runtimeSeconds": 0, "timestamp": now - 20},
                       "r": reports[14].r, "vs": reports[14].vs},
            "units": 100_000 - 10, "maxUnits": a.terms.max_units(elapsed_a), "runtimeDelta": 0,
            "maxRuntimeDelta": elapsed_a + 1,
        }),
        settled(a.lease_id, START + 20, 10, a.terms.bill(10, 0, 0)),
    ]
    # The other two are batch-skipped in test_equipment_lease_review.py: a dirty word needs hand-made calldata,
    # an anchor by a rotated-out key a rotation.
    assert set(Skip) == {*reasons, Skip.MALFORMED_REPORT, Skip.ANCHOR_NOT_BY_CURRENT_KEY}
    assert (h.get(a.lease_id)["lastCounter"], h.get(b.lease_id)["lastCounter"]) == (START + 20, 5_010)
    assert h.get(b.lease_id)["lastTimestamp"] == now - 30
    for closed in (c1, c2):
        assert h.get(closed.lease_id)["anchored"] is False


def test_one_bad_report_never_sinks_a_batch(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    bad_first = h.report(lease, START + 5, 0, t + 10, key=FORGER_KEY)
    good = h.report(lease, START + 10, 0, t + 20)
    bad_last = h.report(lease, START + 20, 0, t + 30, key=FORGER_KEY)
    receipt = h.batch([bad_first, good, bad_last], at=t + 40)
    assert receipt["status"] == 1
    assert h.events(receipt) == [skipped(bad_first, Skip.INVALID_SIGNER),
                                 settled(lease.lease_id, START + 10, 10, lease.terms.bill(10, 0, 0)),
                                 skipped(bad_last, Skip.INVALID_SIGNER)]


def test_batch_of_only_bad_reports_succeeds_and_settles_nothing(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    before = h.get(lease.lease_id)
    bad = [h.report(lease, START + i, 0, t + i, key=FORGER_KEY) for i in range(1, 4)]
    receipt = h.batch(bad, at=t + 10)
    assert h.events(receipt) == [skipped(r, Skip.INVALID_SIGNER) for r in bad]
    assert h.get(lease.lease_id) == before


def test_empty_batch_settles_nothing_and_emits_nothing(h: LeaseHarness) -> None:
    assert h.batch_result([]) == 0
    assert h.events(h.batch([])) == []


def test_reports_of_one_lease_in_timestamp_order_all_settle_and_out_of_order_ones_are_stale(
    h: LeaseHarness,
) -> None:
    lease, t = anchored(h)
    in_order = [h.report(lease, START + 10 * i, i, t + i) for i in range(1, 6)]
    late = h.report(lease, START + 25, 2, t + 2)
    receipt = h.batch([*in_order, late], at=t + 10)
    assert h.events(receipt) == [
        *(settled(lease.lease_id, START + 10 * i, 10, lease.terms.bill(10, i, i - 1)) for i in range(1, 6)),
        skipped(late, Skip.STALE_REPORT),
    ]
    assert h.get(lease.lease_id)["earnings"] == lease.terms.bill(50, 5, 0)


def test_batch_settles_reports_for_many_leases_and_anchors_new_ones(h: LeaseHarness) -> None:
    leases = [h.opened(machine=m) for m in MACHINES[:4]]
    t = max(lease.opened_at for lease in leases) + 1
    reports = [h.report(lease, 100 * i, 0, t) for i, lease in enumerate(leases)]
    reports += [h.report(lease, 100 * i + 7, 1, t + 1) for i, lease in enumerate(leases)]
    receipt = h.batch(reports, at=t + 2)
    assert h.events(receipt) == [settled(lease.lease_id, 100 * i, 0, 0) for i, lease in enumerate(leases)] + [
        settled(lease.lease_id, 100 * i + 7, 7, lease.terms.bill(7, 1, 0)) for i, lease in enumerate(leases)]


def test_batch_of_128_reports_for_8_leases_settles_every_report(h: LeaseHarness) -> None:
    """Past the 100-report batches the oracle sends. The practical limit (~480 reports: 128 KB of calldata, what
    a node's transaction pool accepts) runs on anvil, where it is fast: tests/integration/test_lease_anvil.py."""
    size = 128
    leases = [h.opened(machine=m) for m in MACHINES]
    t = max(lease.opened_at for lease in leases) + 1
    per_lease = size // len(leases)
    reports = [h.report(lease, 5 * step, step, t + step) for step in range(per_lease) for lease in leases]
    calldata = h.lease.encode_abi("submitUsageBatch", [[r.as_tuple() for r in reports]])
    assert len(calldata) // 2 < 128 * 1024
    receipt = h.batch(reports, at=t + per_lease, gas=29_000_000, dry_run=False)
    events = h.events(receipt)
    assert len(events) == size
    assert {name for name, _ in events} == {"UsageSettled"}
    units = 5 * (per_lease - 1)
    for lease in leases:
        state = h.get(lease.lease_id)
        assert (state["lastCounter"], state["earnings"]) == (units, lease.terms.bill(units, per_lease - 1, 0))
