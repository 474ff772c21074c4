"""EquipmentLease: the leasing findings of the outside review (issue 11, items 8-14) and its missing boundary test,
each as the attack or the boundary it names, with the exact custom error or events and the bound that now holds.

Each test here failed on the contract before the fix (noted per test). Spec: docs/contracts/equipment-lease.md;
threat model: docs/security.md, "Threat model — machine registry and leasing".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.lease_helpers import (
    ADMIN,
    DAY,
    DEPOSIT,
    HOUR,
    LATHE,
    LESSEE,
    LESSOR,
    MAX_CLOCK_SKEW,
    OTHER_LESSEE,
    PRESS,
    RELAYER,
    STRANGER,
    ZERO_ADDRESS,
    LeaseHarness,
    Opened,
    Skip,
    Status,
    device_address,
    device_key,
    low,
    reverts,
    revoke,
    rotate,
    settled,
    skipped,
    terms_dict,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

NEW_KEY = device_key(300)
U64_MAX = 2**64 - 1


def reanchored(lease: Opened, counter: int, runtime: int, previous_counter: int,
               previous_runtime: int) -> tuple[str, dict[str, Any]]:
    return ("UsageReanchored", {"leaseId": lease.lease_id, "counter": counter, "runtimeSeconds": runtime,
                                "previousCounter": previous_counter, "previousRuntimeSeconds": previous_runtime})


# ---------------------------------------------------------------------------------------------- item 8: the anchor


def test_rotated_out_key_cannot_anchor_a_lease_by_back_dating_into_its_old_window(h: LeaseHarness) -> None:
    """Holder of a leaked, rotated-out key: before the fix its report dated inside its old window anchored the
    lease at 2**64-1 and every genuine report then failed CounterBackwards."""
    lease = h.opened()
    old_key = h.signers[PRESS]
    rotated_at = rotate(h, PRESS, NEW_KEY, at=lease.opened_at + 20)
    poison = h.report(lease, U64_MAX, 0, lease.opened_at + 10, key=old_key)
    with reverts("EquipmentLeaseAnchorNotByCurrentKey", leaseId=lease.lease_id,
                 signer=low(device_address(old_key))):
        h.submit(poison, at=rotated_at + 1)
    genuine = h.report(lease, 5_000, 0, rotated_at + 2)
    receipt = h.batch([poison, genuine], at=rotated_at + 3)
    assert h.events(receipt) == [skipped(poison, Skip.ANCHOR_NOT_BY_CURRENT_KEY), settled(lease, 5_000, 0, 0)]
    assert (h.get(lease.lease_id)["lastCounter"], h.get(lease.lease_id)["anchored"]) == (5_000, True)


def test_lessor_re_anchors_a_poisoned_anchor_downward_billing_nothing_then_billing_resumes(h: LeaseHarness) -> None:
    """Holder of the current key in the lessee's plant anchors at 2**64-1 so that the machine runs free; before
    the fix the lessor could neither waive (counter backwards) nor close before endsAt."""
    lease = h.opened()
    t = lease.opened_at
    h.submit(h.report(lease, U64_MAX, 2**32 - 1, t + 10), at=t + 11)
    genuine = h.report(lease, 5_000, 100, t + 20)
    with reverts("EquipmentLeaseCounterBackwards", leaseId=lease.lease_id, counter=5_000, lastCounter=U64_MAX):
        h.submit(genuine, at=t + 21)
    for who in (LESSEE, STRANGER, RELAYER):
        with reverts("EquipmentLeaseNotLessor", leaseId=lease.lease_id, account=low(h.address(who))):
            h.send("reanchor", genuine.as_tuple(), by=who)
    receipt = h.send("reanchor", genuine.as_tuple(), by=LESSOR, at=t + 22)
    assert h.events(receipt) == [reanchored(lease, 5_000, 100, U64_MAX, 2**32 - 1)]
    state = h.get(lease.lease_id)
    assert (state["lastCounter"], state["lastRuntimeSeconds"], state["lastTimestamp"], state["escrow"]) == (
        5_000, 100, t + 20, DEPOSIT)
    receipt = h.submit(h.report(lease, 5_100, 130, t + 50), at=t + 51)
    assert h.events(receipt) == [settled(lease, 5_100, 100, lease.terms.bill(100, 130, 100))]


def test_device_replaced_with_its_counter_restarted_at_zero_is_re_anchored_by_the_lessor(h: LeaseHarness) -> None:
    lease = h.opened()
    t = h.anchor(lease, 900_000, 50_000)
    replaced = h.report(lease, 0, 0, t + 100)
    with reverts("EquipmentLeaseCounterBackwards", leaseId=lease.lease_id, counter=0, lastCounter=900_000):
        h.submit(replaced, at=t + 101)
    receipt = h.send("reanchor", replaced.as_tuple(), by=LESSOR, at=t + 102)
    assert h.events(receipt) == [reanchored(lease, 0, 0, 900_000, 50_000)]
    receipt = h.submit(h.report(lease, 40, 30, t + 130), at=t + 131)
    assert h.events(receipt) == [settled(lease, 40, 40, lease.terms.bill(40, 30, 0))]


def test_re_anchor_by_a_rotated_out_key_or_not_newer_is_refused(h: LeaseHarness) -> None:
    lease = h.opened()
    t = h.anchor(lease, 1_000)
    old_key = h.signers[PRESS]
    rotated_at = rotate(h, PRESS, NEW_KEY, at=t + 20)
    by_old = h.report(lease, 0, 0, t + 15, key=old_key)
    with reverts("EquipmentLeaseAnchorNotByCurrentKey", leaseId=lease.lease_id, signer=low(device_address(old_key))):
        h.send("reanchor", by_old.as_tuple(), by=LESSOR, at=rotated_at + 1)
    with reverts("EquipmentLeaseStaleReport", leaseId=lease.lease_id, timestamp=t, lastTimestamp=t):
        h.send("reanchor", h.report(lease, 0, 0, t).as_tuple(), by=LESSOR)


def test_low_anchor_bills_at_most_the_plausible_rate_since_opening(h: LeaseHarness) -> None:
    """Holder of the current key (here, the lessor after a rotation to a key it holds) anchors at 0 a machine
    whose lifetime counter is 10**6: the lifetime counter is billed only as the rate allows since the anchor,
    never more than maxRatePerHour x the time since opening."""
    terms = h.default_terms(max_rate_per_hour=3_600)  # one unit a second
    lease = h.opened(terms)
    t = h.anchor(lease, 0, 0)
    lifetime = 10**6
    for at in (t + 60, t + HOUR, t + 2 * HOUR):
        receipt = h.submit(h.report(lease, lifetime, 0, at), at=at)
        ((name, args),) = h.events(receipt)
        assert (name, args["units"], args["maxUnits"]) == ("UsageAnomalyDetected", lifetime, terms.max_units(at - t))
    billed_to = t + 2 * HOUR + 30
    receipt = h.submit(h.report(lease, 7_230, 0, billed_to), at=billed_to)
    assert h.events(receipt)[0] == settled(lease, 7_230, 7_230, terms.bill(7_230, 0, 0))
    assert terms.max_units(billed_to - lease.opened_at) >= 7_230


# ---------------------------------------------------------------------------------------------- item 9: revoked


def test_lessee_closes_a_lease_whose_machine_was_revoked_before_ends_at(h: LeaseHarness) -> None:
    """Before the fix the deposit stayed locked until endsAt: the lessee could not close early."""
    lease = h.opened()
    t = h.anchor(lease)
    revoked_at = revoke(h, PRESS, at=t + 50)
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSOR)),
                 endsAt=lease.terms.ends_at):
        h.send("close", lease.lease_id, by=LESSOR)
    receipt = h.send("close", lease.lease_id, by=LESSEE, at=revoked_at + 1)
    assert h.events(receipt) == [("LeaseClosed", {"leaseId": lease.lease_id, "machineId": PRESS,
                                                  "closedBy": h.address(LESSEE),
                                                  "settleUntil": revoked_at + 1 + lease.terms.grace_period})]


# ---------------------------------------------------------------------------------------------- item 10: runtime slack


def test_runtime_slack_is_one_second_per_lease_not_one_per_report(h: LeaseHarness) -> None:
    """Reports one second apart claiming two runtime seconds each: before the fix each billed (runtime at twice
    wall time); now the first uses the lease's one second of slack and the next is an anomaly."""
    lease = h.opened()
    t = h.anchor(lease, 1_000, 0)
    receipt = h.submit(h.report(lease, 1_000, 2, t + 1), at=t + 1)
    assert h.events(receipt) == [settled(lease, 1_000, 0, lease.terms.bill(0, 2, 0))]
    second = h.report(lease, 1_000, 4, t + 2)
    receipt = h.submit(second, at=t + 2)
    ((name, args),) = h.events(receipt)
    assert (name, args["runtimeDelta"], args["maxRuntimeDelta"]) == ("UsageAnomalyDetected", 2, 1)
    # a report whose runtime falls behind its interval frees the second again
    receipt = h.submit(h.report(lease, 1_000, 3, t + 3), at=t + 3)
    assert h.events(receipt) == [settled(lease, 1_000, 0, lease.terms.bill(0, 3, 2))]
    receipt = h.submit(h.report(lease, 1_000, 5, t + 4), at=t + 4)
    assert h.events(receipt) == [settled(lease, 1_000, 0, lease.terms.bill(0, 5, 3))]
    assert h.get(lease.lease_id)["lastRuntimeSeconds"] - 0 <= (t + 4) - t + 1


def test_runtime_billed_since_the_anchor_never_exceeds_wall_time_plus_one_second(h: LeaseHarness) -> None:
    lease = h.opened()
    t = h.anchor(lease, 0, 0)
    runtime, billed_to = 0, t
    for step, gain in enumerate((2, 1, 2, 0, 3, 2, 1, 2), start=1):
        at = t + step
        receipt = h.submit(h.report(lease, 0, runtime + gain, at), at=at)
        if h.events(receipt)[0][0] == "UsageSettled":
            runtime, billed_to = runtime + gain, at
        assert runtime <= billed_to - t + 1


# ---------------------------------------------------------------------------------------------- item 11: squatting


def test_offer_reserved_for_a_lessee_can_be_opened_by_that_lessee_only(h: LeaseHarness) -> None:
    """Before the fix anyone could open any offer with the minimum deposit and hold the machine for its term."""
    terms = h.default_terms(min_balance=0)
    receipt = h.send("offerTo", PRESS, terms.as_tuple(), h.address(LESSEE), by=LESSOR)
    ((_, offered), reserved) = h.events(receipt)
    lid = offered["leaseId"]
    assert reserved == ("LeaseReserved", {"leaseId": lid, "lessee": h.address(LESSEE)})
    assert offered == {"leaseId": lid, "machineId": PRESS, "lessor": h.address(LESSOR), "terms": terms_dict(terms)}
    assert (h.get(lid)["status"], h.get(lid)["lessee"]) == (Status.OFFERED, h.address(LESSEE))
    with reverts("EquipmentLeaseNotDesignatedLessee", leaseId=lid, account=low(h.address(OTHER_LESSEE)),
                 lessee=low(h.address(LESSEE))):
        h.open(lid, 0, by=OTHER_LESSEE)
    receipt = h.open(lid, DEPOSIT, by=LESSEE)
    assert h.events(receipt) == [("LeaseOpened", {"leaseId": lid, "machineId": PRESS, "lessee": h.address(LESSEE),
                                                  "deposit": DEPOSIT})]
    with reverts("EquipmentLeaseZeroLessee", machineId=LATHE):
        h.send("offerTo", LATHE, terms.as_tuple(), ZERO_ADDRESS, by=LESSOR)


def test_lessor_closes_a_lease_never_reported_once_a_heartbeat_has_passed_since_opening(h: LeaseHarness) -> None:
    lease = h.opened(h.default_terms(min_balance=0), deposit=0)
    heartbeat = lease.terms.heartbeat
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=lease.lease_id, account=low(h.address(LESSOR)),
                 endsAt=lease.terms.ends_at):
        h.send("close", lease.lease_id, by=LESSOR, at=lease.opened_at + heartbeat)
    receipt = h.send("close", lease.lease_id, by=LESSOR, at=lease.opened_at + heartbeat + 1)
    assert h.events(receipt)[0][0] == "LeaseClosed"
    assert h.view("activeLeaseOf", PRESS) == 0
    # a lease that reported once is not squatting: the lessor waits for endsAt or consent as before
    other = h.opened(machine=LATHE)
    t = h.anchor(other)
    with reverts("EquipmentLeaseCloseNotAllowed", leaseId=other.lease_id, account=low(h.address(LESSOR)),
                 endsAt=other.terms.ends_at):
        h.send("close", other.lease_id, by=LESSOR, at=t + 10 * heartbeat)


# ---------------------------------------------------------------------------------------------- item 12: grace period


def test_grace_period_longer_than_a_day_settles_a_reading_taken_at_the_close(h: LeaseHarness) -> None:
    """Before the fix the one-day acceptance window refused it (EquipmentLeaseReportExpired) although close's
    NatSpec promised gracePeriod seconds."""
    lease = h.opened(h.default_terms(grace_period=3 * DAY))
    t = h.anchor(lease, 1_000, 0)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE, at=t + 100))
    final = h.report(lease, 1_050, 90, closed_at)
    receipt = h.submit(final, at=closed_at + 2 * DAY)
    assert h.events(receipt) == [settled(lease, 1_050, 50, lease.terms.bill(50, 90, 0))]
    with reverts("EquipmentLeaseGracePeriodOver", leaseId=lease.lease_id, settleUntil=closed_at + 3 * DAY):
        h.submit(h.report(lease, 1_060, 95, closed_at), at=closed_at + 3 * DAY + 1)


# ---------------------------------------------------------------------------------------------- item 13: clock


def test_future_dated_heartbeat_cannot_make_genuine_readings_stale(h: LeaseHarness) -> None:
    """Holder of the current key sends a zero-unit report dated block + 300 s: before the fix every genuine
    reading of the next five minutes was stale and markStale never fired."""
    lease = h.opened()
    t = h.anchor(lease, 1_000, 0)
    block = t + 60
    receipt = h.submit(h.report(lease, 1_000, 60, block + MAX_CLOCK_SKEW), at=block)
    assert h.events(receipt) == [settled(lease, 1_000, 0, lease.terms.bill(0, 60, 0))]
    assert h.get(lease.lease_id)["lastTimestamp"] == block  # never later than the block
    receipt = h.submit(h.report(lease, 1_200, 80, block + 20), at=block + 21)
    assert h.events(receipt) == [settled(lease, 1_200, 200, lease.terms.bill(200, 80, 60))]


def test_report_dated_ahead_of_its_block_is_judged_on_the_time_passed_by_the_block(h: LeaseHarness) -> None:
    lease = h.opened()
    t = h.anchor(lease, 1_000, 0)
    block = t + 60
    ahead = h.report(lease, 1_000 + lease.terms.max_units(60 + MAX_CLOCK_SKEW), 60, block + MAX_CLOCK_SKEW)
    receipt = h.submit(ahead, at=block)
    ((name, args),) = h.events(receipt)
    assert (name, args["maxUnits"], args["maxRuntimeDelta"]) == ("UsageAnomalyDetected",
                                                                 lease.terms.max_units(60), 61)


def test_same_second_newer_counter_dated_ahead_of_the_block_is_refused_until_a_later_block(h: LeaseHarness) -> None:
    lease = h.opened()
    t = h.anchor(lease, 1_000, 0)
    block = t + 60
    first = h.report(lease, 1_010, 10, block)
    newer = h.report(lease, 1_011, 10, block + 1)
    receipt = h.batch([first, newer], at=block)
    assert h.events(receipt) == [settled(lease, 1_010, 10, lease.terms.bill(10, 10, 0)),
                                 skipped(newer, Skip.REPORT_FROM_FUTURE)]
    calls = [h.lease.encode_abi("submitUsage", [r.as_tuple()]) for r in (h.report(lease, 1_020, 12, block + 2),
                                                                        h.report(lease, 1_021, 12, block + 3))]
    with reverts("EquipmentLeaseReportFromFuture", leaseId=lease.lease_id, timestamp=block + 3,
                 latestAccepted=block + 1):
        h.send("multicall", calls, by=RELAYER, at=block + 1)
    receipt = h.submit(newer, at=block + 1)
    assert h.events(receipt) == [settled(lease, 1_011, 1, lease.terms.bill(1, 10, 10))]


# ---------------------------------------------------------------------------------------------- item 14: dirty words


def with_dirty_word(calldata: str, word: int, bits: int) -> str:
    """``calldata`` with ``bits`` ORed into its ABI word ``word`` (counted after the selector)."""
    data = bytearray(bytes.fromhex(calldata[2:]))
    at = 4 + 32 * word
    data[at:at + 32] = (int.from_bytes(data[at:at + 32], "big") | bits).to_bytes(32, "big")
    return "0x" + data.hex()


@pytest.mark.parametrize(("member", "bits"), [(2, 1 << 64), (3, 1 << 32), (4, 1 << 40), (2, 1 << 255)])
def test_report_word_with_dirty_high_bits_is_skipped_and_the_batch_settles(h: LeaseHarness, member: int,
                                                                           bits: int) -> None:
    """Relayer: before the fix one counter (2), runtime (3) or timestamp (4) word with bits above its type
    reverted the whole batch with empty data."""
    leases = [h.opened(), h.opened(machine=LATHE)]
    t = max(lease.opened_at for lease in leases) + 1
    reports = [h.report(lease, 500, 0, t) for lease in leases]
    # submitUsageBatch: offset and length words, then each report's seven static words
    batch = h.lease.encode_abi("submitUsageBatch", [[r.as_tuple() for r in reports]])
    data = with_dirty_word(batch, 2 + member, bits)
    receipt = h.at(t + 1, lambda: h.tx(RELAYER).send({"to": h.lease.address, "data": data}, gas=1_000_000))
    assert receipt["status"] == 1
    assert h.events(receipt) == [skipped(reports[0], Skip.MALFORMED_REPORT), settled(leases[1], 500, 0, 0)]
    # submitUsage: the report's seven words right after the selector
    single = with_dirty_word(h.lease.encode_abi("submitUsage", [reports[0].as_tuple()]), member, bits)
    with reverts("EquipmentLeaseMalformedReport", leaseId=leases[0].lease_id):
        try:
            h.session.chain.w3.eth.call({"from": h.address(RELAYER), "to": h.lease.address, "data": single})
        except Exception as exc:
            raise h.tx(RELAYER).explain(exc) from exc


# ---------------------------------------------------------------------------------------------- boundary


def test_escrow_of_2_64_and_more_through_open_top_up_billing_and_refund(h: LeaseHarness) -> None:
    """The mutation run showed no test above 2**64 base units (18.4 tokens of an 18-decimal token)."""
    big = 2**64 + 7
    h.tx(ADMIN).transact(h.token.functions.mint(h.address(LESSEE), 4 * 2**65))
    terms = h.default_terms(price_per_unit=2**40, price_per_hour=0, min_balance=2**64, max_rate_per_hour=2**31)
    lease = h.opened(terms, deposit=big)
    assert h.get(lease.lease_id)["escrow"] == big
    receipt = h.send("topUp", lease.lease_id, 2**65, by=LESSEE)
    assert h.events(receipt) == [("EscrowToppedUp", {"leaseId": lease.lease_id, "payer": h.address(LESSEE),
                                                     "amount": 2**65, "debtPaid": 0, "escrow": big + 2**65})]
    t = h.anchor(lease, 0)
    units = 2**24 + 3  # 2**64 + 3 x 2**40 billed
    receipt = h.submit(h.report(lease, units, 0, t + DAY // 2), at=t + DAY // 2)
    amount = units * 2**40
    assert h.events(receipt) == [settled(lease, units, units, amount)]
    escrow = big + 2**65 - amount
    assert (h.get(lease.lease_id)["escrow"], h.get(lease.lease_id)["earnings"]) == (escrow, amount)
    h.send("consentToClose", lease.lease_id, by=LESSOR)
    closed_at = h.block_time(h.send("close", lease.lease_id, by=LESSEE))
    h.next_block_at(closed_at + lease.terms.grace_period + 1)
    before = h.balance(LESSEE)
    receipt = h.send("withdrawRefund", lease.lease_id, by=LESSEE)
    assert h.events(receipt) == [("RefundWithdrawn", {"leaseId": lease.lease_id, "lessee": h.address(LESSEE),
                                                      "amount": escrow})]
    assert h.balance(LESSEE) - before == escrow
    receipt = h.send("withdrawEarnings", lease.lease_id, by=LESSOR)
    assert h.transfers(receipt) == [(h.lease.address, h.address(LESSOR), amount)]


# ---------------------------------------------------------------------------------------------- after the fixes


def test_replayed_future_dated_report_is_refused_and_cannot_eat_a_genuine_readings_time(h: LeaseHarness) -> None:
    """Auditor's PoC against the clamp (found in the first version of this fix): a report dated block + 300 s
    settled at its block's time, and anyone could submit it again in every later block up to its own timestamp,
    each time moving lastTimestamp on with no new units, so that a genuine reading's units were judged against a
    few seconds and refused as anomalies. A report dated after its block must now change the counters."""
    lease = h.opened()
    t = h.anchor(lease, 1_000, 0)
    ahead = h.report(lease, 1_010, 20, t + 20 + MAX_CLOCK_SKEW)
    receipt = h.submit(ahead, at=t + 20)
    assert h.events(receipt) == [settled(lease, 1_010, 10, lease.terms.bill(10, 20, 0))]
    with reverts("EquipmentLeaseReportFromFuture", leaseId=lease.lease_id, timestamp=t + 20 + MAX_CLOCK_SKEW,
                 latestAccepted=t + 40):
        h.submit(ahead, at=t + 40)
    receipt = h.batch([ahead], at=t + 41)
    assert h.events(receipt) == [skipped(ahead, Skip.REPORT_FROM_FUTURE)]
    assert h.get(lease.lease_id)["lastTimestamp"] == t + 20
    receipt = h.submit(h.report(lease, 1_200, 45, t + 45), at=t + 46)
    assert h.events(receipt) == [settled(lease, 1_200, 190, lease.terms.bill(190, 45, 20))]


def test_lessor_holding_the_key_gains_nothing_beyond_the_rate_by_re_anchoring_down(h: LeaseHarness) -> None:
    """Auditor's PoC against reanchor: the lessor rotates the machine to a key it holds and alternates re-anchors
    down with reports up, trying to bill the same units again and again; each billed interval is still within
    maxRatePerHour of its own time, and the intervals do not overlap."""
    terms = h.default_terms(max_rate_per_hour=3_600)  # one unit a second
    lease = h.opened(terms)
    t = h.anchor(lease, 1_000, 0)
    lessor_key = device_key(301)
    rotated_at = rotate(h, PRESS, lessor_key, at=t + 1)
    billed, at = 0, rotated_at
    for _ in range(3):
        at += 10
        h.send("reanchor", h.report(lease, 0, 0, at).as_tuple(), by=LESSOR, at=at)
        at += 10
        receipt = h.submit(h.report(lease, 10_000, 0, at), at=at)
        ((name, args),) = h.events(receipt)
        assert (name, args["units"], args["maxUnits"]) == ("UsageAnomalyDetected", 10_000, 10)
        receipt = h.submit(h.report(lease, 10, 0, at + 1), at=at + 1)
        assert h.events(receipt) == [settled(lease, 10, 10, terms.bill(10, 0, 0))]
        billed, at = billed + 10, at + 1
    assert billed <= terms.max_units(at - lease.opened_at)
    assert h.get(lease.lease_id)["earnings"] == billed * terms.price_per_unit
