"""EquipmentLease's key check against the registry's pushes: a running lease's word is stored under its machine's
current key, a report finds it only if signed by that key, and MachineRegistry tells the lease of every rotation
and revocation (docs/contracts/equipment-lease.md, "Key check").

Attacks on that design: a rotated-out key before and after its cutoff, once the lease moved to the new key and
before; a revoked key refused from the revocation on, also when its slot still holds the lease; two rotations
before any report; a key shared with another machine; the listener called by anyone else, while the lease
contract is paused, for machines in every state; offers by a contract that is not a listener; keys that change
between offer and open and after the close.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from millchain.typed_data import SignedUsageReport
from millchain.types import MachineId, machine_id
from tests.contracts.lease_helpers import (
    ADMIN,
    DAY,
    DEPOSIT,
    LATHE,
    LESSEE,
    LESSOR,
    PRESS,
    STRANGER,
    ZERO_BYTES32,
    LeaseHarness,
    Opened,
    Skip,
    Status,
    deploy,
    device_address,
    device_key,
    low,
    reverts,
    revoke,
    rotate,
    settled,
    skipped,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

START = 1_000
KEY_UNCONFIRMED = 1 << 249
NEW_KEY, NEWER_KEY = device_key(200), device_key(201)


def anchored(h: LeaseHarness, machine: MachineId = PRESS) -> tuple[Opened, int]:
    lease = h.opened(machine=machine)
    return lease, h.anchor(lease, START, 0)


def word_under(h: LeaseHarness, lease: Opened, key: bytes) -> int:
    """The lease contract's storage word at keccak256(machineId . leaseId . signer): the running state if
    ``key`` is the key it is stored under, else zero."""
    slot = keccak(lease.machine + lease.lease_id.to_bytes(32, "big")
                  + bytes(12) + bytes.fromhex(device_address(key)[2:]))
    return int.from_bytes(h.session.chain.w3.eth.get_storage_at(h.lease.address, slot), "big")


def invalid_signer(lease: Opened, signed: SignedUsageReport, key: bytes) -> dict[str, Any]:
    return {"leaseId": lease.lease_id, "machineId": lease.machine, "signer": low(device_address(key)),
            "timestamp": signed.report.timestamp}


# ---------------------------------------------------------------------------------------------- rotation


def test_rotation_moves_the_running_word_under_the_new_key_unconfirmed(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    old_key = h.signers[PRESS]
    before = word_under(h, lease, old_key)
    assert before != 0 and before & KEY_UNCONFIRMED == 0
    rotate(h, PRESS, NEW_KEY, at=t + 100)
    assert word_under(h, lease, old_key) == 0
    assert word_under(h, lease, NEW_KEY) == before | KEY_UNCONFIRMED


def test_rotation_before_the_first_report_leaves_the_lease_unanchored_and_the_new_key_anchors_it(
    h: LeaseHarness,
) -> None:
    """keyUnconfirmed shares a byte with the anchored flag: setting one must not read as the other."""
    lease = h.opened()
    rotated_at = rotate(h, PRESS, NEW_KEY, at=lease.opened_at + 50)
    assert h.get(lease.lease_id)["anchored"] is False
    receipt = h.submit(h.report(lease, START, 0, rotated_at + 1), at=rotated_at + 2)
    assert h.events(receipt) == [settled(lease, START, 0, 0)]
    receipt = h.submit(h.report(lease, START + 10, 5, rotated_at + 11), at=rotated_at + 12)
    assert h.events(receipt) == [settled(lease, START + 10, 10, lease.terms.bill(10, 5, 0))]


def test_old_key_report_before_the_cutoff_settles_after_the_rotation_and_after_the_cutoff_is_refused(
    h: LeaseHarness,
) -> None:
    lease, t = anchored(h)
    old_key = h.signers[PRESS]
    rotated_at = rotate(h, PRESS, NEW_KEY, at=t + 100)
    late = h.report(lease, START + 10, 50, rotated_at - 1, key=old_key)
    receipt = h.submit(late, at=rotated_at + 5)
    assert h.events(receipt) == [settled(lease, START + 10, 10, lease.terms.bill(10, 50, 0))]
    # settled by a key that is no longer current: the word stays unconfirmed
    assert word_under(h, lease, NEW_KEY) & KEY_UNCONFIRMED
    forged_after = h.report(lease, START + 20, 60, rotated_at + 6, key=old_key)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, forged_after, old_key)):
        h.submit(forged_after)
    assert h.events(h.batch([forged_after])) == [skipped(forged_after, Skip.INVALID_SIGNER)]


def test_new_key_report_confirms_the_key_and_the_old_key_then_finds_nothing(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    old_key = h.signers[PRESS]
    rotated_at = rotate(h, PRESS, NEW_KEY, at=t + 100)
    receipt = h.submit(h.report(lease, START + 10, 50, rotated_at), at=rotated_at + 1)
    assert h.events(receipt) == [settled(lease, START + 10, 10, lease.terms.bill(10, 50, 0))]
    word = word_under(h, lease, NEW_KEY)
    assert word & KEY_UNCONFIRMED == 0 and word & (2**64 - 1) == START + 10
    assert word_under(h, lease, old_key) == 0
    # the old key, even for a reading before its cutoff, reaches only the registry and then the staleness check
    backdated = h.report(lease, START + 999, 99, rotated_at - 1, key=old_key)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=rotated_at - 1,
                 lastTimestamp=rotated_at):
        h.submit(backdated)
    # later reports by the confirmed key settle as before
    receipt = h.batch([h.report(lease, START + 30, 60, rotated_at + 10)], at=rotated_at + 11)
    assert h.events(receipt) == [settled(lease, START + 30, 20, lease.terms.bill(20, 60, 50))]


def test_new_key_report_before_the_cutoff_is_refused_although_the_word_is_under_that_key(h: LeaseHarness) -> None:
    """The push moved the word under the new key before any report proved it: a reading timestamped between the
    last settled one and the rotation must still be refused (the new key is valid only from the rotation)."""
    lease, t = anchored(h)
    rotated_at = rotate(h, PRESS, NEW_KEY, at=t + 100)
    early = h.report(lease, START + 10, 50, rotated_at - 1)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, early, NEW_KEY)):
        h.submit(early, at=rotated_at + 5)
    assert h.events(h.batch([early])) == [skipped(early, Skip.INVALID_SIGNER)]
    assert word_under(h, lease, NEW_KEY) & KEY_UNCONFIRMED


def test_two_rotations_before_any_report_leave_the_middle_key_its_window_only(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    first_at = rotate(h, PRESS, NEW_KEY, at=t + 100)
    second_at = rotate(h, PRESS, NEWER_KEY, at=t + 200)
    middle = h.report(lease, START + 10, 50, second_at - 1, key=NEW_KEY)
    receipt = h.submit(middle, at=second_at + 1)
    assert h.events(receipt) == [settled(lease, START + 10, 10, lease.terms.bill(10, 50, 0))]
    assert word_under(h, lease, NEWER_KEY) & KEY_UNCONFIRMED  # the middle key has an end: nothing confirmed
    assert word_under(h, lease, NEW_KEY) == 0
    stale_middle = h.report(lease, START + 20, 60, second_at, key=NEW_KEY)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, stale_middle, NEW_KEY)):
        h.submit(stale_middle)
    receipt = h.submit(h.report(lease, START + 20, 52, second_at + 2, key=NEWER_KEY), at=second_at + 3)
    assert h.events(receipt) == [settled(lease, START + 20, 10, lease.terms.bill(10, 52, 50))]
    assert word_under(h, lease, NEWER_KEY) & KEY_UNCONFIRMED == 0
    assert first_at < second_at


# ---------------------------------------------------------------------------------------------- revocation


def test_revoked_key_is_refused_from_the_revocation_on_although_its_slot_holds_the_lease(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    key = h.signers[PRESS]
    revoked_at = revoke(h, PRESS, at=t + 100)
    word = word_under(h, lease, key)
    assert word != 0 and word & KEY_UNCONFIRMED
    # within the clock skew, so only the key check can refuse it
    at_revocation = h.report(lease, START + 10, 50, revoked_at)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, at_revocation, key)):
        h.submit(at_revocation, at=revoked_at + 1)
    assert h.events(h.batch([at_revocation])) == [skipped(at_revocation, Skip.INVALID_SIGNER)]
    before = h.report(lease, START + 10, 50, revoked_at - 1)
    assert h.events(h.submit(before)) == [settled(lease, START + 10, 10, lease.terms.bill(10, 50, 0))]
    # and that settled report does not confirm a revoked key
    assert word_under(h, lease, key) & KEY_UNCONFIRMED
    after = h.report(lease, START + 20, 60, revoked_at + 2)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, after, key)):
        h.submit(after, at=revoked_at + 3)


def test_machine_revoked_between_offer_and_open_cannot_be_opened(h: LeaseHarness) -> None:
    """Review item 9: a revoked machine signs no valid report, so open refuses it rather than lock the deposit."""
    lease_id, _ = h.offer()
    revoke(h, PRESS)
    with reverts("EquipmentLeaseMachineRevoked", machineId=PRESS):
        h.open(lease_id)
    assert h.get(lease_id)["status"] == Status.OFFERED


# ---------------------------------------------------------------------------------------------- offer, open, close


def test_key_rotated_between_offer_and_open_is_the_key_the_lease_runs_under(h: LeaseHarness) -> None:
    old_key = h.signers[PRESS]
    lease_id, _ = h.offer()
    rotate(h, PRESS, NEW_KEY)
    opened_at = h.block_time(h.open(lease_id))
    lease = Opened(lease_id, PRESS, h.default_terms(), opened_at, DEPOSIT)
    assert word_under(h, lease, old_key) == 0
    assert word_under(h, lease, NEW_KEY) & KEY_UNCONFIRMED == 0
    stale_key = h.report(lease, START, 0, opened_at + 1, key=old_key)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, stale_key, old_key)):
        h.submit(stale_key, at=opened_at + 2)
    receipt = h.submit(h.report(lease, START, 0, opened_at + 3), at=opened_at + 4)
    assert h.events(receipt) == [settled(lease, START, 0, 0)]


def test_closed_lease_leaves_the_keyed_slot_and_settles_its_final_report_by_the_key_valid_then(
    h: LeaseHarness,
) -> None:
    lease, _ = anchored(h)
    old_key = h.signers[PRESS]
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSOR, at=lease.terms.ends_at + 10))
    assert word_under(h, lease, old_key) == 0
    rotated_at = rotate(h, PRESS, NEW_KEY, at=closed_at + 5)
    # the new key was not valid at the close: a closed lease asks the registry whatever key signed
    too_new = h.report(lease, START + 10, 50, closed_at, key=NEW_KEY)
    with reverts("EquipmentLeaseInvalidSigner", **invalid_signer(lease, too_new, NEW_KEY)):
        h.submit(too_new, at=rotated_at + 1)
    final = h.report(lease, START + 10, 50, closed_at, key=old_key)
    receipt = h.submit(final)
    assert h.events(receipt) == [settled(lease, START + 10, 10, lease.terms.bill(10, 50, 0))]
    assert h.get(lease.lease_id)["lastCounter"] == START + 10


def test_report_naming_another_machine_that_shares_the_key_finds_no_lease(h: LeaseHarness) -> None:
    """The running word is keyed by machine too: LATHE registered with PRESS's key cannot report for PRESS's
    lease under its own id."""
    lease, t = anchored(h)
    twin = machine_id("lease-machine-twin")
    h.tx(LESSOR).transact(h.registry.functions.register(twin, h.address(LESSOR),
                                                         device_address(h.signers[PRESS]), ZERO_BYTES32))
    signed = h.report(lease, START + 10, 50, t + 10, machine=twin, key=h.signers[PRESS])
    with reverts("EquipmentLeaseWrongMachine", leaseId=lease.lease_id, machineId=twin, leasedMachineId=PRESS):
        h.submit(signed, at=t + 11)
    assert h.events(h.batch([signed])) == [skipped(signed, Skip.UNKNOWN_LEASE)]


# ---------------------------------------------------------------------------------------------- the listener


def test_only_the_registry_may_call_the_key_listener(h: LeaseHarness) -> None:
    lease, _ = anchored(h)
    call = h.lease.functions.onMachineKeyChanged(PRESS, device_address(h.signers[PRESS]), device_address(NEW_KEY))
    with reverts("EquipmentLeaseNotRegistry", account=low(h.address(STRANGER))):
        h.transact(call, by=STRANGER)
    with reverts("EquipmentLeaseNotRegistry", account=low(h.address(LESSOR))):
        h.transact(call, by=LESSOR)
    assert word_under(h, lease, h.signers[PRESS]) & KEY_UNCONFIRMED == 0


def test_rotation_and_revocation_go_through_while_the_lease_contract_is_paused(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    h.send("pause", by=ADMIN)
    rotate(h, PRESS, NEW_KEY, at=t + 100)
    assert word_under(h, lease, NEW_KEY) & KEY_UNCONFIRMED
    revoke(h, PRESS, at=t + 200)
    assert word_under(h, lease, NEW_KEY) & KEY_UNCONFIRMED


@pytest.mark.parametrize("state", ["never-offered", "offered", "suspended", "closed", "settled"])
def test_rotation_and_revocation_of_a_machine_in_any_lease_state_go_through(h: LeaseHarness, state: str) -> None:
    machine = LATHE
    if state == "offered":
        h.offer(machine=machine)
    elif state == "suspended":
        lease = h.opened(machine=machine, deposit=h.default_terms().min_balance)
        t = h.anchor(lease, START, 0)
        h.submit(h.report(lease, START + 30_000, 3_000, t + 3_600), at=t + 3_601)
        assert h.get(lease.lease_id)["status"] == 3
    elif state in ("closed", "settled"):
        lease = h.opened(machine=machine)
        closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSOR, at=lease.terms.ends_at + 1))
        if state == "settled":
            h.send("withdrawRefund", lease.lease_id, by=LESSEE, at=closed_at + DAY + 1)
    rotate(h, machine, NEW_KEY)
    revoke(h, machine)
    assert h.registry.functions.statusOf(machine).call() == 2


def test_offer_by_a_lease_contract_that_is_not_a_key_listener_reverts(h: LeaseHarness) -> None:
    unheard = deploy(h.session, "EquipmentLease", h.address(ADMIN), h.registry.address)
    with reverts("EquipmentLeaseNotKeyListener", registry=low(h.registry.address)):
        h.tx(LESSOR).transact(unheard.functions.offer(PRESS, h.default_terms().as_tuple()))
