"""EquipmentLease on the embedded chain: every function's happy path, every custom error with its arguments and
every event with its fields; billing, low balance, debt and suspension, anomalies, closing and the grace period,
withdrawals, pausing, and a token that re-enters on transfer.

Spec: docs/contracts/equipment-lease.md. Signature attacks and batches: test_equipment_lease_signatures.py;
the invariants under random operations: test_equipment_lease_stateful.py. Blocks are stamped exactly with
``at=`` (eth-tester's ``time_travel``), so every boundary is tested to the second.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector, keccak
from web3.contract import Contract

from millchain.typed_data import USAGE_REPORT_TYPEHASH, UsageReport
from millchain.types import MachineId, machine_id
from tests.abi import interface_id
from tests.contracts.lease_helpers import (
    ADMIN,
    DAY,
    DEPOSIT,
    FUNDING,
    LATHE,
    LESSEE,
    LESSOR,
    MAX_CLOCK_SKEW,
    MAX_UINT256,
    MILL,
    OTHER_LESSEE,
    OTHER_LESSOR,
    PERMIT_USER,
    PRESS,
    RELAYER,
    SECP256K1_N,
    STRANGER,
    UNREGISTERED,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    LeaseHarness,
    Opened,
    Status,
    Terms,
    device_address,
    device_key,
    lease_scenario,
    low,
    reverts,
    sign_permit,
    terms_dict,
    with_s,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

PAUSER_ROLE = keccak(text="PAUSER_ROLE")


def anchored(h: LeaseHarness, terms: Terms | None = None, *, counter: int = 1_000, runtime: int = 0,
             machine: MachineId = PRESS, deposit: int = DEPOSIT) -> tuple[Opened, int]:
    """An opened lease whose first report (``counter``, ``runtime``) settled 10 s after opening; and its time."""
    lease = h.opened(terms, machine=machine, deposit=deposit)
    return lease, h.anchor(lease, counter, runtime)


def settled(lease_id: int, counter: int, units: int, amount: int) -> tuple[str, dict[str, Any]]:
    return ("UsageSettled", {"leaseId": lease_id, "counter": counter, "units": units, "amount": amount})


def state(h: LeaseHarness, lease_id: int, *names: str) -> tuple[Any, ...]:
    lease = h.get(lease_id)
    return tuple(lease[n] for n in names)


MONEY = ("status", "escrow", "earnings", "debt")
COUNTERS = ("lastCounter", "lastRuntimeSeconds", "lastTimestamp")


# ---------------------------------------------------------------------------------------------- deployment, views


def test_constructor_grants_admin_and_pauser_roles_and_exposes_constants_and_registry(h: LeaseHarness) -> None:
    fns = h.lease.functions
    assert fns.PAUSER_ROLE().call() == PAUSER_ROLE
    assert fns.hasRole(ZERO_BYTES32, h.address(ADMIN)).call()
    assert fns.hasRole(PAUSER_ROLE, h.address(ADMIN)).call()
    for index in (LESSOR, LESSEE, STRANGER):
        assert not fns.hasRole(ZERO_BYTES32, h.address(index)).call()
        assert not fns.hasRole(PAUSER_ROLE, h.address(index)).call()
    assert fns.MAX_CLOCK_SKEW().call() == 300
    assert fns.ACCEPTANCE_WINDOW().call() == 86_400
    assert fns.USAGE_REPORT_TYPEHASH().call() == USAGE_REPORT_TYPEHASH
    assert fns.registry().call() == h.registry.address
    assert fns.paused().call() is False


def test_eip712_domain_and_report_digest_match_the_sdk(h: LeaseHarness) -> None:
    domain = h.lease.functions.eip712Domain().call()
    assert list(domain) == [b"\x0f", "MillchainEquipmentLease", "1", h.chain_id, h.lease.address, ZERO_BYTES32, []]
    report = UsageReport(lease_id=2**256 - 1, machine_id=PRESS, counter=2**64 - 1, runtime_seconds=2**32 - 1,
                         timestamp=2**40 - 1)
    assert h.view("usageReportDigest", report.as_tuple()) == h.hasher.digest(report)


def test_supports_lease_access_control_and_erc165_interfaces_only(h: LeaseHarness) -> None:
    supports = h.lease.functions.supportsInterface
    assert supports(interface_id(h.session.artifact("IEquipmentLease")["abi"])).call()
    assert supports(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert supports(bytes.fromhex("01ffc9a7")).call()  # IERC165
    assert not supports(bytes.fromhex("ffffffff")).call()


def test_get_lease_of_unknown_id_reverts_unknown_lease_and_idle_machine_has_no_active_lease(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseUnknownLease", leaseId=0):
        h.view("getLease", 0)
    terms = h.default_terms()
    with reverts("EquipmentLeaseUnknownLease", leaseId=terms.lease_id(1)):
        h.view("getLease", terms.lease_id(1))
    assert h.view("activeLeaseOf", PRESS) == 0
    assert h.view("activeLeaseOf", UNREGISTERED) == 0


# ---------------------------------------------------------------------------------------------- offer


def test_offer_packs_terms_into_the_id_records_them_and_emits_lease_offered(h: LeaseHarness) -> None:
    terms = h.default_terms()
    lease_id, receipt = h.offer(terms)

    assert lease_id == terms.lease_id(1)
    assert h.events(receipt) == [("LeaseOffered", {
        "leaseId": lease_id, "machineId": PRESS, "lessor": h.address(LESSOR), "terms": terms_dict(terms),
    })]
    assert h.get(lease_id) == {
        "machineId": PRESS, "lessor": h.address(LESSOR), "lessee": ZERO_ADDRESS, "terms": terms_dict(terms),
        "status": Status.OFFERED, "anchored": False, "closeConsented": False, "lastCounter": 0,
        "lastRuntimeSeconds": 0, "lastTimestamp": 0, "closedAt": 0, "escrow": 0, "earnings": 0, "debt": 0,
    }
    assert h.view("activeLeaseOf", PRESS) == 0


def test_offers_take_consecutive_sequences_and_a_machine_may_have_several(h: LeaseHarness) -> None:
    terms = h.default_terms()
    other = terms.replace(price_per_unit=7, price_per_hour=0, max_rate_per_hour=1)
    first, _ = h.offer(terms)
    second, _ = h.offer(terms)
    third, _ = h.offer(other, machine=LATHE)
    assert (first, second, third) == (terms.lease_id(1), terms.lease_id(2), other.lease_id(3))
    assert h.get(second)["status"] == Status.OFFERED


def test_offer_with_extreme_terms_round_trips_through_the_id_and_get_lease(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=2**96 - 1, price_per_hour=2**96 - 1, min_balance=2**96 - 1,
                            max_rate_per_hour=2**32 - 1, ends_at=2**40 - 1, heartbeat=2**24 - 1,
                            grace_period=2**24 - 1)
    lease_id, _ = h.offer(terms)
    assert lease_id == terms.lease_id(1)
    assert h.get(lease_id)["terms"] == terms_dict(terms)
    zero = h.default_terms(price_per_unit=0, price_per_hour=0, min_balance=0, grace_period=0, max_rate_per_hour=1,
                           heartbeat=1)
    zero_id, _ = h.offer(zero)
    assert zero_id == 1 << 32 | 2
    assert h.get(zero_id)["terms"] == terms_dict(zero)


def test_offer_by_non_owner_reverts_not_machine_owner(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseNotMachineOwner", machineId=PRESS, account=low(h.address(STRANGER)),
                 owner=low(h.address(LESSOR))):
        h.offer(machine=PRESS, by=STRANGER)


def test_offer_of_revoked_machine_reverts_machine_revoked(h: LeaseHarness) -> None:
    h.tx(LESSOR).transact(h.registry.functions.revoke(PRESS))
    with reverts("EquipmentLeaseMachineRevoked", machineId=PRESS):
        h.offer(machine=PRESS)
    # ownership is checked first: a stranger learns only that the machine is not theirs
    with reverts("EquipmentLeaseNotMachineOwner", machineId=PRESS, account=low(h.address(STRANGER)),
                 owner=low(h.address(LESSOR))):
        h.offer(machine=PRESS, by=STRANGER)


def test_offer_of_unregistered_machine_reverts_with_the_registry_error(h: LeaseHarness) -> None:
    with reverts("MachineRegistryUnknownMachine", machineId=UNREGISTERED):
        h.offer(machine=UNREGISTERED)


@pytest.mark.parametrize("who", ["zero", "account"])
def test_offer_in_a_token_without_code_reverts_invalid_token(h: LeaseHarness, who: str) -> None:
    token = ZERO_ADDRESS if who == "zero" else h.address(STRANGER)
    with reverts("EquipmentLeaseInvalidToken", token=low(token)):
        h.offer(h.default_terms(token=token))


def test_offer_ending_at_or_before_the_block_reverts_end_not_in_future(h: LeaseHarness) -> None:
    t = h.now() + 100
    h.next_block_at(t)
    with reverts("EquipmentLeaseEndNotInFuture", endsAt=t, currentTime=t):
        h.offer(h.default_terms(ends_at=t))
    with reverts("EquipmentLeaseEndNotInFuture", endsAt=0, currentTime=t):
        h.offer(h.default_terms(ends_at=0))
    lease_id, _ = h.offer(h.default_terms(ends_at=t + 1), at=t)
    assert h.get(lease_id)["terms"]["endsAt"] == t + 1


def test_offer_with_zero_max_rate_reverts_zero_max_rate(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseZeroMaxRate", machineId=PRESS):
        h.offer(h.default_terms(max_rate_per_hour=0))


def test_offer_with_zero_heartbeat_reverts_zero_heartbeat(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseZeroHeartbeat", machineId=PRESS):
        h.offer(h.default_terms(heartbeat=0))


# ---------------------------------------------------------------------------------------------- cancelOffer


def test_cancel_offer_emits_offer_cancelled_and_the_offer_can_no_longer_be_opened(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    receipt = h.send("cancelOffer", lease_id, by=LESSOR)
    assert h.events(receipt) == [("OfferCancelled", {"leaseId": lease_id})]
    assert h.get(lease_id)["status"] == Status.CANCELLED
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease_id, status=Status.CANCELLED):
        h.open(lease_id)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease_id, status=Status.CANCELLED):
        h.send("cancelOffer", lease_id, by=LESSOR)


def test_cancel_offer_by_non_lessor_reverts_not_lessor(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    for index in (STRANGER, ADMIN):
        with reverts("EquipmentLeaseNotLessor", leaseId=lease_id, account=low(h.address(index))):
            h.send("cancelOffer", lease_id, by=index)


def test_cancel_offer_of_opened_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.ACTIVE):
        h.send("cancelOffer", lease.lease_id, by=LESSOR)


def test_cancel_unknown_offer_reverts_unknown_lease(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseUnknownLease", leaseId=42):
        h.send("cancelOffer", 42, by=LESSOR)


# ---------------------------------------------------------------------------------------------- open


def test_open_deposits_escrow_makes_caller_lessee_and_busies_the_machine(h: LeaseHarness) -> None:
    terms = h.default_terms()
    lease_id, _ = h.offer(terms)
    t = h.now() + 50
    receipt = h.open(lease_id, DEPOSIT, at=t)

    assert h.events(receipt) == [("LeaseOpened", {
        "leaseId": lease_id, "machineId": PRESS, "lessee": h.address(LESSEE), "deposit": DEPOSIT,
    })]
    assert h.transfers(receipt) == [(h.address(LESSEE), h.lease.address, DEPOSIT)]
    assert h.balance(LESSEE) == FUNDING - DEPOSIT
    assert h.balance(h.lease.address) == DEPOSIT
    assert h.get(lease_id) == {
        "machineId": PRESS, "lessor": h.address(LESSOR), "lessee": h.address(LESSEE), "terms": terms_dict(terms),
        "status": Status.ACTIVE, "anchored": False, "closeConsented": False, "lastCounter": 0,
        "lastRuntimeSeconds": 0, "lastTimestamp": t, "closedAt": 0, "escrow": DEPOSIT, "earnings": 0, "debt": 0,
    }
    assert h.view("activeLeaseOf", PRESS) == lease_id


def test_open_with_deposit_at_minimum_succeeds_and_below_it_reverts_deposit_below_minimum(h: LeaseHarness) -> None:
    terms = h.default_terms()
    lease_id, _ = h.offer(terms)
    with reverts("EquipmentLeaseDepositBelowMinimum", leaseId=lease_id, deposit=terms.min_balance - 1,
                 minBalance=terms.min_balance):
        h.open(lease_id, terms.min_balance - 1)
    h.open(lease_id, terms.min_balance)
    assert h.get(lease_id)["escrow"] == terms.min_balance


def test_open_with_zero_minimum_accepts_a_zero_deposit(h: LeaseHarness) -> None:
    lease_id, _ = h.offer(h.default_terms(min_balance=0))
    receipt = h.open(lease_id, 0)
    assert h.events(receipt)[0][1]["deposit"] == 0
    assert state(h, lease_id, *MONEY) == (Status.ACTIVE, 0, 0, 0)


def test_open_at_or_after_end_reverts_offer_expired(h: LeaseHarness) -> None:
    t = h.now() + 100
    terms = h.default_terms(ends_at=t + 100)
    late, _ = h.offer(terms)
    in_time, _ = h.offer(terms, machine=LATHE)
    h.open(in_time, at=t + 99)
    h.next_block_at(t + 100)
    with reverts("EquipmentLeaseOfferExpired", leaseId=late, endsAt=t + 100):
        h.open(late)


def test_open_after_machine_changed_owner_reverts_lessor_no_longer_owner(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    h.tx(LESSOR).transact(h.registry.functions.transferOwnership(PRESS, h.address(OTHER_LESSOR)))
    with reverts("EquipmentLeaseLessorNoLongerOwner", leaseId=lease_id, lessor=low(h.address(LESSOR)),
                 owner=low(h.address(OTHER_LESSOR))):
        h.open(lease_id)


def test_open_of_second_offer_on_a_leased_machine_reverts_machine_busy(h: LeaseHarness) -> None:
    first = h.opened()
    second, _ = h.offer()
    with reverts("EquipmentLeaseMachineBusy", machineId=PRESS, activeLeaseId=first.lease_id):
        h.open(second, by=OTHER_LESSEE)


def test_open_of_an_open_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.ACTIVE):
        h.open(lease.lease_id, by=OTHER_LESSEE)


def test_open_of_unknown_lease_reverts_unknown_lease(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseUnknownLease", leaseId=7):
        h.open(7)


def test_open_without_allowance_reverts_with_the_token_error_and_changes_nothing(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    with reverts("ERC20InsufficientAllowance", spender=low(h.lease.address), allowance=0, needed=DEPOSIT):
        h.open(lease_id, by=PERMIT_USER)
    assert h.get(lease_id)["status"] == Status.OFFERED
    assert h.view("activeLeaseOf", PRESS) == 0


def test_running_lease_keeps_paying_its_original_lessor_after_the_machine_changes_owner(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    h.tx(LESSOR).transact(h.registry.functions.transferOwnership(PRESS, h.address(OTHER_LESSOR)))
    h.submit(h.report(lease, 1_100, 0, t + 60), at=t + 60)
    amount = lease.terms.bill(100, 0, 0)
    with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(OTHER_LESSOR))):
        h.send("withdrawEarnings", lease.lease_id, by=OTHER_LESSOR)
    receipt = h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSOR), amount)]


# ---------------------------------------------------------------------------------------------- permits


def test_open_with_permit_needs_no_prior_approval(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    deadline = h.now() + 3_600
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, DEPOSIT, deadline)
    receipt = h.send("openWithPermit", lease_id, DEPOSIT, deadline, v, r, s, by=PERMIT_USER)

    assert h.events(receipt) == [("LeaseOpened", {
        "leaseId": lease_id, "machineId": PRESS, "lessee": h.address(PERMIT_USER), "deposit": DEPOSIT,
    })]
    assert h.transfers(receipt) == [(h.address(PERMIT_USER), h.lease.address, DEPOSIT)]
    token = h.token.functions
    assert token.allowance(h.address(PERMIT_USER), h.lease.address).call() == 0
    assert token.nonces(h.address(PERMIT_USER)).call() == 1
    assert h.get(lease_id)["lessee"] == h.address(PERMIT_USER)


def test_open_with_a_front_run_permit_still_opens(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    deadline = h.now() + 3_600
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, DEPOSIT, deadline)
    # Someone watching the mempool submits the permit first: the lease's own permit call then fails.
    h.tx(STRANGER).transact(h.token.functions.permit(h.address(PERMIT_USER), h.lease.address, DEPOSIT, deadline,
                                                      v, r, s))
    receipt = h.send("openWithPermit", lease_id, DEPOSIT, deadline, v, r, s, by=PERMIT_USER)
    assert h.events(receipt)[0][0] == "LeaseOpened"
    assert h.balance(h.lease.address) == DEPOSIT


def test_open_with_an_invalid_permit_and_no_allowance_reverts_insufficient_allowance(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    deadline = h.now() + 3_600
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, DEPOSIT, deadline, key=device_key(99))
    with reverts("ERC20InsufficientAllowance", spender=low(h.lease.address), allowance=0, needed=DEPOSIT):
        h.send("openWithPermit", lease_id, DEPOSIT, deadline, v, r, s, by=PERMIT_USER)
    assert h.get(lease_id)["status"] == Status.OFFERED


def test_top_up_with_permit_needs_no_prior_approval(h: LeaseHarness) -> None:
    lease = h.opened()
    deadline = h.now() + 3_600
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, 5 * 10**6, deadline)
    receipt = h.send("topUpWithPermit", lease.lease_id, 5 * 10**6, deadline, v, r, s, by=PERMIT_USER)
    assert h.events(receipt) == [("EscrowToppedUp", {
        "leaseId": lease.lease_id, "payer": h.address(PERMIT_USER), "amount": 5 * 10**6, "debtPaid": 0,
        "escrow": DEPOSIT + 5 * 10**6,
    })]
    assert h.transfers(receipt) == [(h.address(PERMIT_USER), h.lease.address, 5 * 10**6)]
    assert h.get(lease.lease_id)["lessee"] == h.address(LESSEE)


def test_top_up_with_zero_via_permit_reverts_zero_amount(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseZeroAmount", leaseId=lease.lease_id):
        h.send("topUpWithPermit", lease.lease_id, 0, 0, 27, ZERO_BYTES32, ZERO_BYTES32, by=PERMIT_USER)


# ---------------------------------------------------------------------------------------------- topUp


def test_top_up_by_anyone_adds_to_escrow_and_the_lessee_keeps_the_refund(h: LeaseHarness) -> None:
    lease = h.opened()
    receipt = h.send("topUp", lease.lease_id, 30 * 10**6, by=STRANGER)
    assert h.events(receipt) == [("EscrowToppedUp", {
        "leaseId": lease.lease_id, "payer": h.address(STRANGER), "amount": 30 * 10**6, "debtPaid": 0,
        "escrow": DEPOSIT + 30 * 10**6,
    })]
    assert h.transfers(receipt) == [(h.address(STRANGER), h.lease.address, 30 * 10**6)]
    lease_state = h.get(lease.lease_id)
    assert (lease_state["escrow"], lease_state["earnings"], lease_state["lessee"]) == (
        DEPOSIT + 30 * 10**6, 0, h.address(LESSEE))


def test_top_up_of_zero_reverts_zero_amount(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseZeroAmount", leaseId=lease.lease_id):
        h.send("topUp", lease.lease_id, 0, by=LESSEE)


def test_top_up_of_offered_or_cancelled_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    lease_id, _ = h.offer()
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease_id, status=Status.OFFERED):
        h.send("topUp", lease_id, 1, by=LESSEE)
    h.send("cancelOffer", lease_id, by=LESSOR)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease_id, status=Status.CANCELLED):
        h.send("topUp", lease_id, 1, by=LESSEE)


def test_top_up_of_unknown_lease_reverts_unknown_lease(h: LeaseHarness) -> None:
    with reverts("EquipmentLeaseUnknownLease", leaseId=99):
        h.send("topUp", 99, 1, by=LESSEE)


def test_top_up_beyond_uint96_escrow_reverts_with_a_panic(h: LeaseHarness) -> None:
    lease = h.opened()
    h.tx(ADMIN).transact(h.token.functions.mint(h.address(LESSEE), 2**96))
    with reverts("Panic", code="0x11"):
        h.send("topUp", lease.lease_id, 2**96 - 1, by=LESSEE)


# ---------------------------------------------------------------------------------------------- usage


def test_first_report_anchors_the_counters_and_bills_nothing(h: LeaseHarness) -> None:
    lease = h.opened()
    t = lease.opened_at + 5
    receipt = h.submit(h.report(lease, 123_456, 7_200, t), at=t)
    assert h.events(receipt) == [settled(lease.lease_id, 123_456, 0, 0)]
    assert h.transfers(receipt) == []
    assert state(h, lease.lease_id, "anchored", *COUNTERS, *MONEY) == (
        True, 123_456, 7_200, t, Status.ACTIVE, DEPOSIT, 0, 0)


def test_report_bills_units_and_runtime_from_escrow_to_lessor(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000, runtime=500)
    receipt = h.submit(h.report(lease, 1_100, 590, t + 90), at=t + 95)

    amount = 100 * 2_000 + 590 * 250_000 // 3_600 - 500 * 250_000 // 3_600
    assert amount == lease.terms.bill(100, 590, 500) == 206_250
    assert h.events(receipt) == [settled(lease.lease_id, 1_100, 100, amount)]
    assert h.transfers(receipt) == []  # billing moves no tokens: the lessor pulls them
    assert state(h, lease.lease_id, *COUNTERS, *MONEY) == (
        1_100, 590, t + 90, Status.ACTIVE, DEPOSIT - amount, amount, 0)
    assert h.balance(h.lease.address) == DEPOSIT


def test_submit_usage_returns_true_when_settled_and_false_for_an_anomaly(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    h.next_block_at(t + 60)
    submit = h.lease.functions.submitUsage
    plausible = h.report(lease, 1_600, 0, t + 60)
    anomalous = h.report(lease, 1_601, 0, t + 60)
    assert submit(plausible.as_tuple()).call({"from": h.address(RELAYER)}, block_identifier="pending") is True
    assert submit(anomalous.as_tuple()).call({"from": h.address(RELAYER)}, block_identifier="pending") is False


def test_report_with_no_new_units_settles_as_a_heartbeat(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    receipt = h.submit(h.report(lease, 1_000, 0, t + 3_000), at=t + 3_000)
    assert h.events(receipt) == [settled(lease.lease_id, 1_000, 0, 0)]
    assert state(h, lease.lease_id, *COUNTERS, "escrow") == (1_000, 0, t + 3_000, DEPOSIT)


def test_anyone_may_submit_a_report_only_the_device_key_makes_it_valid(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    for i, index in enumerate((STRANGER, LESSEE, LESSOR, ADMIN), start=1):
        receipt = h.submit(h.report(lease, 1_000 + 10 * i, 0, t + 10 * i), by=index, at=t + 10 * i)
        assert h.events(receipt) == [settled(lease.lease_id, 1_000 + 10 * i, 10, 10 * 2_000)]


def test_runtime_is_billed_rounded_down_once_over_the_whole_lease(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=0, price_per_hour=1_000_003)
    lease, t = anchored(h, terms, counter=0, runtime=17)
    amounts = []
    runtime = 17
    for step in range(1, 8):
        runtime += step % 3 + 1  # irregular spacing: 2, 3, 1, 2, 3, 1, 2 seconds
        receipt = h.submit(h.report(lease, 0, runtime, t + 3 * step), at=t + 3 * step)
        ((_, args),) = h.events(receipt)
        amounts.append(args["amount"])
    assert sum(amounts) == runtime * 1_000_003 // 3_600 - 17 * 1_000_003 // 3_600
    # per report rounding would have lost up to a unit each time
    assert sum(amounts) > sum((d * 1_000_003) // 3_600 for d in (2, 3, 1, 2, 3, 1, 2))
    assert h.get(lease.lease_id)["earnings"] == sum(amounts)


# ---------------------------------------------------------------------------------------------- report checks


def test_report_for_unknown_lease_reverts_unknown_lease(h: LeaseHarness) -> None:
    lease = h.opened()
    unknown = lease.lease_id + 1
    with reverts("EquipmentLeaseUnknownLease", leaseId=unknown):
        h.submit(h.report(unknown, 1, 0, lease.opened_at + 1, machine=PRESS))


def test_report_naming_another_machine_reverts_wrong_machine(h: LeaseHarness) -> None:
    lease = h.opened(machine=PRESS)
    # Signed by LATHE's own valid key: the lease still belongs to PRESS.
    with reverts("EquipmentLeaseWrongMachine", leaseId=lease.lease_id, machineId=LATHE, leasedMachineId=PRESS):
        h.submit(h.report(lease, 1, 0, lease.opened_at + 1, machine=LATHE))


def test_report_for_offered_cancelled_or_settled_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    offered, _ = h.offer(machine=LATHE)
    cancelled, _ = h.offer(machine=MILL)
    h.send("cancelOffer", cancelled, by=LESSOR)
    lease = h.opened(h.default_terms(grace_period=0))
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE))
    h.send("withdrawRefund", lease.lease_id, by=LESSEE, at=closed_at + 1)
    t = h.now()
    for lease_id, machine, status in ((offered, LATHE, Status.OFFERED), (cancelled, MILL, Status.CANCELLED),
                                      (lease.lease_id, PRESS, Status.SETTLED)):
        with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease_id, status=status):
            h.submit(h.report(lease_id, 1, 0, t - 1, machine=machine))


def test_report_more_than_the_clock_skew_ahead_reverts_report_from_future(h: LeaseHarness) -> None:
    lease = h.opened()
    t = lease.opened_at + 100
    h.next_block_at(t)
    with reverts("EquipmentLeaseReportFromFuture", leaseId=lease.lease_id, timestamp=t + MAX_CLOCK_SKEW + 1,
                 latestAccepted=t + MAX_CLOCK_SKEW):
        h.submit(h.report(lease, 1, 0, t + MAX_CLOCK_SKEW + 1))
    receipt = h.submit(h.report(lease, 1, 0, t + MAX_CLOCK_SKEW))
    assert h.events(receipt) == [settled(lease.lease_id, 1, 0, 0)]


def test_report_older_than_the_acceptance_window_reverts_report_expired(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    reading = t + 60
    h.next_block_at(reading + DAY + 1)
    with reverts("EquipmentLeaseReportExpired", leaseId=lease.lease_id, timestamp=reading,
                 oldestAccepted=reading + 1):
        h.submit(h.report(lease, 1_100, 60, reading))
    # exactly one window old: accepted (a fresh block at the boundary)
    lease2, t2 = anchored(h, machine=LATHE)
    reading2 = t2 + 60
    receipt = h.submit(h.report(lease2, 1_100, 60, reading2), at=reading2 + DAY)
    assert h.events(receipt) == [settled(lease2.lease_id, 1_100, 100, lease2.terms.bill(100, 60, 0))]


def test_replayed_or_not_newer_report_reverts_stale_report(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    report = h.report(lease, 1_100, 60, t + 60)
    h.submit(report, at=t + 60)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t + 60, lastTimestamp=t + 60):
        h.submit(report)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t + 59, lastTimestamp=t + 60):
        h.submit(h.report(lease, 1_101, 60, t + 59))


def test_first_report_must_be_newer_than_the_opening(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=lease.opened_at,
                 lastTimestamp=lease.opened_at):
        h.submit(h.report(lease, 1, 0, lease.opened_at))
    assert h.get(lease.lease_id)["anchored"] is False


def test_report_with_counter_going_backwards_reverts_counter_backwards(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    with reverts("EquipmentLeaseCounterBackwards", leaseId=lease.lease_id, counter=999, lastCounter=1_000):
        h.submit(h.report(lease, 999, 10, t + 10))


def test_report_with_runtime_going_backwards_reverts_runtime_backwards(h: LeaseHarness) -> None:
    lease, t = anchored(h, runtime=500)
    with reverts("EquipmentLeaseRuntimeBackwards", leaseId=lease.lease_id, runtimeSeconds=499,
                 lastRuntimeSeconds=500):
        h.submit(h.report(lease, 1_001, 499, t + 10))


def test_report_checks_run_in_the_documented_order(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000, runtime=500)
    forged = device_key(1234)
    h.next_block_at(t + 2 * DAY)
    now = t + 2 * DAY
    lid = lease.lease_id
    cases = [
        # from the future beats everything after it
        (h.report(lease, 1, 1, now + 301, key=forged),
         ("EquipmentLeaseReportFromFuture", {"leaseId": lid, "timestamp": now + 301, "latestAccepted": now + 300})),
        # expired beats stale, backwards counters and a bad signer
        (h.report(lease, 1, 1, t - 1, key=forged),
         ("EquipmentLeaseReportExpired", {"leaseId": lid, "timestamp": t - 1, "oldestAccepted": now - DAY})),
        (h.report(lease, 1, 1, now - DAY + 1, key=forged),
         ("EquipmentLeaseCounterBackwards", {"leaseId": lid, "counter": 1, "lastCounter": 1_000})),
        (h.report(lease, 1_000, 1, now, key=forged),
         ("EquipmentLeaseRuntimeBackwards", {"leaseId": lid, "runtimeSeconds": 1, "lastRuntimeSeconds": 500})),
    ]
    for signed, (name, args) in cases:
        with reverts(name, **args):
            h.submit(signed)
    # within the window but not newer than the anchor: stale beats the backwards counter and bad signer (the
    # anchor, dated 199 s ahead of its block, is stored at its block's time)
    lease2 = h.opened(machine=LATHE)
    t2 = lease2.opened_at
    h.submit(h.report(lease2, 1_000, 500, t2 + 200), at=t2 + 1)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease2.lease_id, timestamp=t2 + 1, lastTimestamp=t2 + 1):
        h.submit(h.report(lease2, 1, 1, t2 + 1, key=forged))
    # a high-s signature by a forger: malformed beats the signer check
    signed = h.report(lease2, 1_001, 501, t2 + 201, key=forged)
    high = with_s(signed, SECP256K1_N // 2 + 1)
    with reverts("EquipmentLeaseInvalidSignature", leaseId=lease2.lease_id):
        h.submit(high)
    with reverts("EquipmentLeaseInvalidSigner", leaseId=lease2.lease_id, machineId=LATHE,
                 signer=low(device_address(forged)), timestamp=t2 + 201):
        h.submit(signed)


def test_closed_lease_checks_grace_period_before_close_time_before_the_rest(h: LeaseHarness) -> None:
    terms = h.default_terms(grace_period=1_000)
    lease, t = anchored(h, terms)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE, at=t + 100))
    late = h.report(lease, 1, 1, closed_at + 1, key=device_key(1234))
    with reverts("EquipmentLeaseReportAfterClose", leaseId=lease.lease_id, timestamp=closed_at + 1,
                 closedAt=closed_at):
        h.submit(late)
    h.next_block_at(closed_at + 1_001)
    with reverts("EquipmentLeaseGracePeriodOver", leaseId=lease.lease_id, settleUntil=closed_at + 1_000):
        h.submit(late)


# ---------------------------------------------------------------------------------------------- anomalies


def test_report_above_the_plausible_rate_is_an_anomaly_billing_nothing_and_moving_no_counter(
    h: LeaseHarness,
) -> None:
    lease, t = anchored(h, counter=1_000, runtime=100)
    before = h.get(lease.lease_id)
    signed = h.report(lease, 1_000 + 601, 160, t + 60)  # 60 s at 10/s allows 600 units
    receipt = h.submit(signed, at=t + 61)

    assert h.events(receipt) == [("UsageAnomalyDetected", {
        "leaseId": lease.lease_id,
        "report": {"report": {"leaseId": lease.lease_id, "machineId": PRESS, "counter": 1_601,
                              "runtimeSeconds": 160, "timestamp": t + 60}, "r": signed.r, "vs": signed.vs},
        "units": 601, "maxUnits": 600, "runtimeDelta": 60, "maxRuntimeDelta": 61,
    })]
    assert h.get(lease.lease_id) == before


def test_units_exactly_at_the_plausible_rate_are_billed(h: LeaseHarness) -> None:
    terms = h.default_terms(max_rate_per_hour=7)  # 7 units an hour: 60 s allow floor(7 * 60 / 3600) = 0
    lease, t = anchored(h, terms, counter=0)
    receipt = h.submit(h.report(lease, 1, 0, t + 60), at=t + 60)
    assert h.events(receipt)[0][1]["maxUnits"] == 0
    receipt = h.submit(h.report(lease, 1, 0, t + 515), at=t + 515)  # 7 * 515 / 3600 = 1.0013
    assert h.events(receipt) == [settled(lease.lease_id, 1, 1, terms.price_per_unit)]


def test_runtime_beyond_elapsed_plus_one_second_is_an_anomaly(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=0, runtime=1_000)
    receipt = h.submit(h.report(lease, 0, 1_000 + 62, t + 60), at=t + 60)
    assert h.events(receipt)[0][0] == "UsageAnomalyDetected"
    assert h.events(receipt)[0][1]["runtimeDelta"] == 62
    assert h.events(receipt)[0][1]["maxRuntimeDelta"] == 61
    receipt = h.submit(h.report(lease, 0, 1_000 + 61, t + 60), at=t + 61)
    assert h.events(receipt) == [settled(lease.lease_id, 0, 0, lease.terms.runtime_cost(1_061, 1_000))]


def test_later_plausible_report_after_an_anomaly_bills_the_whole_interval(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000, runtime=0)
    h.submit(h.report(lease, 2_000, 60, t + 60), at=t + 60)  # 1000 units in 60 s: anomaly
    receipt = h.submit(h.report(lease, 2_000, 100, t + 100), at=t + 100)  # 1000 in 100 s: plausible
    amount = lease.terms.bill(1_000, 100, 0)
    assert h.events(receipt) == [settled(lease.lease_id, 2_000, 1_000, amount)]
    assert state(h, lease.lease_id, "lastCounter", "escrow", "earnings") == (2_000, DEPOSIT - amount, amount)


def test_anchor_report_is_not_checked_for_plausibility(h: LeaseHarness) -> None:
    lease = h.opened()
    t = lease.opened_at + 1
    receipt = h.submit(h.report(lease, 2**64 - 1, 2**32 - 1, t), at=t)
    assert h.events(receipt) == [settled(lease.lease_id, 2**64 - 1, 0, 0)]


def test_lessee_accepting_an_anomaly_bills_it(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    signed = h.report(lease, 5_000, 60, t + 60)
    h.submit(signed, at=t + 60)
    receipt = h.send("acceptAnomalousUsage", signed.as_tuple(), by=LESSEE)
    amount = lease.terms.bill(4_000, 60, 0)
    assert h.events(receipt) == [settled(lease.lease_id, 5_000, 4_000, amount),
                                 ("AnomalousUsageAccepted", {"leaseId": lease.lease_id, "counter": 5_000})]
    assert state(h, lease.lease_id, *COUNTERS, "escrow", "earnings") == (
        5_000, 60, t + 60, DEPOSIT - amount, amount)


def test_lessee_may_accept_an_anomalous_report_older_than_the_acceptance_window(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    signed = h.report(lease, 5_000, 0, t + 60)
    h.next_block_at(t + 60 + 2 * DAY)
    with reverts("EquipmentLeaseReportExpired", leaseId=lease.lease_id, timestamp=t + 60,
                 oldestAccepted=t + 60 + DAY):
        h.submit(signed)
    receipt = h.send("acceptAnomalousUsage", signed.as_tuple(), by=LESSEE)
    assert h.events(receipt)[0] == settled(lease.lease_id, 5_000, 4_000, lease.terms.bill(4_000, 0, 0))


def test_accepting_a_plausible_report_bills_it_like_a_submission(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    receipt = h.send("acceptAnomalousUsage", h.report(lease, 1_010, 0, t + 60).as_tuple(), by=LESSEE,
                     at=t + 60)
    assert h.events(receipt) == [settled(lease.lease_id, 1_010, 10, 20_000),
                                 ("AnomalousUsageAccepted", {"leaseId": lease.lease_id, "counter": 1_010})]


def test_accept_by_anyone_but_the_lessee_reverts_not_lessee(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    signed = h.report(lease, 5_000, 0, t + 60)
    for index in (LESSOR, STRANGER):
        with reverts("EquipmentLeaseNotLessee", leaseId=lease.lease_id, account=low(h.address(index))):
            h.send("acceptAnomalousUsage", signed.as_tuple(), by=index)
    unopened, _ = h.offer(machine=LATHE)
    with reverts("EquipmentLeaseNotLessee", leaseId=unopened, account=low(h.address(LESSEE))):
        h.send("acceptAnomalousUsage", h.report(unopened, 1, 0, t, machine=LATHE).as_tuple(), by=LESSEE)


def test_accept_and_waive_still_refuse_stale_and_forged_reports(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    stale = h.report(lease, 9_000, 0, t)
    forged = h.report(lease, 9_000, 0, t + 60, key=device_key(1234))
    for fn, by in (("acceptAnomalousUsage", LESSEE), ("waiveAnomalousUsage", LESSOR)):
        with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t, lastTimestamp=t):
            h.send(fn, stale.as_tuple(), by=by)
        with reverts("EquipmentLeaseInvalidSigner", leaseId=lease.lease_id, machineId=PRESS,
                     signer=low(device_address(device_key(1234))), timestamp=t + 60):
            h.send(fn, forged.as_tuple(), by=by)


def test_lessor_waiving_an_anomaly_moves_the_counters_without_billing(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000, runtime=10)
    signed = h.report(lease, 5_000, 70, t + 60)
    h.submit(signed, at=t + 60)
    receipt = h.send("waiveAnomalousUsage", signed.as_tuple(), by=LESSOR)
    assert h.events(receipt) == [("UsageWaived", {"leaseId": lease.lease_id, "counter": 5_000, "units": 4_000})]
    assert state(h, lease.lease_id, *COUNTERS, "escrow", "earnings") == (5_000, 70, t + 60, DEPOSIT, 0)
    # billing resumes from the waived counter
    receipt = h.submit(h.report(lease, 5_010, 80, t + 70), at=t + 70)
    assert h.events(receipt) == [settled(lease.lease_id, 5_010, 10, lease.terms.bill(10, 80, 70))]


def test_waive_by_anyone_but_the_lessor_reverts_not_lessor(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    signed = h.report(lease, 5_000, 0, t + 60)
    for index in (LESSEE, STRANGER):
        with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(index))):
            h.send("waiveAnomalousUsage", signed.as_tuple(), by=index)


# ---------------------------------------------------------------------------------------------- balance, debt


def test_bill_taking_escrow_below_minimum_emits_escrow_fell_below_minimum_once_per_crossing(
    h: LeaseHarness,
) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0, min_balance=50 * 10**6)
    lease, t = anchored(h, terms, counter=0)  # escrow 100 mUSD, 1 mUSD a unit
    receipt = h.submit(h.report(lease, 50, 0, t + 60), at=t + 60)  # 100 -> 50: not below
    assert h.events(receipt) == [settled(lease.lease_id, 50, 50, 50 * 10**6)]
    receipt = h.submit(h.report(lease, 51, 0, t + 70), at=t + 70)  # 50 -> 49: crossing
    assert h.events(receipt) == [
        settled(lease.lease_id, 51, 1, 10**6),
        ("EscrowFellBelowMinimum", {"leaseId": lease.lease_id, "escrow": 49 * 10**6, "minBalance": 50 * 10**6}),
    ]
    receipt = h.submit(h.report(lease, 52, 0, t + 80), at=t + 80)  # still below: no second event
    assert h.events(receipt) == [settled(lease.lease_id, 52, 1, 10**6)]
    h.send("topUp", lease.lease_id, 10 * 10**6, by=LESSEE)  # 48 -> 58
    receipt = h.submit(h.report(lease, 61, 0, t + 90), at=t + 90)  # 58 -> 49: crossing again
    assert h.events(receipt) == [
        settled(lease.lease_id, 61, 9, 9 * 10**6),
        ("EscrowFellBelowMinimum", {"leaseId": lease.lease_id, "escrow": 49 * 10**6, "minBalance": 50 * 10**6}),
    ]


def test_minimum_balance_event_for_minimum_not_a_power_of_two(h: LeaseHarness) -> None:
    # minBalance 3: bit length 2, so escrow 3 has a bit beyond it and must not be reported below 3.
    terms = h.default_terms(price_per_unit=1, price_per_hour=0, min_balance=3)
    lease, t = anchored(h, terms, counter=0, deposit=5)
    receipt = h.submit(h.report(lease, 2, 0, t + 60), at=t + 60)  # 5 -> 3
    assert h.events(receipt) == [settled(lease.lease_id, 2, 2, 2)]
    receipt = h.submit(h.report(lease, 3, 0, t + 70), at=t + 70)  # 3 -> 2
    assert h.events(receipt) == [settled(lease.lease_id, 3, 1, 1),
                                 ("EscrowFellBelowMinimum", {"leaseId": lease.lease_id, "escrow": 2, "minBalance": 3})]


def test_bill_beyond_escrow_bills_what_is_there_records_debt_and_suspends(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    receipt = h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)
    assert h.events(receipt) == [
        settled(lease.lease_id, 130, 130, 130 * 10**6),
        ("EscrowFellBelowMinimum", {"leaseId": lease.lease_id, "escrow": 0, "minBalance": 50 * 10**6}),
        ("LeaseSuspended", {"leaseId": lease.lease_id, "debt": 30 * 10**6}),
    ]
    assert state(h, lease.lease_id, *MONEY) == (Status.SUSPENDED, 0, DEPOSIT, 30 * 10**6)


def test_reports_while_suspended_keep_adding_to_debt_without_a_second_suspension(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)
    receipt = h.submit(h.report(lease, 135, 0, t + 70), at=t + 70)
    assert h.events(receipt) == [settled(lease.lease_id, 135, 5, 5 * 10**6)]
    assert state(h, lease.lease_id, *MONEY) == (Status.SUSPENDED, 0, DEPOSIT, 35 * 10**6)


def test_bill_below_minimum_from_an_escrow_already_below_it_into_debt_emits_only_suspension(
    h: LeaseHarness,
) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 60, 0, t + 60), at=t + 60)  # 100 -> 40: crossing
    receipt = h.submit(h.report(lease, 100, 0, t + 70), at=t + 70)  # 40 -> 0 and 0 debt: no suspension
    assert h.events(receipt) == [settled(lease.lease_id, 100, 40, 40 * 10**6)]
    assert state(h, lease.lease_id, *MONEY) == (Status.ACTIVE, 0, DEPOSIT, 0)
    receipt = h.submit(h.report(lease, 101, 0, t + 80), at=t + 80)
    assert h.events(receipt) == [settled(lease.lease_id, 101, 1, 10**6),
                                 ("LeaseSuspended", {"leaseId": lease.lease_id, "debt": 10**6})]


def test_top_up_pays_debt_first_and_resumes_only_when_all_debt_is_paid(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)  # debt 30

    receipt = h.send("topUp", lease.lease_id, 20 * 10**6, by=LESSEE)
    assert h.events(receipt) == [("EscrowToppedUp", {"leaseId": lease.lease_id, "payer": h.address(LESSEE),
                                                     "amount": 20 * 10**6, "debtPaid": 20 * 10**6, "escrow": 0})]
    assert state(h, lease.lease_id, *MONEY) == (Status.SUSPENDED, 0, 120 * 10**6, 10 * 10**6)

    receipt = h.send("topUp", lease.lease_id, 60 * 10**6, by=STRANGER)
    assert h.events(receipt) == [
        ("EscrowToppedUp", {"leaseId": lease.lease_id, "payer": h.address(STRANGER), "amount": 60 * 10**6,
                            "debtPaid": 10 * 10**6, "escrow": 50 * 10**6}),
        ("LeaseResumed", {"leaseId": lease.lease_id, "escrow": 50 * 10**6}),
    ]
    assert state(h, lease.lease_id, *MONEY) == (Status.ACTIVE, 50 * 10**6, 130 * 10**6, 0)
    assert h.balance(h.lease.address) == 180 * 10**6


def test_top_up_of_exactly_the_debt_resumes_with_empty_escrow(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)
    receipt = h.send("topUp", lease.lease_id, 30 * 10**6, by=LESSEE)
    assert h.events(receipt)[1] == ("LeaseResumed", {"leaseId": lease.lease_id, "escrow": 0})
    assert state(h, lease.lease_id, *MONEY) == (Status.ACTIVE, 0, 130 * 10**6, 0)


def test_top_up_of_a_closed_lease_pays_its_debt_and_refills_escrow(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=1 * 10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    h.send("close", lease.lease_id, by=LESSEE)
    receipt = h.send("topUp", lease.lease_id, 40 * 10**6, by=LESSEE)
    assert h.events(receipt) == [("EscrowToppedUp", {"leaseId": lease.lease_id, "payer": h.address(LESSEE),
                                                     "amount": 40 * 10**6, "debtPaid": 30 * 10**6,
                                                     "escrow": 10 * 10**6})]
    assert state(h, lease.lease_id, *MONEY) == (Status.CLOSED, 10 * 10**6, 130 * 10**6, 0)


# ---------------------------------------------------------------------------------------------- markStale


def test_mark_stale_after_the_heartbeat_emits_lease_marked_stale_and_changes_nothing(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    before = h.get(lease.lease_id)
    h.next_block_at(t + 3_600)
    with reverts("EquipmentLeaseHeartbeatNotMissed", leaseId=lease.lease_id, staleAfter=t + 3_600):
        h.send("markStale", lease.lease_id, by=LESSOR)
    receipt = h.send("markStale", lease.lease_id, by=LESSOR, at=t + 3_601)
    assert h.events(receipt) == [("LeaseMarkedStale", {"leaseId": lease.lease_id, "lastTimestamp": t,
                                                       "heartbeat": 3_600})]
    assert h.get(lease.lease_id) == before


def test_mark_stale_counts_from_the_opening_before_the_first_report(h: LeaseHarness) -> None:
    lease = h.opened(h.default_terms(heartbeat=60))
    receipt = h.send("markStale", lease.lease_id, by=LESSOR, at=lease.opened_at + 61)
    assert h.events(receipt) == [("LeaseMarkedStale", {"leaseId": lease.lease_id, "lastTimestamp": lease.opened_at,
                                                       "heartbeat": 60})]


def test_mark_stale_by_non_lessor_or_of_a_lease_not_running_reverts(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(LESSEE))):
        h.send("markStale", lease.lease_id, by=LESSEE, at=lease.opened_at + 2 * 3_600)
    offered, _ = h.offer(machine=LATHE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=offered, status=Status.OFFERED):
        h.send("markStale", offered, by=LESSOR)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    h.send("close", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.CLOSED):
        h.send("markStale", lease.lease_id, by=LESSOR)


def test_mark_stale_of_a_suspended_lease_is_allowed(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=10**6, price_per_hour=0)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 200, 0, t + 60), at=t + 60)
    receipt = h.send("markStale", lease.lease_id, by=LESSOR, at=t + 60 + 3_601)
    assert h.events(receipt) == [("LeaseMarkedStale", {"leaseId": lease.lease_id, "lastTimestamp": t + 60,
                                                       "heartbeat": 3_600})]


# ---------------------------------------------------------------------------------------------- closing


def test_lessee_closes_from_the_end_date_freeing_the_machine(h: LeaseHarness) -> None:
    t = h.now() + 100
    terms = h.default_terms(ends_at=t + 1_000)
    lease = h.opened(terms, at=t)
    h.next_block_at(t + 999)
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSEE)),
                 endsAt=t + 1_000):
        h.send("close", lease.lease_id, by=LESSEE)
    receipt = h.send("close", lease.lease_id, by=LESSEE, at=t + 1_000)
    assert h.events(receipt) == [("LeaseClosed", {"leaseId": lease.lease_id, "machineId": PRESS,
                                                  "closedBy": h.address(LESSEE), "settleUntil": t + 1_000 + DAY})]
    assert state(h, lease.lease_id, "status", "closedAt", "escrow") == (Status.CLOSED, t + 1_000, DEPOSIT)
    assert h.view("activeLeaseOf", PRESS) == 0


def test_lessor_closes_from_the_end_date(h: LeaseHarness) -> None:
    t = h.now() + 100
    lease = h.opened(h.default_terms(ends_at=t + 1_000), at=t)
    h.next_block_at(t + 999)
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSOR)),
                 endsAt=t + 1_000):
        h.send("close", lease.lease_id, by=LESSOR)
    receipt = h.send("close", lease.lease_id, by=LESSOR, at=t + 5_000)
    assert h.events(receipt) == [("LeaseClosed", {"leaseId": lease.lease_id, "machineId": PRESS,
                                                  "closedBy": h.address(LESSOR), "settleUntil": t + 5_000 + DAY})]


def test_lessee_closes_early_with_the_lessors_consent(h: LeaseHarness) -> None:
    lease = h.opened()
    receipt = h.send("consentToClose", lease.lease_id, by=LESSOR)
    assert h.events(receipt) == [("EarlyCloseConsented", {"leaseId": lease.lease_id})]
    assert h.get(lease.lease_id)["closeConsented"] is True
    t = h.now() + 10
    receipt = h.send("close", lease.lease_id, by=LESSEE, at=t)
    assert h.events(receipt) == [("LeaseClosed", {"leaseId": lease.lease_id, "machineId": PRESS,
                                                  "closedBy": h.address(LESSEE), "settleUntil": t + DAY})]


def test_early_close_without_consent_reverts_close_not_allowed(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSEE)),
                 endsAt=lease.terms.ends_at):
        h.send("close", lease.lease_id, by=LESSEE)
    assert h.get(lease.lease_id)["status"] == Status.ACTIVE


def test_lessor_cannot_close_early_even_having_consented(h: LeaseHarness) -> None:
    lease = h.opened()
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSOR)),
                 endsAt=lease.terms.ends_at):
        h.send("close", lease.lease_id, by=LESSOR)


def test_close_by_a_stranger_reverts_not_party_even_after_the_end(h: LeaseHarness) -> None:
    t = h.now() + 100
    lease = h.opened(h.default_terms(ends_at=t + 10), at=t)
    h.next_block_at(t + 20)
    with reverts("EquipmentLeaseNotParty", leaseId=lease.lease_id, account=low(h.address(STRANGER))):
        h.send("close", lease.lease_id, by=STRANGER)


def test_close_of_an_offered_or_closed_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    offered, _ = h.offer(machine=LATHE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=offered, status=Status.OFFERED):
        h.send("close", offered, by=LESSOR)
    lease = h.opened()
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    h.send("close", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.CLOSED):
        h.send("close", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.CLOSED):
        h.send("consentToClose", lease.lease_id, by=LESSOR)


def test_consent_by_non_lessor_or_to_an_offer_reverts(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(LESSEE))):
        h.send("consentToClose", lease.lease_id, by=LESSEE)
    offered, _ = h.offer(machine=LATHE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=offered, status=Status.OFFERED):
        h.send("consentToClose", offered, by=LESSOR)
    with reverts("EquipmentLeaseUnknownLease", leaseId=5):
        h.send("consentToClose", 5, by=LESSOR)


def test_suspended_lease_can_be_closed_and_settles_with_debt_recorded(h: LeaseHarness) -> None:
    terms = h.default_terms(price_per_unit=10**6, price_per_hour=0, grace_period=100)
    lease, t = anchored(h, terms, counter=0)
    h.submit(h.report(lease, 130, 0, t + 60), at=t + 60)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE))
    receipt = h.send("withdrawRefund", lease.lease_id, by=LESSEE, at=closed_at + 101)
    assert h.events(receipt) == [("RefundWithdrawn", {"leaseId": lease.lease_id, "lessee": h.address(LESSEE),
                                                      "amount": 0})]
    assert h.transfers(receipt) == []
    assert state(h, lease.lease_id, *MONEY) == (Status.SETTLED, 0, DEPOSIT, 30 * 10**6)


def test_final_report_within_the_grace_period_settles_up_to_the_close(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = t + 100
    h.send("close", lease.lease_id, by=LESSEE, at=closed_at)
    with reverts("EquipmentLeaseReportAfterClose", leaseId=lease.lease_id, timestamp=closed_at + 1,
                 closedAt=closed_at):
        h.submit(h.report(lease, 1_500, 90, closed_at + 1))
    # the last block of the grace period still settles a reading taken at the close
    final = h.report(lease, 1_500, 90, closed_at)
    h.next_block_at(closed_at + DAY)
    receipt = h.submit(final)
    assert h.block_time(receipt) == closed_at + DAY
    amount = lease.terms.bill(500, 90, 0)
    assert h.events(receipt) == [settled(lease.lease_id, 1_500, 500, amount)]
    assert state(h, lease.lease_id, *MONEY) == (Status.CLOSED, DEPOSIT - amount, amount, 0)


def test_report_after_the_grace_period_reverts_grace_period_over(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = t + 100
    h.send("close", lease.lease_id, by=LESSEE, at=closed_at)
    h.next_block_at(closed_at + DAY + 1)
    with reverts("EquipmentLeaseGracePeriodOver", leaseId=lease.lease_id, settleUntil=closed_at + DAY):
        h.submit(h.report(lease, 1_500, 90, closed_at))
    assert state(h, lease.lease_id, "lastCounter", "escrow") == (1_000, DEPOSIT)


def test_refund_waits_out_the_grace_period_then_pays_the_escrow_and_settles(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    h.submit(h.report(lease, 1_100, 0, t + 60), at=t + 60)
    billed = lease.terms.bill(100, 0, 0)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = t + 100
    h.send("close", lease.lease_id, by=LESSEE, at=closed_at)
    h.next_block_at(closed_at + DAY)
    with reverts("EquipmentLeaseGracePeriodActive", leaseId=lease.lease_id, refundableAfter=closed_at + DAY):
        h.send("withdrawRefund", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseNotLessee", leaseId=lease.lease_id, account=low(h.address(LESSOR))):
        h.send("withdrawRefund", lease.lease_id, by=LESSOR, at=closed_at + DAY + 1)
    receipt = h.send("withdrawRefund", lease.lease_id, by=LESSEE)
    assert h.events(receipt) == [("RefundWithdrawn", {"leaseId": lease.lease_id, "lessee": h.address(LESSEE),
                                                      "amount": DEPOSIT - billed})]
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSEE), DEPOSIT - billed)]
    assert state(h, lease.lease_id, *MONEY) == (Status.SETTLED, 0, billed, 0)
    assert h.balance(LESSEE) == FUNDING - billed
    assert h.balance(h.lease.address) == billed
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.SETTLED):
        h.send("withdrawRefund", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.SETTLED):
        h.send("topUp", lease.lease_id, 1, by=LESSEE)
    # the lessor's earnings survive settlement
    receipt = h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSOR), billed)]
    assert h.balance(h.lease.address) == 0


def test_refund_of_a_running_lease_reverts_unexpected_status(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseUnexpectedStatus", leaseId=lease.lease_id, status=Status.ACTIVE):
        h.send("withdrawRefund", lease.lease_id, by=LESSEE)


def test_machine_is_free_for_a_new_lease_right_after_close_and_the_windows_do_not_overlap(
    h: LeaseHarness,
) -> None:
    old, t = anchored(h, counter=1_000)
    new_id, _ = h.offer(machine=PRESS)  # a machine may carry several offers; the next opens once it is free
    h.send("consentToClose", old.lease_id, by=LESSOR)
    closed_at = t + 100
    h.send("close", old.lease_id, by=LESSEE, at=closed_at)
    receipt = h.open(new_id, by=OTHER_LESSEE, at=closed_at + 1)
    assert h.events(receipt)[0][0] == "LeaseOpened"
    assert h.view("activeLeaseOf", PRESS) == new_id

    # the old lease still settles the reading taken at its close; the new one refuses it
    at_close = h.report(old.lease_id, 1_400, 0, closed_at, machine=PRESS)
    receipt = h.submit(at_close, at=closed_at + 50)
    assert h.events(receipt) == [settled(old.lease_id, 1_400, 400, old.terms.bill(400, 0, 0))]
    with reverts("EquipmentLeaseStaleReport", leaseId=new_id, timestamp=closed_at + 1, lastTimestamp=closed_at + 1):
        h.submit(h.report(new_id, 1_400, 0, closed_at + 1, machine=PRESS))
    # and a reading after the new opening belongs to the new lease only
    with reverts("EquipmentLeaseReportAfterClose", leaseId=old.lease_id, timestamp=closed_at + 2,
                 closedAt=closed_at):
        h.submit(h.report(old.lease_id, 1_450, 0, closed_at + 2, machine=PRESS))
    receipt = h.submit(h.report(new_id, 1_450, 0, closed_at + 2, machine=PRESS))
    assert h.events(receipt) == [settled(new_id, 1_450, 0, 0)]


# ---------------------------------------------------------------------------------------------- withdrawEarnings


def test_withdraw_earnings_pays_the_lessor_everything_billed(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    h.submit(h.report(lease, 1_100, 30, t + 60), at=t + 60)
    h.submit(h.report(lease, 1_150, 60, t + 90), at=t + 90)
    billed = lease.terms.bill(150, 60, 0)
    receipt = h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    assert h.events(receipt) == [("EarningsWithdrawn", {"leaseId": lease.lease_id, "lessor": h.address(LESSOR),
                                                        "amount": billed})]
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSOR), billed)]
    assert state(h, lease.lease_id, "escrow", "earnings") == (DEPOSIT - billed, 0)
    assert h.balance(LESSOR) == billed
    with reverts("EquipmentLeaseNothingToWithdraw", leaseId=lease.lease_id):
        h.send("withdrawEarnings", lease.lease_id, by=LESSOR)


def test_withdraw_earnings_by_non_lessor_or_of_unknown_lease_reverts(h: LeaseHarness) -> None:
    lease = h.opened()
    with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(LESSEE))):
        h.send("withdrawEarnings", lease.lease_id, by=LESSEE)
    with reverts("EquipmentLeaseNothingToWithdraw", leaseId=lease.lease_id):
        h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    with reverts("EquipmentLeaseUnknownLease", leaseId=3):
        h.send("withdrawEarnings", 3, by=LESSOR)


def test_multicall_withdraws_the_earnings_of_several_leases(h: LeaseHarness) -> None:
    a, _ = anchored(h, machine=PRESS)
    b, tb = anchored(h, machine=LATHE)
    h.submit(h.report(a, 1_010, 0, tb + 30), at=tb + 30)
    h.submit(h.report(b, 1_020, 0, tb + 31), at=tb + 31)
    calls = [h.lease.encode_abi("withdrawEarnings", [lid]) for lid in (a.lease_id, b.lease_id)]
    receipt = h.transact(h.lease.functions.multicall(calls), by=LESSOR)
    assert h.events(receipt) == [
        ("EarningsWithdrawn", {"leaseId": a.lease_id, "lessor": h.address(LESSOR), "amount": 20_000}),
        ("EarningsWithdrawn", {"leaseId": b.lease_id, "lessor": h.address(LESSOR), "amount": 40_000}),
    ]
    assert h.balance(LESSOR) == 60_000


# ---------------------------------------------------------------------------------------------- pause


def test_pauser_pauses_and_unpauses(h: LeaseHarness) -> None:
    receipt = h.send("pause", by=ADMIN)
    (paused,) = h.lease.events.Paused().process_receipt(receipt)
    assert dict(paused.args) == {"account": h.address(ADMIN)}
    assert h.lease.functions.paused().call() is True
    with reverts("EnforcedPause"):
        h.send("pause", by=ADMIN)
    receipt = h.send("unpause", by=ADMIN)
    (unpaused,) = h.lease.events.Unpaused().process_receipt(receipt)
    assert dict(unpaused.args) == {"account": h.address(ADMIN)}
    with reverts("ExpectedPause"):
        h.send("unpause", by=ADMIN)


def test_pause_by_non_pauser_reverts_access_control(h: LeaseHarness) -> None:
    for fn in ("pause", "unpause"):
        with reverts("AccessControlUnauthorizedAccount", account=low(h.address(LESSOR)), neededRole=PAUSER_ROLE):
            h.send(fn, by=LESSOR)


def test_granted_pauser_may_pause(h: LeaseHarness) -> None:
    h.send("grantRole", PAUSER_ROLE, h.address(STRANGER), by=ADMIN)
    h.send("pause", by=STRANGER)
    assert h.lease.functions.paused().call() is True


def test_offers_opens_and_reports_are_blocked_while_paused(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    offered, _ = h.offer(machine=LATHE)
    report = h.report(lease, 1_010, 0, t + 60)
    h.send("pause", by=ADMIN, at=t + 60)
    deadline = t + 3_600
    v, r, s = sign_permit(h, PERMIT_USER, h.lease.address, DEPOSIT, deadline)
    blocked = [
        ("offer", (MILL, h.default_terms().as_tuple()), LESSOR),
        ("open", (offered, DEPOSIT), LESSEE),
        ("openWithPermit", (offered, DEPOSIT, deadline, v, r, s), PERMIT_USER),
        ("submitUsage", (report.as_tuple(),), RELAYER),
        ("submitUsageBatch", ([report.as_tuple()],), RELAYER),
        ("acceptAnomalousUsage", (report.as_tuple(),), LESSEE),
        ("waiveAnomalousUsage", (report.as_tuple(),), LESSOR),
    ]
    for fn, args, by in blocked:
        with reverts("EnforcedPause"):
            h.send(fn, *args, by=by)
    h.send("unpause", by=ADMIN)
    receipt = h.submit(report)
    assert h.events(receipt) == [settled(lease.lease_id, 1_010, 10, 20_000)]


def test_withdrawals_refunds_top_ups_and_closing_stay_open_while_paused(h: LeaseHarness) -> None:
    lease, t = anchored(h, counter=1_000)
    h.submit(h.report(lease, 1_010, 0, t + 60), at=t + 60)
    offered, _ = h.offer(machine=LATHE)
    h.send("pause", by=ADMIN)

    h.send("cancelOffer", offered, by=LESSOR)
    h.send("topUp", lease.lease_id, 10**6, by=LESSEE)
    h.send("markStale", lease.lease_id, by=LESSOR, at=t + 60 + 3_601)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE))
    earnings = h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    refund = h.send("withdrawRefund", lease.lease_id, by=LESSEE, at=closed_at + DAY + 1)

    assert h.transfers(earnings) == [(h.lease.address, h.address(LESSOR), 20_000)]
    assert h.transfers(refund) == [(h.lease.address, h.address(LESSEE), DEPOSIT + 10**6 - 20_000)]
    assert h.get(lease.lease_id)["status"] == Status.SETTLED
    assert h.get(offered)["status"] == Status.CANCELLED
    assert h.balance(h.lease.address) == 0


def test_a_grace_period_running_out_during_a_pause_is_not_extended(h: LeaseHarness) -> None:
    lease, t = anchored(h)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE, at=t + 100))
    final = h.report(lease, 1_100, 0, closed_at)
    h.send("pause", by=ADMIN)
    h.send("unpause", by=ADMIN, at=closed_at + DAY + 1)
    with reverts("EquipmentLeaseGracePeriodOver", leaseId=lease.lease_id, settleUntil=closed_at + DAY):
        h.submit(final)
    receipt = h.send("withdrawRefund", lease.lease_id, by=LESSEE)
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSEE), DEPOSIT)]


# ---------------------------------------------------------------------------------------------- re-entrancy

REENTRANT_MACHINE = machine_id("lease-machine-reentrant")
REENTRANT_KEY = device_key(77)
GUARD = function_signature_to_4byte_selector("ReentrancyGuardReentrantCall()")


class Reentrant:
    """A lease whose lessor *and* lessee is the re-entering token itself, in the token itself: every callback it
    makes comes from a genuine party, so only the reentrancy guard and checks-effects-interactions protect the
    contract. Closed, grace period over, with earnings and escrow both withdrawable."""

    def __init__(self, h: LeaseHarness) -> None:
        self.h = h
        self.token: Contract = h.suite.reentrant
        me = self.token.address
        h.tx(ADMIN).transact(h.registry.functions.register(REENTRANT_MACHINE, me, device_address(REENTRANT_KEY),
                                                           ZERO_BYTES32))
        h.signers[REENTRANT_MACHINE] = REENTRANT_KEY
        self.token_tx(self.token.functions.mint(me, 1_000 * 10**6))
        self.execute(me, self.token.encode_abi("approve", [h.lease.address, MAX_UINT256]))
        self.terms = h.default_terms(token=me, price_per_unit=10**6, price_per_hour=0, min_balance=0,
                                     grace_period=10)
        self.execute(h.lease.address, h.lease.encode_abi("offer", [REENTRANT_MACHINE, self.terms.as_tuple()]))
        self.lease_id = self.terms.lease_id(1)
        self.execute(h.lease.address, h.lease.encode_abi("open", [self.lease_id, 100 * 10**6]))
        opened_at = h.get(self.lease_id)["lastTimestamp"]
        h.submit(h.report(self.lease_id, 0, 0, opened_at + 1, machine=REENTRANT_MACHINE), at=opened_at + 1)
        h.submit(h.report(self.lease_id, 30, 0, opened_at + 60, machine=REENTRANT_MACHINE), at=opened_at + 60)
        self.execute(h.lease.address, h.lease.encode_abi("consentToClose", [self.lease_id]))
        h.next_block_at(opened_at + 70)
        self.execute(h.lease.address, h.lease.encode_abi("close", [self.lease_id]))
        h.next_block_at(opened_at + 90)  # grace period (10 s) over
        assert h.get(self.lease_id)["escrow"] == 70 * 10**6
        assert h.get(self.lease_id)["earnings"] == 30 * 10**6

    def token_tx(self, fn: Any) -> Any:
        return self.h.transact(fn, by=STRANGER)

    def execute(self, target: str, data: str) -> Any:
        return self.token_tx(self.token.functions.execute(target, data))

    def call_data(self, fn: str) -> str:
        args = {"withdrawEarnings": [self.lease_id], "withdrawRefund": [self.lease_id],
                "topUp": [self.lease_id, 5 * 10**6]}[fn]
        return str(self.h.lease.encode_abi(fn, args))

    def balances(self) -> tuple[int, int]:
        fns = self.token.functions
        return fns.balanceOf(self.h.lease.address).call(), fns.balanceOf(self.token.address).call()


OUTER_MOVES = {"withdrawEarnings": 30 * 10**6, "withdrawRefund": 70 * 10**6, "topUp": -5 * 10**6}
"""Tokens each outer call moves from the lease to the party (negative: from the party)."""


@pytest.mark.parametrize("inner", ["withdrawEarnings", "withdrawRefund", "topUp"])
@pytest.mark.parametrize("outer", ["withdrawEarnings", "withdrawRefund", "topUp"])
def test_token_re_entering_on_transfer_drains_nothing(h: LeaseHarness, outer: str, inner: str) -> None:
    attack = Reentrant(h)
    lease_before, party_before = attack.balances()
    attack.token_tx(attack.token.functions.arm(h.lease.address, attack.call_data(inner), False))
    attack.execute(h.lease.address, attack.call_data(outer))

    fns = attack.token.functions
    assert fns.reentries().call() == 1
    assert fns.lastReentrySucceeded().call() is False
    assert bytes(fns.lastReentryResult().call()) == GUARD
    moved = OUTER_MOVES[outer]
    assert attack.balances() == (lease_before - moved, party_before + moved)
    lease = h.get(attack.lease_id)
    escrow, earnings = {"withdrawEarnings": (70 * 10**6, 0), "withdrawRefund": (0, 30 * 10**6),
                        "topUp": (75 * 10**6, 30 * 10**6)}[outer]
    assert (lease["escrow"], lease["earnings"]) == (escrow, earnings)
    assert lease["escrow"] + lease["earnings"] == attack.balances()[0]


def test_token_re_entering_and_bubbling_the_guard_error_fails_the_whole_withdrawal(h: LeaseHarness) -> None:
    attack = Reentrant(h)
    before = attack.balances()
    attack.token_tx(attack.token.functions.arm(h.lease.address, attack.call_data("withdrawEarnings"), True))
    with reverts("ReentrancyGuardReentrantCall"):
        attack.execute(h.lease.address, attack.call_data("withdrawEarnings"))
    assert attack.balances() == before
    assert h.get(attack.lease_id)["earnings"] == 30 * 10**6


def test_every_interface_error_is_asserted_by_a_lease_test(h: LeaseHarness) -> None:
    """Keeps 'every custom error at least once' true as the interface grows."""
    from pathlib import Path

    here = Path(__file__).parent
    sources = "".join(p.read_text() for p in [*here.glob("test_equipment_lease*.py"), here / "test_audit_lease.py"])
    errors = [e["name"] for e in h.session.artifact("IEquipmentLease")["abi"] if e["type"] == "error"]
    missing = [name for name in errors if f'"{name}"' not in sources]
    assert not missing


def test_lease_scenario_end_to_end(h: LeaseHarness) -> None:
    """The scenario tests/integration/test_lease_anvil.py runs on anvil, here on the embedded chain."""
    lease_scenario(h)
