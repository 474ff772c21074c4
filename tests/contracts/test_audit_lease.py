"""EquipmentLease and MachineRegistry: the second outside review (issue 11, "review the fixed contracts
adversarially once more"). Each test is a proof of concept of one attack or defect, named by its actor, and
asserts the property that must hold. Findings and the argued ones: docs/security.md, "Second review (leasing
and identity)".
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector
from web3.contract import Contract
from web3.types import TxReceipt

from millchain.p256_precompile import P256_N
from millchain.signers.software import P256SoftwareSigner
from millchain.types import machine_id
from tests.contracts.lease_helpers import (
    ADMIN,
    DEPOSIT,
    HOUR,
    LATHE,
    LESSEE,
    LESSOR,
    MAX_CLOCK_SKEW,
    MUSD,
    PRESS,
    RELAYER,
    STRANGER,
    ZERO_BYTES32,
    LeaseHarness,
    Opened,
    Status,
    deploy,
    device_address,
    device_key,
    low,
    reverts,
    rotate,
    settled,
)
from tests.contracts.test_equipment_lease_p256 import key_id, p256_machine, p256_report, xy

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

U64_MAX = 2**64 - 1


def _steady_batch_gas(h: LeaseHarness, deposit: int, machine: bytes) -> tuple[int, list[object]]:
    """Gas of one batch of five steady reports (one unit and one second of runtime a second) on a lease opened
    with ``deposit``, and the batch's events."""
    lease: Opened = h.opened(deposit=deposit, machine=machine)
    t = h.anchor(lease, counter=1_000, runtime=0)
    reports = [h.report(lease, 1_000 + i, i, t + i) for i in range(1, 6)]
    receipt = h.batch(reports, by=RELAYER, at=t + 10)
    return int(receipt["gasUsed"]), h.events(receipt)


def test_fast_path_holds_whatever_the_parity_of_the_escrow_above_min_balance(h: LeaseHarness) -> None:
    """Anyone (relayer, lessee topping up): the fast path's last test combined a boolean with a multi-bit word
    by bitwise AND, so a report leaving escrow >> minBalanceBits even (2, 4, ...) fell to the reference path and
    paid a second signature recovery, about 5,000 gas more. An escrow of 150 units over a 50-unit minimum (bits
    26, escrow >> 26 == 2) cost more per report than one of 100 (== 1). Must hold: the per-report cost does not
    depend on the escrow's bit pattern."""
    gas_odd, events_odd = _steady_batch_gas(h, DEPOSIT, PRESS)  # 100 MUSD >> 26 == 1
    gas_even, events_even = _steady_batch_gas(h, 150 * MUSD, LATHE)  # 150 MUSD >> 26 == 2
    assert len(events_odd) == len(events_even) == 5
    assert all(name == "UsageSettled" for name, _ in events_even)
    assert abs(gas_even - gas_odd) <= 5 * 100, (gas_odd, gas_even)


# ---------------------------------------------------------------------------------------------- argued: clock, keys


def test_device_clock_ahead_at_close_loses_at_most_max_clock_skew_of_usage(h: LeaseHarness) -> None:
    """Lessee with physical access (it runs the plant's time server) sets a device whose key it cannot read 200 s
    ahead. Every reading still settles, at its block's time (clamped); only at the close does the skew show: a
    reading taken in the last 200 s before the close is dated after it and refused. Bound (argued in
    docs/security.md): the usage lost is what the machine can make in MAX_CLOCK_SKEW, at most maxRatePerHour x
    300 / 3600 units, and a reading dated at or before the close still settles in the grace period."""
    skew = 200
    lease = h.opened()
    t = h.anchor(lease, counter=1_000, runtime=0)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE, at=t + 1_000))
    # Taken at real time closed_at - skew (counter 1_500) and closed_at - 100 (1_600), dated skew s ahead.
    dated_at_close = h.report(lease, 1_500, 1_000 - skew, closed_at)
    dated_after = h.report(lease, 1_600, 1_000 - 100, closed_at - 100 + skew)
    with reverts(
        "EquipmentLeaseReportAfterClose", leaseId=lease.lease_id, timestamp=closed_at - 100 + skew, closedAt=closed_at
    ):
        h.submit(dated_after, at=closed_at + 10)
    receipt = h.submit(dated_at_close, at=closed_at + 11)
    billed = lease.terms.bill(500, 1_000 - skew, 0)
    assert h.events(receipt) == [settled(lease, 1_500, 500, billed)]
    lost_units = 1_600 - 1_500
    assert lost_units <= lease.terms.max_rate_per_hour * MAX_CLOCK_SKEW // HOUR


def test_lessor_rotating_the_key_before_the_anchor_can_take_the_machine_back_but_bills_nothing(
    h: LeaseHarness,
) -> None:
    """Lessor (owns the machine in the registry): rotates the machine's key right after open to a key the
    lessee's device does not hold. The device's reports are refused (its key's window ended at the rotation), so
    after one heartbeat the lessor may close the lease as never reported. Argued (docs/security.md): the owner
    controls its machine's key by design; what it gains is its machine back early, never money: the lessee's
    deposit comes back whole, with no act of the lessor."""
    lease = h.opened()
    old_key = h.signers[PRESS]
    rotate(h, PRESS, device_key(401), at=lease.opened_at + 5)
    genuine = h.report(lease, 1_000, 0, lease.opened_at + 10, key=old_key)
    with reverts(
        "EquipmentLeaseInvalidSigner",
        leaseId=lease.lease_id,
        machineId=PRESS,
        signer=low(device_address(old_key)),
        timestamp=lease.opened_at + 10,
    ):
        h.submit(genuine, at=lease.opened_at + 11)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSOR, at=lease.opened_at + lease.terms.heartbeat + 1))
    refund = h.send("withdrawRefund", lease.lease_id, by=LESSEE, at=closed_at + lease.terms.grace_period + 1)
    assert h.transfers(refund) == [(h.lease.address, h.address(LESSEE), DEPOSIT)]
    assert (h.get(lease.lease_id)["status"], h.get(lease.lease_id)["earnings"]) == (Status.SETTLED, 0)


def test_squatter_anchored_by_the_lessors_own_device_outlasts_the_timeout_close_so_offers_are_reserved(
    h: LeaseHarness,
) -> None:
    """Anyone: opens an unreserved offer with the minimum deposit; the machine's own device, seeing an active
    lease, sends its first reading and anchors it, so the lessor's timeout close (for leases never reported) no
    longer applies and the machine is held until endsAt. Argued (docs/security.md): the timeout is a backstop for
    an unused lease; against squatting the lessor reserves the offer (offerTo), and the squatter's own deposit
    (at least minBalance) stays locked for the same term."""
    lease = h.opened(lessee=STRANGER)
    t = h.anchor(lease, counter=1_000)
    with reverts(
        "EquipmentLeaseCloseNotAllowed",
        leaseId=lease.lease_id,
        account=low(h.address(LESSOR)),
        endsAt=lease.terms.ends_at,
    ):
        h.send("close", lease.lease_id, by=LESSOR, at=t + 2 * lease.terms.heartbeat)
    reserved = h.send("offerTo", LATHE, h.default_terms().as_tuple(), h.address(LESSEE), by=LESSOR)
    lease_id = h.events(reserved)[0][1]["leaseId"]
    with reverts(
        "EquipmentLeaseNotDesignatedLessee",
        leaseId=lease_id,
        account=low(h.address(STRANGER)),
        lessee=low(h.address(LESSEE)),
    ):
        h.open(lease_id, DEPOSIT, by=STRANGER)


# ---------------------------------------------------------------------------------------------- key listener re-entry


def test_lessor_re_entering_through_an_earlier_key_listener_cannot_withdraw_the_lessees_escrow(
    h: LeaseHarness,
) -> None:
    """Lessor that is (or is called back by) a key listener notified before the lease: MachineRegistry changes the
    key, then calls its listeners in order. Between the two, the lease's word is still under the old key while
    ``signerOf`` already names the new one, so the lease read its state as empty; ``withdrawEarnings`` took
    ``held - 0``, the whole escrow, and the lessee's refund later failed. Must hold: nothing is paid while the
    word is between keys (EquipmentLeaseKeyChangeInProgress), and the escrow stays the lessee's."""
    session = h.session
    admin = h.tx(ADMIN)
    registry = deploy(session, "MachineRegistry", admin.address)
    lease = deploy(session, "EquipmentLease", admin.address, registry.address)
    hostile = deploy(session, "ReenteringKeyListener", by=STRANGER)
    # The hostile listener is notified first, the lease second.
    admin.transact(registry.functions.addKeyListener(hostile.address))
    admin.transact(registry.functions.addKeyListener(lease.address))

    def as_hostile(target: Contract, fn: str, *args: Any) -> TxReceipt:
        data = target.encode_abi(fn, list(args))
        return h.tx(STRANGER).transact(hostile.functions.execute(target.address, data))

    machine = machine_id("audit-listener-press")
    as_hostile(registry, "register", machine, hostile.address, device_address(device_key(410)), ZERO_BYTES32)
    terms = h.default_terms()
    as_hostile(lease, "offer", machine, terms.as_tuple())
    lease_id = terms.lease_id(1)
    h.tx(LESSEE).transact(h.token.functions.approve(lease.address, DEPOSIT))
    h.tx(LESSEE).transact(lease.functions.open(lease_id, DEPOSIT))

    h.tx(STRANGER).transact(hostile.functions.arm(lease.address, lease.encode_abi("withdrawEarnings", [lease_id])))
    as_hostile(registry, "rotateKey", machine, device_address(device_key(411)))

    assert hostile.functions.reentries().call() == 1
    assert h.balance(hostile.address) == 0
    assert h.balance(lease.address) == DEPOSIT
    assert not hostile.functions.lastReentrySucceeded().call()
    error = "EquipmentLeaseKeyChangeInProgress"
    selector = function_signature_to_4byte_selector(f"{error}(uint256)")
    assert bytes(hostile.functions.lastReentryResult().call()) == selector + lease_id.to_bytes(32, "big")
    assert tuple(lease.functions.getLease(lease_id).call()[-3:]) == (DEPOSIT, 0, 0)  # escrow, earnings, debt
    # And the escrow still reaches the lessee: the word moved under the new key once the lease was told.
    as_hostile(lease, "consentToClose", lease_id)
    closed = h.tx(LESSEE).transact(lease.functions.close(lease_id))
    h.next_block_at(h.block_time(closed) + terms.grace_period + 1)
    before = h.balance(LESSEE)
    h.tx(LESSEE).transact(lease.functions.withdrawRefund(lease_id))
    assert (h.balance(LESSEE) - before, h.balance(lease.address)) == (DEPOSIT, 0)


# ---------------------------------------------------------------------------------------------- P-256 anchor


def test_poisoned_anchor_of_a_p256_machine_is_re_anchored_by_the_lessor(h: LeaseHarness) -> None:
    """Holder of a P-256 current key in the lessee's plant (a gateway whose TPM holds the machine's key signs
    whatever its host asks): anchors the lease at 2**64-1, so every genuine report is CounterBackwards. Item 8's
    remedy, ``reanchor``, took secp256k1 reports only, so for a P-256 machine the lessor could neither re-anchor
    nor waive nor close before endsAt, and the machine ran free. Must hold: the lessor re-anchors a P-256 machine's
    lease as it does a secp256k1 one (reanchorP256), billing nothing, and billing resumes; nobody else can; a
    rotated-out P-256 key cannot."""
    signer = P256SoftwareSigner.generate()
    machine = p256_machine(h, "audit-p256-press", signer)
    lease = h.opened(machine=machine)
    t = lease.opened_at
    poison = p256_report(h, lease, signer, U64_MAX, 2**32 - 1, t + 10)
    h.send("submitUsageP256", poison, by=RELAYER, at=t + 11)
    genuine = p256_report(h, lease, signer, 5_000, 100, t + 20)
    with reverts("EquipmentLeaseCounterBackwards", leaseId=lease.lease_id, counter=5_000, lastCounter=U64_MAX):
        h.send("submitUsageP256", genuine, by=RELAYER, at=t + 21)
    for who in (LESSEE, STRANGER, RELAYER):
        with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(who))):
            h.send("reanchorP256", genuine, by=who)
    receipt = h.send("reanchorP256", genuine, by=LESSOR, at=t + 22)
    assert h.events(receipt) == [
        (
            "UsageReanchored",
            {
                "leaseId": lease.lease_id,
                "counter": 5_000,
                "runtimeSeconds": 100,
                "previousCounter": U64_MAX,
                "previousRuntimeSeconds": 2**32 - 1,
            },
        )
    ]
    receipt = h.send("submitUsageP256", p256_report(h, lease, signer, 5_100, 130, t + 50), by=RELAYER, at=t + 51)
    assert h.events(receipt) == [settled(lease, 5_100, 100, lease.terms.bill(100, 130, 100))]

    # A rotated-out P-256 key cannot re-anchor, even inside its old window.
    successor = P256SoftwareSigner.generate()
    qx, qy = xy(successor)
    rotated = h.tx(LESSOR).transact(h.registry.functions.rotateKeyP256(machine, qx, qy, ZERO_BYTES32))
    rotated_at = h.block_time(rotated)
    stale_key = p256_report(h, lease, signer, 0, 0, rotated_at - 1)
    with reverts("EquipmentLeaseAnchorNotByCurrentKey", leaseId=lease.lease_id, signer=key_id(signer)):
        h.send("reanchorP256", stale_key, by=LESSOR)
    # and a bad signature is named as one
    forged = (*stale_key[:2], (P256_N - int.from_bytes(stale_key[2], "big")).to_bytes(32, "big"), *stale_key[3:])
    with reverts("EquipmentLeaseInvalidSignature", leaseId=lease.lease_id):
        h.send("reanchorP256", forged, by=LESSOR)
