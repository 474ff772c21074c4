"""EquipmentLease and MachineRegistry: the second outside review (issue 11, "review the fixed contracts
adversarially once more"). Each test is a proof of concept of one attack or defect, named by its actor, and
asserts the property that must hold. Findings and the argued ones: docs/security.md, "Second review (leasing
and identity)".
"""

from __future__ import annotations

import pytest

from tests.contracts.lease_helpers import (
    DEPOSIT,
    LATHE,
    MUSD,
    PRESS,
    RELAYER,
    LeaseHarness,
    Opened,
    settled,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")


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
