"""millchain.events.LogDecoder (what the oracle reads batch receipts with) decodes as web3 does."""

from __future__ import annotations

from typing import Any

import pytest

from millchain.events import LogDecoder
from tests.contracts.lease_helpers import LeaseHarness

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")


def as_tuples(value: Any) -> Any:
    """web3 names a struct's fields; LogDecoder gives the struct as a tuple, in field order."""
    return tuple(as_tuples(v) for v in value.values()) if isinstance(value, dict) else value


def test_a_batch_receipt_with_every_outcome_decodes_as_web3_decodes_it(h: LeaseHarness) -> None:
    lease = h.opened()
    t = lease.opened_at + 1
    anchor = h.report(lease, 1_000, 0, t)
    settles = h.report(lease, 1_050, 10, t + 10)
    too_fast = h.report(lease, 1_050 + lease.terms.max_units(10) + 1, 20, t + 20)  # UsageAnomalyDetected
    stale = h.report(lease, 1_000, 0, t)  # UsageReportSkipped
    receipt = h.batch([anchor, settles, too_fast, stale], at=t + 30)
    expected = h.events(receipt)
    assert [name for name, _ in expected] == [
        "UsageSettled",
        "UsageSettled",
        "UsageAnomalyDetected",
        "UsageReportSkipped",
    ]
    assert LogDecoder(h.lease).decode(receipt) == [
        (name, {arg: as_tuples(value) for arg, value in args.items()}) for name, args in expected
    ]
