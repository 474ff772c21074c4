"""QualityBonds on the embedded chain: deposits (with and without permit), time-locked terms and withdrawals
at their exact boundaries, claims through every path (accept, dispute, ruling, timeout, withdrawal), every
custom error with its arguments, re-entrancy from a hostile token, and a hypothesis state machine holding the
money invariant: bond balance + paid claims + withdrawals = deposits, nothing negative, locked = open claims.
Spec: docs/contracts/quality.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from millchain.project import Project
from millchain.quality import AlertRef, ClaimStatus, Outcome, QualityClient, Terms, lot_id, product_id
from tests.abi import interface_id
from tests.contracts.test_quality_scenario import (
    AXLE,
    BEARING,
    CAP,
    CONSORTIUM,
    DELAY,
    DEPOSIT,
    GEARBOX,
    INSPECTOR,
    MILL,
    MUSD,
    OEM,
    PENALTY,
    PLANT,
    PLANT_MEMBER,
    STRANGER,
    SUPPLIER,
    SUPPLIER_QC,
    WINDOW,
    World,
    build_lineage,
    fail,
    passed,
    reverts,
    shared_world,
)
from tests.shared_chain import isolated

ZERO = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
OTHER = product_id("seal-kit")



@dataclass(frozen=True)
class Failed:
    """A supplier lot with an independent failure (``ref``) the plant consumed in ``consumer``."""

    ref: AlertRef
    consumer: bytes


def failed_lot(world: World, name: str, defects: int = 14, *, product: bytes = BEARING) -> Failed:
    lot = lot_id(name)
    world(SUPPLIER).register_lot(lot, product, 1000)
    consumer = lot_id(f"{name}-gb")
    world(PLANT).register_lot(consumer, GEARBOX, 10, inputs=[lot])
    ref, _ = world(INSPECTOR).attest(fail(lot, defects))
    return Failed(ref, consumer)


def bond_of(world: World) -> tuple[int, int]:
    bond = world(SUPPLIER).bond(AXLE, BEARING)
    return bond.balance, bond.locked


# ---------------------------------------------------------------------------------------------- deployment


def test_immutables_and_roles(q: World) -> None:
    fns = q.bonds.functions
    assert fns.LEDGER().call() == q.ledger.address
    assert fns.TOKEN().call() == q(CONSORTIUM).token.address
    assert fns.WITHDRAWAL_DELAY().call() == DELAY == 7 * 86400
    assert fns.ARBITER_ROLE().call() == ARBITER_ROLE
    assert fns.hasRole(ARBITER_ROLE, q.address(CONSORTIUM)).call()
    assert not fns.hasRole(ARBITER_ROLE, q.address(PLANT)).call()


# ---------------------------------------------------------------------------------------------- deposits


def test_deposit_pulls_tokens_into_the_bond(q: World) -> None:
    supplier = q(SUPPLIER)
    before = q.balance(SUPPLIER)
    receipt = supplier.deposit(AXLE, BEARING, 500 * MUSD)
    assert q.events(receipt, q.bonds, "BondDeposited") == [
        {"orgId": AXLE, "productId": BEARING, "from": q.address(SUPPLIER), "amount": 500 * MUSD}]
    assert bond_of(q) == (DEPOSIT + 500 * MUSD, 0)
    assert q.balance(SUPPLIER) == before - 500 * MUSD
    assert supplier.balance_of(q.bonds.address) == DEPOSIT + 500 * MUSD


def test_anyone_may_top_up_a_registered_organisations_bond(q: World) -> None:
    q(CONSORTIUM).mint(q.address(STRANGER), 10 * MUSD)
    q(STRANGER).deposit(AXLE, OTHER, 10 * MUSD)
    assert q(STRANGER).bond(AXLE, OTHER).balance == 10 * MUSD


def test_deposit_with_permit_needs_no_approval(q: World) -> None:
    supplier = q(SUPPLIER)
    assert int(supplier.token.functions.allowance(supplier.address, q.bonds.address).call()) == 0
    supplier.deposit_with_permit(AXLE, BEARING, 70 * MUSD)
    assert bond_of(q)[0] == DEPOSIT + 70 * MUSD


def test_a_front_run_permit_does_not_block_the_deposit(q: World) -> None:
    supplier = q(SUPPLIER)
    deadline = q.now() + 3600
    signed = supplier.tx.account.sign_typed_data(full_message=supplier.permit_typed_data(70 * MUSD, deadline))
    r, s = signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    # Someone saw the permit in the mempool and submitted it first.
    q.session.transactor(STRANGER).transact(supplier.token.functions.permit(
        supplier.address, q.bonds.address, 70 * MUSD, deadline, signed.v, r, s))
    supplier.tx.transact(q.bonds.functions.depositWithPermit(AXLE, BEARING, 70 * MUSD, deadline, signed.v, r, s))
    assert bond_of(q)[0] == DEPOSIT + 70 * MUSD


def test_deposit_refusals(q: World) -> None:
    with reverts("QualityBondsZeroAmount"):
        q(SUPPLIER).tx.transact(q.bonds.functions.deposit(AXLE, BEARING, 0))
    with reverts("QualityLedgerUnknownOrganisation", orgId=lot_id("nobody")):
        q(SUPPLIER).deposit(lot_id("nobody"), BEARING, 1)
    with reverts("ERC20InsufficientAllowance", spender=q.bonds.address.lower(), allowance=0, needed=1):
        q(STRANGER).tx.transact(q.bonds.functions.deposit(AXLE, BEARING, 1))
    # A bad permit and no allowance: the transfer decides.
    with reverts("ERC20InsufficientAllowance", spender=q.bonds.address.lower(), allowance=0, needed=5):
        q(STRANGER).tx.transact(q.bonds.functions.depositWithPermit(AXLE, BEARING, 5, q.now() + 10, 27, ZERO, ZERO))


# ---------------------------------------------------------------------------------------------- terms


def test_first_terms_apply_at_once_and_later_changes_wait_the_delay(q: World) -> None:
    supplier = q(SUPPLIER)
    at = q.now() + 10
    receipt = q.at(at, lambda: supplier.set_terms(AXLE, OTHER, Terms(penalty_per_defect=1, claim_cap=2,
                                                                      dispute_window=3)))
    assert q.events(receipt, q.bonds, "TermsSet") == [
        {"orgId": AXLE, "productId": OTHER, "penaltyPerDefect": 1, "claimCap": 2, "disputeWindow": 3,
         "effectiveAt": at}]
    assert supplier.bond(AXLE, OTHER).terms == Terms(penalty_per_defect=1, claim_cap=2, dispute_window=3)

    at += 100
    cheaper = Terms(penalty_per_defect=1, claim_cap=1, dispute_window=60)
    receipt = q.at(at, lambda: supplier.set_terms(AXLE, BEARING, cheaper))
    assert q.events(receipt, q.bonds, "TermsSet")[0]["effectiveAt"] == at + DELAY
    bond = supplier.bond(AXLE, BEARING)
    assert bond.terms == Terms(penalty_per_defect=PENALTY, claim_cap=CAP, dispute_window=WINDOW)
    assert (bond.pending_terms, bond.terms_effective_at) == (cheaper, at + DELAY)

    # A claim is priced on the terms in force when its failure was attested (second review, Q-1): a failure the
    # second before the change on the old terms, however late the claim; one attested at the change, on the new.
    old, new = lot_id("old-terms"), lot_id("new-terms")
    for lot, consumer in ((old, "old-terms-gb"), (new, "new-terms-gb")):
        supplier.register_lot(lot, BEARING, 1000)
        q(PLANT).register_lot(lot_id(consumer), GEARBOX, 10, inputs=[lot])
    old_ref, _ = q.at(at + DELAY - 1, lambda: q(INSPECTOR).attest(fail(old)))
    new_ref, _ = q.at(at + DELAY, lambda: q(INSPECTOR).attest(fail(new)))
    early, _ = q(PLANT).file_claim(old_ref)
    late, _ = q(PLANT).file_claim(new_ref)
    assert (q(PLANT).claim(early).amount, q(PLANT).claim(late).amount) == (14 * PENALTY, 1)
    bond = supplier.bond(AXLE, BEARING)
    assert (bond.terms, bond.terms_effective_at) == (cheaper, 0)


def test_a_newer_change_replaces_the_pending_one_and_restarts_the_delay(q: World) -> None:
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.set_terms(AXLE, BEARING, Terms(penalty_per_defect=1, claim_cap=1,
                                                             dispute_window=1)))
    second = Terms(penalty_per_defect=2, claim_cap=2, dispute_window=2)
    q.at(at + DELAY, lambda: supplier.set_terms(AXLE, BEARING, second))  # the first became due: promoted
    bond = supplier.bond(AXLE, BEARING)
    assert bond.terms == Terms(penalty_per_defect=1, claim_cap=1, dispute_window=1)
    assert (bond.pending_terms, bond.terms_effective_at) == (second, at + 2 * DELAY)


def test_terms_refusals(q: World) -> None:
    with reverts("QualityBondsNotOrganisationAdmin", orgId=AXLE, caller=q.low(PLANT)):
        q(PLANT).set_terms(AXLE, BEARING, Terms(penalty_per_defect=1, claim_cap=1, dispute_window=1))
    for bad in ((0, 1, 1), (1, 0, 1), (1, 1, 0)):
        with reverts("QualityBondsInvalidTerms", penaltyPerDefect=bad[0], claimCap=bad[1], disputeWindow=bad[2]):
            q(SUPPLIER).set_terms(AXLE, BEARING, Terms(penalty_per_defect=bad[0], claim_cap=bad[1],
                                                       dispute_window=bad[2]))


# ---------------------------------------------------------------------------------------------- withdrawals


def test_withdrawal_waits_out_its_time_lock_to_the_second(q: World) -> None:
    supplier = q(SUPPLIER)
    at = q.now() + 10
    receipt = q.at(at, lambda: supplier.request_withdrawal(AXLE, BEARING, 400 * MUSD, q.address(STRANGER)))
    assert q.events(receipt, q.bonds, "WithdrawalRequested") == [
        {"orgId": AXLE, "productId": BEARING, "to": q.address(STRANGER), "amount": 400 * MUSD,
         "unlockAt": at + DELAY}]
    bond = supplier.bond(AXLE, BEARING)
    assert (bond.withdrawal_amount, bond.withdrawal_to, bond.unlock_at) == (400 * MUSD, q.address(STRANGER),
                                                                            at + DELAY)
    with reverts("QualityBondsWithdrawalLocked", orgId=AXLE, productId=BEARING, unlockAt=at + DELAY):
        q.at(at + DELAY - 1, lambda: q.estimating(PLANT).execute_withdrawal(AXLE, BEARING))
    receipt = q.at(at + DELAY, lambda: q(PLANT).execute_withdrawal(AXLE, BEARING))  # anyone executes
    assert q.events(receipt, q.bonds, "BondWithdrawn") == [
        {"orgId": AXLE, "productId": BEARING, "to": q.address(STRANGER), "amount": 400 * MUSD}]
    assert q.balance(STRANGER) == 400 * MUSD
    bond = supplier.bond(AXLE, BEARING)
    assert (bond.balance, bond.withdrawal_amount, bond.unlock_at) == (DEPOSIT - 400 * MUSD, 0, 0)
    with reverts("QualityBondsNoPendingWithdrawal", orgId=AXLE, productId=BEARING):
        q(PLANT).execute_withdrawal(AXLE, BEARING)


def test_a_claim_filed_during_the_time_lock_wins_over_the_withdrawal(q: World) -> None:
    supplier = q(SUPPLIER)
    supplier.request_withdrawal(AXLE, BEARING, DEPOSIT)
    unlock = supplier.bond(AXLE, BEARING).unlock_at
    failed = failed_lot(q, "during-lock")
    q(PLANT).file_claim(failed.ref)
    # Past the unlock and past the freeze the failure started: the locked claim still wins.
    at = max(unlock, supplier.last_independent_fail_at(AXLE) + DELAY)
    with reverts("QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=DEPOSIT - 14 * PENALTY,
                 amount=DEPOSIT):
        q.at(at, lambda: q(STRANGER).execute_withdrawal(AXLE, BEARING))
    receipt = supplier.cancel_withdrawal(AXLE, BEARING)
    assert q.events(receipt, q.bonds, "WithdrawalCancelled") == [
        {"orgId": AXLE, "productId": BEARING, "amount": DEPOSIT}]
    with reverts("QualityBondsNoPendingWithdrawal", orgId=AXLE, productId=BEARING):
        supplier.cancel_withdrawal(AXLE, BEARING)


def test_a_new_request_replaces_the_pending_one_and_restarts_the_clock(q: World) -> None:
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.request_withdrawal(AXLE, BEARING, 100 * MUSD))
    q.at(at + 1000, lambda: supplier.request_withdrawal(AXLE, BEARING, 50 * MUSD))
    bond = supplier.bond(AXLE, BEARING)
    assert (bond.withdrawal_amount, bond.unlock_at) == (50 * MUSD, at + 1000 + DELAY)


def test_withdrawal_refusals(q: World) -> None:
    supplier = q(SUPPLIER)
    with reverts("QualityBondsNotOrganisationAdmin", orgId=AXLE, caller=q.low(PLANT)):
        q(PLANT).request_withdrawal(AXLE, BEARING, 1)
    with reverts("QualityBondsNotOrganisationAdmin", orgId=AXLE, caller=q.low(PLANT)):
        q(PLANT).cancel_withdrawal(AXLE, BEARING)
    with reverts("QualityBondsZeroAmount"):
        supplier.request_withdrawal(AXLE, BEARING, 0)
    with reverts("QualityBondsZeroAddress"):
        supplier.request_withdrawal(AXLE, BEARING, 1, ZERO_ADDRESS)
    with reverts("QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=DEPOSIT,
                 amount=DEPOSIT + 1):
        supplier.request_withdrawal(AXLE, BEARING, DEPOSIT + 1)
    with reverts("QualityBondsNoPendingWithdrawal", orgId=AXLE, productId=OTHER):
        supplier.execute_withdrawal(AXLE, OTHER)
    with reverts("QualityLedgerUnknownOrganisation", orgId=lot_id("nobody")):
        supplier.request_withdrawal(lot_id("nobody"), BEARING, 1)


# ---------------------------------------------------------------------------------------------- filing


def test_file_claim_locks_the_amount_from_the_terms(q: World) -> None:
    failed = failed_lot(q, "claimed", 14)
    at = q.now() + 5
    claim_id, receipt = q.at(at, lambda: q(PLANT_MEMBER).file_claim(failed.ref))
    assert q.events(receipt, q.bonds, "ClaimFiled") == [{
        "claimId": 1, "lotId": failed.ref.lot, "claimant": MILL, "seq": 1, "supplier": AXLE, "productId": BEARING,
        "amount": 14 * PENALTY, "deadline": at + WINDOW}]
    claim = q(PLANT).claim(claim_id)
    assert (claim.lot_id, claim.seq, claim.supplier, claim.product_id, claim.claimant, claim.consumer_lot,
            claim.amount, claim.paid, claim.filed_at, claim.deadline, claim.status) == (
        "claimed", 1, "axle-supply", "bearing-6204", "mill-plant", "claimed-gb", 14 * PENALTY, 0, at,
        at + WINDOW, ClaimStatus.FILED)
    assert bond_of(q) == (DEPOSIT, 14 * PENALTY)
    assert q.bonds.functions.claimOf(failed.ref.lot, MILL).call() == 1
    assert q.bonds.functions.claimCount().call() == 1


def test_claim_amount_is_capped_by_the_terms_and_by_the_free_bond(q: World) -> None:
    big = failed_lot(q, "big", 100)  # 100 x 25 = 2500 > cap 2000
    first, _ = q(PLANT).file_claim(big.ref)
    assert q(PLANT).claim(first).amount == CAP
    # Drain the free balance through accepted claims on other lots.
    for n in range(3):
        claim_id, _ = q(PLANT).file_claim(failed_lot(q, f"drain-{n}", 100).ref)
        q(SUPPLIER).accept_claim(claim_id)
    balance, locked = bond_of(q)
    free = balance - locked
    assert free == DEPOSIT - 4 * CAP
    last, _ = q(PLANT).file_claim(failed_lot(q, "last", 100).ref)
    assert q(PLANT).claim(last).amount == free
    with reverts("QualityBondsNothingToClaim", lotId=lot_id("empty"), seq=1, computed=CAP, free=0):
        q(PLANT).file_claim(failed_lot(q, "empty", 100).ref)


def test_a_failure_without_defects_claims_nothing(q: World) -> None:
    failed = failed_lot(q, "zero", 0)
    with reverts("QualityBondsNothingToClaim", lotId=failed.ref.lot, seq=1, computed=0, free=DEPOSIT):
        q(PLANT).file_claim(failed.ref)


def test_only_an_independent_current_failure_backs_a_claim(q: World) -> None:
    lineage = build_lineage(q)
    plant = q(PLANT)
    q(SUPPLIER_QC).attest(fail(lineage.bearings, 5))  # the supplier's own inspector
    with reverts("QualityBondsAttestationNotIndependent", lotId=lineage.bearings, seq=1, orgId=AXLE):
        plant.file_claim(AlertRef(lineage.bearings, 1))
    q(INSPECTOR).attest(passed(lineage.bearings))
    with reverts("QualityBondsNotAFailure", lotId=lineage.bearings, seq=2, outcome=Outcome.PASS):
        plant.file_claim(AlertRef(lineage.bearings, 2))
    q(INSPECTOR).raise_alert(lineage.bearings, 3)
    with reverts("QualityBondsNotAFailure", lotId=lineage.bearings, seq=3, outcome=Outcome.NONE):
        plant.file_claim(AlertRef(lineage.bearings, 3))
    q(INSPECTOR).attest(fail(lineage.bearings, 9))
    q(INSPECTOR).attest(fail(lineage.bearings, 8, supersedes=4))
    with reverts("QualityBondsAttestationSuperseded", lotId=lineage.bearings, seq=4, supersededBy=5):
        plant.file_claim(AlertRef(lineage.bearings, 4))
    with reverts("QualityLedgerUnknownAttestation", lotId=lineage.bearings, seq=9):
        plant.file_claim(AlertRef(lineage.bearings, 9))
    claim_id, _ = plant.file_claim(AlertRef(lineage.bearings, 5))
    assert plant.claim(claim_id).amount == 8 * PENALTY


def test_only_a_direct_buyer_claims_with_a_proven_consumer_lot(q: World) -> None:
    lineage = build_lineage(q)
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    bonds, tx = q.bonds.functions, q.session.transactor(PLANT)
    gearboxes = q(PLANT).lot_event(lineage.gearboxes)
    # Not a member of any organisation.
    with reverts("QualityBondsNotMember", orgId=ZERO, caller=q.low(STRANGER)):
        q.session.transactor(STRANGER).transact(bonds.fileClaim(ref.lot, 1, lineage.gearboxes, ZERO, []))
    # The supplier against its own lot.
    with reverts("QualityBondsClaimAgainstOwnLot", lotId=ref.lot, orgId=AXLE):
        q.session.transactor(SUPPLIER).transact(bonds.fileClaim(ref.lot, 1, lineage.gearboxes, ZERO, []))
    # Someone else's consumer lot.
    with reverts("QualityBondsNotLotProducer", lotId=lineage.tractors, orgId=MILL):
        tx.transact(bonds.fileClaim(ref.lot, 1, lineage.tractors, ZERO, [lineage.gearboxes]))
    # Inputs or commitment that are not the consumer lot's.
    with reverts("QualityBondsLineageMismatch", lotId=lineage.gearboxes):
        tx.transact(bonds.fileClaim(ref.lot, 1, lineage.gearboxes, gearboxes.data_commitment, [ref.lot]))
    with reverts("QualityBondsLineageMismatch", lotId=lineage.gearboxes):
        tx.transact(bonds.fileClaim(ref.lot, 1, lineage.gearboxes, b"\x01" * 32, list(gearboxes.inputs)))
    # A consumer lot that did not consume the claimed lot.
    with reverts("QualityBondsLotNotConsumed", consumerLot=lineage.housings, lotId=ref.lot):
        q(PLANT).file_claim(ref, lineage.housings)
    # The OEM is downstream but not a direct buyer: its tractors consumed gearboxes, not bearings.
    with reverts("QualityBondsLotNotConsumed", consumerLot=lineage.tractors, lotId=ref.lot):
        q(OEM).file_claim(ref, lineage.tractors)
    with pytest.raises(Exception, match="registered no lot consuming bearings-1 directly"):
        q(OEM).file_claim(ref)
    with reverts("QualityLedgerUnknownLot", lotId=lot_id("nowhere")):
        tx.transact(bonds.fileClaim(lot_id("nowhere"), 1, lineage.gearboxes, ZERO, []))
    claim_id, _ = q(PLANT).file_claim(ref)  # found from the lineage
    assert q(PLANT).claim(claim_id).consumer_lot == "gearboxes-1"


def test_one_claim_per_buyer_and_lot_until_withdrawn(q: World) -> None:
    failed = failed_lot(q, "dup")
    first, _ = q(PLANT).file_claim(failed.ref)
    with reverts("QualityBondsDuplicateClaim", lotId=failed.ref.lot, orgId=MILL, claimId=first):
        q(PLANT_MEMBER).file_claim(failed.ref)
    q(INSPECTOR).attest(fail(failed.ref.lot, 3))  # a second failure of the same lot is no second claim
    with reverts("QualityBondsDuplicateClaim", lotId=failed.ref.lot, orgId=MILL, claimId=first):
        q(PLANT).file_claim(AlertRef(failed.ref.lot, 2))
    q(PLANT).withdraw_claim(first)
    second, _ = q(PLANT).file_claim(AlertRef(failed.ref.lot, 2))
    assert (second, q(PLANT).claim(second).amount) == (2, 3 * PENALTY)


def test_a_product_without_terms_cannot_be_claimed_on(q: World) -> None:
    failed = failed_lot(q, "seals", product=OTHER)
    with reverts("QualityBondsNoTerms", orgId=AXLE, productId=OTHER):
        q(PLANT).file_claim(failed.ref)


# ---------------------------------------------------------------------------------------------- resolving


def test_accepted_claim_is_paid_at_once_to_the_claimants_admin_of_the_day(q: World) -> None:
    failed = failed_lot(q, "accepted")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    q(PLANT).transfer_organisation_admin(MILL, q.address(PLANT_MEMBER))  # payouts follow the admin
    before = q.balance(PLANT_MEMBER)
    receipt = q(SUPPLIER).accept_claim(claim_id)
    assert q.events(receipt, q.bonds, "ClaimPaid") == [
        {"claimId": claim_id, "to": q.address(PLANT_MEMBER), "amount": 14 * PENALTY}]
    assert q.balance(PLANT_MEMBER) - before == 14 * PENALTY
    claim = q(PLANT).claim(claim_id)
    assert (claim.status, claim.paid) == (ClaimStatus.PAID, 14 * PENALTY)
    assert bond_of(q) == (DEPOSIT - 14 * PENALTY, 0)
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.PAID):
        q(SUPPLIER).accept_claim(claim_id)


def test_dispute_within_the_window_then_accept_or_rule(q: World) -> None:
    failed = failed_lot(q, "disputed", 20)  # 500 mUSD
    at = q.now() + 5
    claim_id, _ = q.at(at, lambda: q(PLANT).file_claim(failed.ref))
    receipt = q.at(at + WINDOW - 1, lambda: q(SUPPLIER).dispute_claim(claim_id, b"\x0d" * 32))
    assert q.events(receipt, q.bonds, "ClaimDisputed") == [
        {"claimId": claim_id, "by": q.address(SUPPLIER), "reasonCommitment": b"\x0d" * 32}]
    assert q(PLANT).claim(claim_id).status == ClaimStatus.DISPUTED
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.DISPUTED):
        q(SUPPLIER).dispute_claim(claim_id)
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.DISPUTED):
        q(STRANGER).execute_claim(claim_id)
    before = q.balance(PLANT)
    receipt = q(CONSORTIUM).rule_claim(claim_id, 120 * MUSD, b"\x0f" * 32)
    assert q.events(receipt, q.bonds, "ClaimRuled") == [
        {"claimId": claim_id, "arbiter": q.address(CONSORTIUM), "awarded": 120 * MUSD,
         "rulingCommitment": b"\x0f" * 32}]
    assert q.events(receipt, q.bonds, "ClaimPaid") == [
        {"claimId": claim_id, "to": q.address(PLANT), "amount": 120 * MUSD}]
    assert q.balance(PLANT) - before == 120 * MUSD
    assert bond_of(q) == (DEPOSIT - 120 * MUSD, 0)  # the rest of the 500 is released
    assert (q(PLANT).claim(claim_id).status, q(PLANT).claim(claim_id).paid) == (ClaimStatus.PAID, 120 * MUSD)

    # The supplier may still accept a claim it disputed.
    other = failed_lot(q, "disputed-2", 2)
    second, _ = q(PLANT).file_claim(other.ref)
    q(SUPPLIER).dispute_claim(second)
    q(SUPPLIER).accept_claim(second)
    assert q(PLANT).claim(second).paid == 2 * PENALTY

    # From the deadline on, the supplier can no longer dispute.
    late = failed_lot(q, "disputed-3", 2)
    third, _ = q(PLANT).file_claim(late.ref)
    deadline = q(PLANT).claim(third).deadline
    with reverts("QualityBondsDisputeWindowClosed", claimId=third, deadline=deadline):
        q.at(deadline, lambda: q.estimating(SUPPLIER).dispute_claim(third))


def test_a_ruling_of_zero_rejects_and_releases_the_whole_amount(q: World) -> None:
    failed = failed_lot(q, "rejected")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    q(SUPPLIER).dispute_claim(claim_id)
    before = q.balance(PLANT)
    receipt = q(CONSORTIUM).rule_claim(claim_id, 0)
    assert q.events(receipt, q.bonds, "ClaimPaid") == []
    assert q.events(receipt, q.bonds, "ClaimRuled")[0]["awarded"] == 0
    assert q(PLANT).claim(claim_id).status == ClaimStatus.REJECTED
    assert q.balance(PLANT) == before
    assert bond_of(q) == (DEPOSIT, 0)
    with reverts("QualityBondsDuplicateClaim", lotId=failed.ref.lot, orgId=MILL, claimId=claim_id):
        q(PLANT).file_claim(failed.ref)  # a rejected claim is final


def test_ruling_refusals(q: World) -> None:
    failed = failed_lot(q, "rule")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.FILED):
        q(CONSORTIUM).rule_claim(claim_id, 1)
    q(SUPPLIER).dispute_claim(claim_id)
    with reverts("AccessControlUnauthorizedAccount", account=q.low(PLANT), neededRole=ARBITER_ROLE):
        q(PLANT).rule_claim(claim_id, 1)
    with reverts("QualityBondsAwardExceedsClaim", claimId=claim_id, awarded=14 * PENALTY + 1, amount=14 * PENALTY):
        q(CONSORTIUM).rule_claim(claim_id, 14 * PENALTY + 1)


def test_an_undisputed_claim_is_paid_by_anyone_once_the_window_has_passed(q: World) -> None:
    failed = failed_lot(q, "timeout")
    at = q.now() + 5
    claim_id, _ = q.at(at, lambda: q(PLANT).file_claim(failed.ref))
    with reverts("QualityBondsDisputeWindowOpen", claimId=claim_id, deadline=at + WINDOW):
        q.at(at + WINDOW - 1, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    before = q.balance(PLANT)
    receipt = q.at(at + WINDOW, lambda: q(STRANGER).execute_claim(claim_id))
    assert q.events(receipt, q.bonds, "ClaimPaid") == [
        {"claimId": claim_id, "to": q.address(PLANT), "amount": 14 * PENALTY}]
    assert q.balance(PLANT) - before == 14 * PENALTY
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.PAID):
        q(STRANGER).execute_claim(claim_id)


def test_a_claim_on_a_corrected_failure_lapses_after_its_window_without_the_claimant(q: World) -> None:
    """Issue 11 item 2: a claim whose failure was corrected after the dispute window locked the bond for good
    (executeClaim reverted, disputeClaim was too late, ruleClaim needs Disputed) unless the claimant withdrew.
    Bound: anyone closes it unpaid once its window has passed; the supplier never needs the claimant."""
    failed = failed_lot(q, "corrected")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    q(INSPECTOR).attest(passed(failed.ref.lot, supersedes=1))
    deadline = q(PLANT).claim(claim_id).deadline
    with reverts("QualityBondsDisputeWindowOpen", claimId=claim_id, deadline=deadline):
        q.at(deadline - 1, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    before = q.balance(PLANT)
    receipt = q.at(deadline, lambda: q(SUPPLIER_QC).execute_claim(claim_id))  # anyone, the supplier's side too
    assert q.events(receipt, q.bonds, "ClaimLapsed") == [{"claimId": claim_id, "supersededBy": 2}]
    assert q.events(receipt, q.bonds, "ClaimPaid") == []
    assert q(PLANT).claim(claim_id).status == ClaimStatus.LAPSED
    assert bond_of(q) == (DEPOSIT, 0) and q.balance(PLANT) == before
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.LAPSED):
        q(STRANGER).execute_claim(claim_id)


def test_a_claim_moves_onto_a_corrected_failure_without_unlocking_its_amount(q: World) -> None:
    """Issue 11 item 2, the other half: when the laboratory corrects a Fail with another Fail, the claimant files
    on the correction and its first claim lapses in the same transaction, so the supplier never sees the amount
    free in between (it cannot withdraw it), and the claim does not depend on the supplier's goodwill."""
    failed = failed_lot(q, "recounted")
    first, _ = q(PLANT).file_claim(failed.ref)
    q(INSPECTOR).attest(fail(failed.ref.lot, 12, supersedes=1))
    second, receipt = q(PLANT).file_claim(AlertRef(failed.ref.lot, 2), failed.consumer)
    assert q.events(receipt, q.bonds, "ClaimLapsed") == [{"claimId": first, "supersededBy": 2}]
    assert [e["amount"] for e in q.events(receipt, q.bonds, "ClaimFiled")] == [12 * PENALTY]
    assert (q(PLANT).claim(first).status, q(PLANT).claim(second).status) == (ClaimStatus.LAPSED, ClaimStatus.FILED)
    assert bond_of(q) == (DEPOSIT, 12 * PENALTY)
    # A claim still backed by its (current) failure is not replaced: that would be a duplicate.
    with reverts("QualityBondsDuplicateClaim", lotId=failed.ref.lot, orgId=MILL, claimId=second):
        q(PLANT).file_claim(AlertRef(failed.ref.lot, 2), failed.consumer)


# ---------------------------------------------------------------------------------------------- withdrawal freeze


def test_a_pre_armed_withdrawal_cannot_drain_the_bond_after_a_failure(q: World) -> None:
    """Issue 11 item 4: a supplier requested a full withdrawal long before, and executed it in the block after an
    independent Fail, before any claim could be filed. Bound: no withdrawal executes within WITHDRAWAL_DELAY of
    the supplier's latest independent Fail; a claim filed in that time locks its amount first."""
    supplier = q(SUPPLIER)
    supplier.request_withdrawal(AXLE, BEARING, DEPOSIT)
    unlock = supplier.bond(AXLE, BEARING).unlock_at
    q.next_block_at(unlock + 100)
    failed = failed_lot(q, "armed")
    failed_at = supplier.last_independent_fail_at(AXLE)
    assert failed_at >= unlock + 100
    with reverts("QualityBondsWithdrawalFrozen", orgId=AXLE, productId=BEARING, frozenUntil=failed_at + DELAY):
        supplier.execute_withdrawal(AXLE, BEARING)
    q(PLANT).file_claim(failed.ref)
    assert bond_of(q) == (DEPOSIT, 14 * PENALTY)


def test_a_withdrawal_request_expires_after_its_execution_window(q: World) -> None:
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.request_withdrawal(AXLE, BEARING, 100 * MUSD))
    with reverts("QualityBondsWithdrawalExpired", orgId=AXLE, productId=BEARING, expiredAt=at + 2 * DELAY):
        q.at(at + 2 * DELAY, lambda: q.estimating(STRANGER).execute_withdrawal(AXLE, BEARING))
    again = at + 2 * DELAY + 5
    q.at(again, lambda: supplier.request_withdrawal(AXLE, BEARING, 100 * MUSD))  # the supplier asks again
    receipt = q.at(again + 2 * DELAY - 1, lambda: q(STRANGER).execute_withdrawal(AXLE, BEARING))  # last second
    assert q.events(receipt, q.bonds, "BondWithdrawn")[0]["amount"] == 100 * MUSD


def test_a_zero_withdrawal_delay_is_refused_at_deployment(q: World) -> None:
    """Auditor pass (issue 11): the delay is also the execution window, so a zero delay would have left every
    bond with no second in which a withdrawal could execute."""
    from tests.contracts.test_quality_ledger import deploy

    with reverts("QualityBondsZeroWithdrawalDelay"):
        deploy(q, "QualityBonds", q.address(CONSORTIUM), q.ledger.address, q(CONSORTIUM).token.address, 0)
    assert deploy(q, "QualityBonds", q.address(CONSORTIUM), q.ledger.address, q(CONSORTIUM).token.address,
                  1).functions.WITHDRAWAL_DELAY().call() == 1


def test_only_a_new_independent_failure_starts_the_freeze(q: World) -> None:
    supplier = q(SUPPLIER)
    lot = lot_id("freeze-clock")
    supplier.register_lot(lot, BEARING, 1000)
    q(SUPPLIER_QC).attest(fail(lot))  # the supplier's own QC: not independent
    assert supplier.last_independent_fail_at(AXLE) == 0
    q(INSPECTOR).attest(passed(lot))
    assert supplier.last_independent_fail_at(AXLE) == 0
    _, receipt = q.at(q.now() + 10, lambda: q(INSPECTOR).attest(fail(lot)))
    first = q.block_time(receipt)
    assert supplier.last_independent_fail_at(AXLE) == first
    q.at(first + 50, lambda: q(INSPECTOR).attest(fail(lot, 9, supersedes=3)))  # only recounts the failure
    assert supplier.last_independent_fail_at(AXLE) == first
    _, receipt = q.at(first + 60, lambda: q(INSPECTOR).attest(fail(lot, 3, supersedes=2)))  # a Pass turned Fail
    assert supplier.last_independent_fail_at(AXLE) == q.block_time(receipt) == first + 60


def test_withdraw_claim_by_the_claimant_only(q: World) -> None:
    failed = failed_lot(q, "withdrawn")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    with reverts("QualityBondsNotMember", orgId=MILL, caller=q.low(SUPPLIER)):
        q(SUPPLIER).withdraw_claim(claim_id)
    receipt = q(PLANT_MEMBER).withdraw_claim(claim_id)
    assert q.events(receipt, q.bonds, "ClaimWithdrawn") == [{"claimId": claim_id, "by": q.address(PLANT_MEMBER)}]
    assert q(PLANT).claim(claim_id).status == ClaimStatus.WITHDRAWN
    assert bond_of(q) == (DEPOSIT, 0)
    with reverts("QualityBondsUnexpectedClaimStatus", claimId=claim_id, status=ClaimStatus.WITHDRAWN):
        q(PLANT).withdraw_claim(claim_id)


def test_who_may_resolve_a_claim(q: World) -> None:
    failed = failed_lot(q, "who")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    with reverts("QualityBondsNotOrganisationAdmin", orgId=AXLE, caller=q.low(PLANT)):
        q(PLANT).accept_claim(claim_id)
    with reverts("QualityBondsNotMember", orgId=AXLE, caller=q.low(PLANT)):
        q(PLANT).dispute_claim(claim_id)


def test_unknown_claims(q: World) -> None:
    for call in ("accept_claim", "execute_claim", "withdraw_claim", "claim"):
        with reverts("QualityBondsUnknownClaim", claimId=7):
            getattr(q(SUPPLIER), call)(7)
    with reverts("QualityBondsUnknownClaim", claimId=7):
        q(SUPPLIER).dispute_claim(7)
    with reverts("QualityBondsUnknownClaim", claimId=7):
        q(CONSORTIUM).rule_claim(7, 0)


# ---------------------------------------------------------------------------------------------- re-entrancy


def test_a_hostile_token_cannot_reenter_a_payout(q: World) -> None:
    """A token that calls back into the bonds contract while it pays (an ERC-777-style hook) is stopped by the
    guard on every paying function; nothing moves."""
    from tests.contracts.test_quality_ledger import deploy

    token = deploy(q, "ReentrantToken")
    bonds = deploy(q, "QualityBonds", q.address(CONSORTIUM), q.ledger.address, token.address, DELAY)

    def client(index: int) -> QualityClient:
        c = QualityClient(q.session, index, gas=q.gas)
        c.bonds, c._token = bonds, token
        return c

    supplier, plant = client(SUPPLIER), client(PLANT)
    supplier.tx.transact(token.functions.mint(q.address(SUPPLIER), DEPOSIT))
    supplier.set_terms(AXLE, BEARING, Terms(penalty_per_defect=PENALTY, claim_cap=CAP, dispute_window=WINDOW))
    supplier.deposit(AXLE, BEARING, DEPOSIT)
    supplier.request_withdrawal(AXLE, BEARING, 100 * MUSD)
    claim_id, _ = plant.file_claim(failed_lot(q, "hostile").ref)

    arm = q.session.transactor(STRANGER)
    arm.transact(token.functions.arm(bonds.address, bonds.encode_abi("executeWithdrawal", [AXLE, BEARING]), True))
    with reverts("ReentrancyGuardReentrantCall"):
        supplier.accept_claim(claim_id)
    arm.transact(token.functions.arm(bonds.address, bonds.encode_abi("acceptClaim", [claim_id]), True))
    q.next_block_at(max(supplier.bond(AXLE, BEARING).unlock_at, q(PLANT).last_independent_fail_at(AXLE) + DELAY))
    with reverts("ReentrancyGuardReentrantCall"):
        supplier.execute_withdrawal(AXLE, BEARING)
    assert (supplier.bond(AXLE, BEARING).balance, int(token.functions.balanceOf(bonds.address).call())) == (
        DEPOSIT, DEPOSIT)
    # Disarmed, both go through.
    arm.transact(token.functions.arm(ZERO_ADDRESS, b"", True))
    supplier.accept_claim(claim_id)
    supplier.execute_withdrawal(AXLE, BEARING)
    assert int(token.functions.balanceOf(bonds.address).call()) == DEPOSIT - 14 * PENALTY - 100 * MUSD


def test_supports_bonds_access_control_and_erc165_interfaces(q: World) -> None:
    assert q.bonds.functions.supportsInterface(interface_id(q.session.artifact("IQualityBonds")["abi"])).call()
    assert q.bonds.functions.supportsInterface(bytes.fromhex("7965db0b")).call()
    assert not q.bonds.functions.supportsInterface(bytes.fromhex("ffffffff")).call()


# ---------------------------------------------------------------------------------------------- invariants


@dataclass
class Model:
    """What the bond should hold, from the test's own bookkeeping."""

    clock: int
    balance: int = DEPOSIT
    deposits: int = DEPOSIT
    paid: int = 0
    withdrawn: int = 0
    claims: dict[int, dict[str, Any]] = field(default_factory=dict)
    withdrawal: tuple[int, int] | None = None  # (amount, unlockAt)
    failed_at: int = 0  # the supplier's latest independent Fail that was not a mere recount

    @property
    def locked(self) -> int:
        return sum(c["amount"] for c in self.claims.values() if c["status"] in (ClaimStatus.FILED,
                                                                                  ClaimStatus.DISPUTED))


MAX_HOPS = 8
"""QualityBonds.MAX_CORRECTION_HOPS (asserted against the contract in the state machine's test)."""
POOL = 12
POOL_DEFECTS = (7, 100, 0, 1, 40, 100)
"""Defects of the pool's failures: small, over the cap (100 x 25 > 2000), none."""


def test_bond_balance_paid_claims_and_withdrawals_always_add_up_to_deposits(compiled: Project) -> None:
    with isolated(shared_world(compiled)) as world:
        supplier = world(SUPPLIER)
        assert supplier.bonds.functions.MAX_CORRECTION_HOPS().call() == MAX_HOPS
        world(CONSORTIUM).mint(world.address(SUPPLIER), 100 * DEPOSIT)
        world(CONSORTIUM).tx.transact(world.bonds.functions.grantRole(ARBITER_ROLE, world.address(STRANGER)))
        supplier.tx.transact(supplier.token.functions.approve(world.bonds.address, 2**255))
        lots = [lot_id(f"pool-{n}") for n in range(POOL)]
        defects = [POOL_DEFECTS[n % len(POOL_DEFECTS)] for n in range(POOL)]
        for lot, count in zip(lots, defects, strict=True):
            supplier.register_lot(lot, BEARING, 1000)
            world(PLANT).register_lot(lot_id(f"{label(lot)}-gb"), GEARBOX, 10, inputs=[lot])
            world(INSPECTOR).attest(fail(lot, count))
        pool = world.session.chain.tester.take_snapshot()
        start = world.now()
        pool_failed_at = supplier.last_independent_fail_at(AXLE)

        class Bonds(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                world.session.chain.tester.revert_to_snapshot(pool)
                self.model = Model(clock=max(start, world.now()), failed_at=pool_failed_at)
                # Each pool lot's current record: (seq, outcome, defects); the lab may correct it (see correct).
                self.records = {n: (1, Outcome.FAIL, defects[n]) for n in range(POOL)}
                self.claim_of: dict[int, int] = {}  # pool lot -> the plant's latest claim on it
                # Each pool lot's corrections in order: (seq, outcome, attestedAt); what a recount's hold dates from.
                self.corrections: dict[int, list[tuple[int, Outcome, int]]] = {n: [] for n in range(POOL)}

            def tick(self) -> int:
                """The time of the next transaction: a second after the last, and never behind the embedded
                chain's own clock (its pending block follows the wall clock)."""
                self.model.clock = max(self.model.clock + 1, world.now())
                return self.model.clock

            def send(self, fn: Any, *, fails: str | None = None, **args: Any) -> Any:
                """One transaction at the model's clock; ``fails``: the error the model predicts."""
                world.next_block_at(self.model.clock)
                if fails is None:
                    return fn(world)
                with reverts(fails, **args):
                    fn(EstimatingWorld(world))
                return None

            @rule(amount=st.integers(min_value=1, max_value=3_000).map(lambda a: a * MUSD))
            def deposit(self, amount: int) -> None:
                self.tick()
                self.send(lambda w: w(SUPPLIER).tx.transact(w.bonds.functions.deposit(AXLE, BEARING, amount)))
                self.model.balance += amount
                self.model.deposits += amount

            def fileable(self) -> list[int]:
                """Pool lots the plant may claim on now: a current Fail, and no claim that still stands on it
                (none, withdrawn, lapsed, or filed on a failure since corrected: that one moves)."""
                out = []
                for n, (seq, outcome, _) in self.records.items():
                    previous = self.model.claims.get(self.claim_of.get(n, 0))
                    moves = previous is not None and previous["status"] == ClaimStatus.FILED and previous["seq"] != seq
                    if outcome == Outcome.FAIL and (previous is None or moves or previous["status"] in (
                            ClaimStatus.WITHDRAWN, ClaimStatus.LAPSED)):
                        out.append(n)
                return out

            @precondition(lambda self: bool(self.fileable()))
            @rule(data=st.data())
            def file(self, data: st.DataObject) -> None:
                index = data.draw(st.sampled_from(self.fileable()))
                seq, _, count = self.records[index]
                self.tick()
                previous_id = self.claim_of.get(index, 0)
                previous = self.model.claims.get(previous_id)
                lapses = previous is not None and previous["status"] == ClaimStatus.FILED
                computed = min(count * PENALTY, CAP)
                free = self.model.balance - self.model.locked + (previous["amount"] if lapses else 0)
                amount = min(computed, free)
                ref = AlertRef(lots[index], seq)
                # The consumer lot's lineage is known here: no log scan (eth-tester's get_logs reads every block).
                consumer = (lot_id(f"{label(ref.lot)}-gb"), (ZERO, [ref.lot]))
                if amount == 0:
                    self.send(lambda w: w(PLANT).file_claim(ref, consumer[0], consumer_lineage=consumer[1]),
                              fails="QualityBondsNothingToClaim", lotId=ref.lot, seq=seq, computed=computed,
                              free=free)
                    return
                claim_id, _ = self.send(lambda w: w(PLANT).file_claim(ref, consumer[0], consumer_lineage=consumer[1]))
                if lapses:
                    previous["status"] = ClaimStatus.LAPSED
                self.claim_of[index] = claim_id
                self.model.claims[claim_id] = {"amount": amount, "status": ClaimStatus.FILED, "lot": index,
                                               "seq": seq, "deadline": self.model.clock + WINDOW}

            @rule(data=st.data(), verdict=st.sampled_from([Outcome.PASS, Outcome.FAIL]),
                  count=st.sampled_from(POOL_DEFECTS))
            def correct(self, data: st.DataObject, verdict: Outcome, count: int) -> None:
                """The laboratory (an actor the supplier may court) corrects a lot's current record, any time."""
                index = data.draw(st.sampled_from(sorted(self.records)))
                seq, outcome, _ = self.records[index]
                self.tick()
                finding = fail(lots[index], count, supersedes=seq) if verdict == Outcome.FAIL else passed(
                    lots[index], supersedes=seq)
                ref, _ = self.send(lambda w: w(INSPECTOR).attest(finding))
                self.records[index] = (ref.seq, verdict, count if verdict == Outcome.FAIL else 0)
                self.corrections[index].append((ref.seq, verdict, self.model.clock))
                if verdict == Outcome.FAIL and outcome != Outcome.FAIL:
                    self.model.failed_at = self.model.clock  # a new failure, not a recount: claimants' time

            def open_claim(self, data: st.DataObject, *statuses: ClaimStatus) -> int | None:
                ids = [i for i, c in self.model.claims.items() if c["status"] in statuses]
                return data.draw(st.sampled_from(ids)) if ids else None

            def settle(self, claim_id: int, payout: int) -> None:
                claim = self.model.claims[claim_id]
                claim["status"] = ClaimStatus.PAID if payout else ClaimStatus.REJECTED
                self.model.balance -= payout
                self.model.paid += payout

            @rule(data=st.data())
            def accept(self, data: st.DataObject) -> None:
                claim_id = self.open_claim(data, ClaimStatus.FILED, ClaimStatus.DISPUTED)
                if claim_id is not None:
                    self.tick()
                    self.send(lambda w: w(SUPPLIER).accept_claim(claim_id))
                    self.settle(claim_id, self.model.claims[claim_id]["amount"])

            @rule(data=st.data())
            def dispute(self, data: st.DataObject) -> None:
                claim_id = self.open_claim(data, ClaimStatus.FILED)
                if claim_id is None:
                    return
                deadline = self.model.claims[claim_id]["deadline"]
                if self.tick() >= deadline:
                    self.send(lambda w: w(SUPPLIER).dispute_claim(claim_id), fails="QualityBondsDisputeWindowClosed",
                              claimId=claim_id, deadline=deadline)
                    return
                self.send(lambda w: w(SUPPLIER).dispute_claim(claim_id))
                self.model.claims[claim_id]["status"] = ClaimStatus.DISPUTED

            @rule(data=st.data(), percent=st.integers(min_value=0, max_value=100))
            def rule_on(self, data: st.DataObject, percent: int) -> None:
                claim_id = self.open_claim(data, ClaimStatus.DISPUTED)
                if claim_id is not None:
                    award = self.model.claims[claim_id]["amount"] * percent // 100
                    self.tick()
                    self.send(lambda w: w(STRANGER).rule_claim(claim_id, award))
                    self.settle(claim_id, award)

            @rule(data=st.data())
            def execute(self, data: st.DataObject) -> None:
                claim_id = self.open_claim(data, ClaimStatus.FILED)
                if claim_id is None:
                    return
                deadline = self.model.claims[claim_id]["deadline"]
                if self.tick() < deadline:
                    self.send(lambda w: w(STRANGER).execute_claim(claim_id), fails="QualityBondsDisputeWindowOpen",
                              claimId=claim_id, deadline=deadline)
                    return
                lapses_at = self.lapses_at(claim_id)
                if self.model.clock < lapses_at:
                    self.send(lambda w: w(STRANGER).execute_claim(claim_id), fails="QualityBondsCorrectionPending",
                              claimId=claim_id, lapsesAt=lapses_at)
                    return
                self.send(lambda w: w(STRANGER).execute_claim(claim_id))
                self.close_after_window(claim_id)

            def lapses_at(self, claim_id: int) -> int:
                """When a filed claim whose basis was corrected may lapse (0: at once, or not corrected): a chain of
                corrections ending in a current Fail (a recount) holds it WITHDRAWAL_DELAY after its latest record;
                past MAX_CORRECTION_HOPS records the last one the contract reads dates it."""
                claim = self.model.claims[claim_id]
                later = [c for c in self.corrections[claim["lot"]] if c[0] > claim["seq"]]
                if not later:
                    return 0
                if len(later) > MAX_HOPS:
                    return later[MAX_HOPS - 1][2] + DELAY
                _, outcome, at = later[-1]
                return at + DELAY if outcome == Outcome.FAIL else 0

            def close_after_window(self, claim_id: int) -> None:
                """What executeClaim did: pay a claim whose failure stands, lapse one whose failure was corrected."""
                claim = self.model.claims[claim_id]
                if self.records[claim["lot"]][0] == claim["seq"]:
                    self.settle(claim_id, claim["amount"])
                else:
                    claim["status"] = ClaimStatus.LAPSED

            @rule(data=st.data())
            def withdraw_claim(self, data: st.DataObject) -> None:
                claim_id = self.open_claim(data, ClaimStatus.FILED, ClaimStatus.DISPUTED)
                if claim_id is not None:
                    self.tick()
                    self.send(lambda w: w(PLANT).withdraw_claim(claim_id))
                    self.model.claims[claim_id]["status"] = ClaimStatus.WITHDRAWN

            @rule(seconds=st.sampled_from([3600, WINDOW // 2, WINDOW, DELAY]))
            def wait(self, seconds: int) -> None:
                self.model.clock += seconds - 1  # the next transaction lands `seconds` after the last

            @rule(amount=st.integers(min_value=1, max_value=15_000).map(lambda a: a * MUSD))
            def request_withdrawal(self, amount: int) -> None:
                self.tick()
                free = self.model.balance - self.model.locked
                if amount > free:
                    self.send(lambda w: w(SUPPLIER).request_withdrawal(AXLE, BEARING, amount),
                              fails="QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=free,
                              amount=amount)
                    return
                self.send(lambda w: w(SUPPLIER).request_withdrawal(AXLE, BEARING, amount))
                self.model.withdrawal = (amount, self.model.clock + DELAY)

            @rule()
            def execute_withdrawal(self) -> None:
                self.tick()
                if self.model.withdrawal is None:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING),
                              fails="QualityBondsNoPendingWithdrawal", orgId=AXLE, productId=BEARING)
                    return
                amount, unlock = self.model.withdrawal
                free = self.model.balance - self.model.locked
                frozen_until = self.model.failed_at + DELAY
                if self.model.clock < unlock:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING),
                              fails="QualityBondsWithdrawalLocked", orgId=AXLE, productId=BEARING, unlockAt=unlock)
                elif self.model.clock >= unlock + DELAY:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING),
                              fails="QualityBondsWithdrawalExpired", orgId=AXLE, productId=BEARING,
                              expiredAt=unlock + DELAY)
                elif self.model.clock < frozen_until:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING),
                              fails="QualityBondsWithdrawalFrozen", orgId=AXLE, productId=BEARING,
                              frozenUntil=frozen_until)
                elif amount > free:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING),
                              fails="QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=free,
                              amount=amount)
                else:
                    self.send(lambda w: w(STRANGER).execute_withdrawal(AXLE, BEARING))
                    self.model.balance -= amount
                    self.model.withdrawn += amount
                    self.model.withdrawal = None
                    self.last_withdrawal_at = self.model.clock

            @rule()
            def cancel_withdrawal(self) -> None:
                if self.model.withdrawal is not None:
                    self.tick()
                    self.send(lambda w: w(SUPPLIER).cancel_withdrawal(AXLE, BEARING))
                    self.model.withdrawal = None

            @invariant()
            def money_adds_up(self) -> None:
                m = self.model
                bond = supplier.bond(AXLE, BEARING)
                held = supplier.balance_of(world.bonds.address)
                assert (bond.balance, bond.locked) == (m.balance, m.locked)
                assert m.balance + m.paid + m.withdrawn == m.deposits
                assert held == bond.balance  # nothing stranded, nothing created
                assert 0 <= bond.locked <= bond.balance

            @invariant()
            def no_withdrawal_beats_a_fresh_failure(self) -> None:
                # Whatever the supplier pre-armed: nothing left the bond within DELAY of a new failure.
                assert self.model.withdrawn == 0 or self.last_withdrawal_at >= self.model.failed_at + DELAY or (
                    self.last_withdrawal_at < self.model.failed_at)

            last_withdrawal_at = 0

            def teardown(self) -> None:
                # Once per run rather than after every step: each view is a round trip to py-evm.
                for claim_id, claim in self.model.claims.items():
                    assert supplier.claim(claim_id).status == claim["status"]
                # Liveness without the claimant: once every window has passed, anyone closes every filed claim
                # (paid, or lapsed if its failure was corrected) and the arbiter every disputed one; nothing
                # stays locked, and the claimant (the plant) signs nothing.
                self.model.clock = max([self.model.clock, *(c["deadline"] for c in self.model.claims.values()),
                                        *(self.lapses_at(i) for i in self.model.claims)])
                for claim_id, claim in self.model.claims.items():
                    if claim["status"] == ClaimStatus.FILED:
                        self.tick()
                        self.send(lambda w, c=claim_id: w(STRANGER).execute_claim(c))
                        self.close_after_window(claim_id)
                    elif claim["status"] == ClaimStatus.DISPUTED:
                        self.tick()
                        self.send(lambda w, c=claim_id: w(STRANGER).rule_claim(c, 0))
                        self.settle(claim_id, 0)
                    assert supplier.claim(claim_id).status == claim["status"]
                assert supplier.bond(AXLE, BEARING).locked == 0

        # 10 runs of 20 steps keep this well under a minute on py-evm; QUALITY_BOND_EXAMPLES=200 for a soak.
        run_state_machine_as_test(Bonds, settings=settings(
            max_examples=int(os.environ.get("QUALITY_BOND_EXAMPLES", "10")), stateful_step_count=20,
            deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


class EstimatingWorld:
    """A World whose clients estimate gas, so a predicted revert surfaces without mining anything."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.bonds = world.bonds

    def __call__(self, index: int) -> QualityClient:
        return self.world.estimating(index)


def label(lot: bytes) -> str:
    return lot.rstrip(b"\0").decode()


def test_claim_status_names_match_the_contract() -> None:
    assert [s.name for s in ClaimStatus] == ["NONE", "FILED", "DISPUTED", "PAID", "REJECTED", "WITHDRAWN",
                                                "LAPSED"]
