"""The four flows of a shipment (四流合一) side by side, with the contract's agreement rules applied."""

from __future__ import annotations

from millchain.settlement.enums import BPS, Flow, InvoiceStatus, Receipt, ShipmentStatus
from millchain.settlement.models import FlowCheck, OrderView, ShipmentAssessment, ShipmentView
from millchain.settlement.parsing import format_bps


def assess(order: OrderView, s: ShipmentView) -> ShipmentAssessment:
    """The four flows of a shipment side by side, with the contract's agreement rules applied."""
    checks: dict[Flow, FlowCheck] = {}
    due = s.received * order.unit_price
    has_receipt = s.receipt is not Receipt.NONE
    if s.status is ShipmentStatus.SETTLED:
        for flow in Flow:
            checks[flow] = FlowCheck(flow=flow, state="agrees", detail="settled")
        return ShipmentAssessment(
            shipment=s,
            flows={f.name.lower(): c for f, c in checks.items()},
            outcome=f"settled: paid {s.paid}, retained {s.retained}",
        )

    # logistics
    if s.receipt is Receipt.ARBITER:
        checks[Flow.LOGISTICS] = FlowCheck(flow=Flow.LOGISTICS, state="agrees", detail=f"arbiter accepted {s.received}")
    elif s.status is not ShipmentStatus.DELIVERED or not has_receipt:
        missing = "delivery" if s.status is not ShipmentStatus.DELIVERED else "receipt"
        if s.status is not ShipmentStatus.DELIVERED and not has_receipt:
            missing = "delivery and receipt"
        checks[Flow.LOGISTICS] = FlowCheck(flow=Flow.LOGISTICS, state="waiting", detail=f"waiting for {missing}")
    else:
        difference = abs(s.delivered - s.received)
        ok = difference * BPS <= s.delivered * order.tolerance_bps
        checks[Flow.LOGISTICS] = FlowCheck(
            flow=Flow.LOGISTICS,
            state="agrees" if ok else "mismatch",
            expected=s.delivered,
            actual=s.received,
            detail=f"delivered {s.delivered}, received {s.received} (tolerance {format_bps(order.tolerance_bps)})",
        )
    # contract
    if has_receipt:
        ok = s.received <= order.remaining
        checks[Flow.CONTRACT] = FlowCheck(
            flow=Flow.CONTRACT,
            state="agrees" if ok else "mismatch",
            expected=order.remaining,
            actual=s.received,
            detail=f"{s.received} of {order.remaining} still payable",
        )
    else:
        checks[Flow.CONTRACT] = FlowCheck(
            flow=Flow.CONTRACT, state="waiting", detail=f"{order.remaining} of {order.quantity} still payable"
        )
    # invoice
    if s.invoice is InvoiceStatus.VERIFIED:
        if has_receipt:
            ok = s.invoice_amount == due
            checks[Flow.INVOICE] = FlowCheck(
                flow=Flow.INVOICE,
                state="agrees" if ok else "mismatch",
                expected=due,
                actual=s.invoice_amount,
                detail=f"verified {s.invoice_amount}, receipt makes {due}",
            )
        else:
            checks[Flow.INVOICE] = FlowCheck(
                flow=Flow.INVOICE,
                state="waiting",
                actual=s.invoice_amount,
                detail=f"verified {s.invoice_amount}, waiting for the receipt",
            )
    elif has_receipt and s.received == 0 and s.invoice in (InvoiceStatus.NONE, InvoiceStatus.REJECTED):
        checks[Flow.INVOICE] = FlowCheck(flow=Flow.INVOICE, state="agrees", detail="nothing received, nothing due")
    else:
        what = {
            InvoiceStatus.NONE: "waiting for the supplier's invoice",
            InvoiceStatus.SUBMITTED: f"{s.invoice_amount} submitted, waiting for the tax platform",
            InvoiceStatus.REJECTED: f"{s.invoice_amount} rejected, waiting for a new invoice",
        }[s.invoice]
        checks[Flow.INVOICE] = FlowCheck(
            flow=Flow.INVOICE, state="waiting", actual=s.invoice_amount or None, detail=what
        )
    # funds
    if has_receipt:
        ok = order.escrow >= due
        checks[Flow.FUNDS] = FlowCheck(
            flow=Flow.FUNDS,
            state="agrees" if ok else "mismatch",
            expected=due,
            actual=order.escrow,
            detail=f"due {due}, escrow {order.escrow}",
        )
    else:
        checks[Flow.FUNDS] = FlowCheck(
            flow=Flow.FUNDS, state="waiting", actual=order.escrow, detail=f"escrow {order.escrow}"
        )

    waiting = [f.name.lower() for f in Flow if checks[f].state == "waiting"]
    wrong = [f.name.lower() for f in Flow if checks[f].state == "mismatch"]
    if waiting:
        outcome = "waiting: " + ", ".join(waiting)
    elif wrong:
        outcome = "mismatch: " + ", ".join(wrong)
    else:
        outcome = "ready: every flow agrees (run `millchain order settle`)"
    return ShipmentAssessment(shipment=s, flows={f.name.lower(): checks[f] for f in Flow}, outcome=outcome)
