"""millchain order show: the four flows of an order side by side."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import click

from millchain.cli.common import console, emit_json, err_console, json_option, network_options, table
from millchain.cli.order.common import load_order, money_formatter, report_json
from millchain.session import Session
from millchain.settlement import (
    FlowCheck,
    OrderReport,
    OrderStatus,
    Receipt,
    SettlementClient,
    ShipmentAssessment,
    format_bps,
)

_MARK = {"agrees": "✓", "mismatch": "✗", "waiting": "…"}


def _when(timestamp: int, now: int) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))
    delta = timestamp - now
    days, rest = divmod(abs(delta), 86_400)
    span = f"{days}d" if days else f"{rest // 3600}h{rest % 3600 // 60:02d}m"
    return f"{stamp} ({'in ' + span if delta >= 0 else span + ' ago'})"


def _cell(check: FlowCheck, lines: Sequence[str], money: Callable[[int], str] | None = None) -> str:
    text = "\n".join(lines)
    if check.state == "mismatch" and check.expected is not None and check.actual is not None:
        expected = money(check.expected) if money else str(check.expected)
        actual = money(check.actual) if money else str(check.actual)
        text += f"\n✗ expected {expected}, got {actual}"
    return f"{_MARK[check.state]} {text}"


def _shipment_row(assessed: ShipmentAssessment, report: OrderReport, money: Callable[[int], str]) -> tuple[str, ...]:
    s = assessed.shipment
    order = report.order
    flows = assessed.flows
    lots = f"{len(s.lots)} lot{'s' if len(s.lots) != 1 else ''}" if s.lots else "no lots"
    receipt = {
        Receipt.NONE: "not received yet",
        Receipt.BUYER: f"received {s.received} (buyer)",
        Receipt.INSPECTION: f"received {s.received} (QC pass)",
        Receipt.ARBITER: f"accepted {s.received} (arbiter)",
    }[s.receipt]
    delivered = f"delivered {s.delivered}" if s.delivered else "not delivered yet"
    logistics = [f"shipped {s.shipped} ({lots})", f"{len(s.checkpoints)} checkpoint(s)", delivered, receipt]
    contract = [f"{s.received} x {money(order.unit_price)}" if s.receipt is not Receipt.NONE else "no receipt yet"]
    if s.invoice.name == "NONE":
        invoice = ["no invoice yet"]
    else:
        invoice = [f"{money(s.invoice_amount)} {s.invoice.name.lower()}", f"tax {money(s.invoice_tax)}"]
    due = s.received * order.unit_price
    funds = [
        f"due {money(due)}" if s.receipt is not Receipt.NONE else "due: after receipt",
        f"escrow {money(order.escrow)}",
    ]
    if s.paid or s.retained:
        funds.append(f"paid {money(s.paid)} + retained {money(s.retained)}")
    outcome = assessed.outcome
    if outcome.startswith("settled"):
        outcome = "settled"
    return (
        f"#{s.number}",
        _cell(flows["contract"], contract),
        _cell(flows["logistics"], logistics),
        _cell(flows["invoice"], invoice, money),
        _cell(flows["funds"], funds, money),
        outcome,
    )


def show_order(client: SettlementClient, key: bytes, as_json: bool) -> None:
    render_report(client, key, client.report(key), as_json)


def render_report(client: SettlementClient, key: bytes, report: OrderReport, as_json: bool) -> None:
    """Print ``report`` (of order ``key``) as ``order show`` does."""
    if as_json:
        emit_json(report_json(report))
        return
    order, funds = report.order, report.funds
    money = money_formatter(client, order.token)
    ended = " · ended" if report.ended and order.status is OrderStatus.ACTIVE else ""
    console.print(f"[bold]order {order.order_id}[/bold]  {order.status.name}{ended}  key {order.key}")
    console.print(f"buyer {order.buyer}  supplier {order.supplier}  carrier {order.carrier}")
    retention = (
        f"retention {format_bps(order.retention_bps)} for {order.warranty_period // 86_400}d"
        if order.retention_bps
        else "no retention"
    )
    console.print(
        f"{order.quantity} x {money(order.unit_price)} = {money(order.total)} (token {order.token}) · "
        f"{retention} · tolerance {format_bps(order.tolerance_bps)} · QC "
        f"{'required' if order.qc_required else 'not required'}"
    )
    console.print(f"delivery deadline {_when(order.delivery_deadline, report.now)}")
    shipped = [a.shipment for a in report.shipments]
    invoiced = sum(s.invoice_amount for s in shipped if s.invoice.name in ("SUBMITTED", "VERIFIED"))
    verified = sum(s.invoice_amount for s in shipped if s.invoice.name == "VERIFIED")
    order_row = (
        "order",
        f"{order.status.name}\n{order.settled} of {order.quantity} settled",
        f"{len(shipped)} shipment(s)\ndelivered {sum(s.delivered for s in shipped)}\n"
        f"received {sum(s.received for s in shipped if s.receipt is not Receipt.NONE)}",
        f"invoiced {money(invoiced)}\nverified {money(verified)}",
        f"funded {money(funds.funded)}\nescrow {money(order.escrow)}",
        "",
    )
    rows = [order_row, *(_shipment_row(a, report, money) for a in report.shipments)]
    table(
        "four flows (✓ agrees · ✗ mismatch · … waiting)",
        ["", "contract 商流", "logistics 物流", "invoice 票流", "funds 资金流", "result"],
        rows,
    )
    mark = "✓" if funds.balanced else "✗"
    console.print(
        f"funds: funded {money(funds.funded)} = paid {money(funds.paid)} + refunded "
        f"{money(funds.refunded)} + escrow {money(funds.escrow)} + retention {money(funds.retention)} "
        f"{mark}"
    )
    if order.retention or order.release_at:
        console.print(
            f"retention {money(order.retention)}: releasable from {_when(order.release_at, report.now)}"
            f"{f', held by {order.holds} quality claim(s)' if order.holds else ''}"
        )
    if report.ended and order.escrow:
        console.print(f"refundable to the buyer now: {money(client.refundable(key))}")


@click.command("show")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def show(order_ref: str, session: Session, as_json: bool) -> None:
    """The four flows of ORDER side by side: each shipment's state and which amounts match.

    Read from the event index when one is configured for this chain (stderr says which, and why not)."""
    from millchain.index.logs import settlement_reader  # the index's modules only for the commands that read it

    with settlement_reader(session, "order") as (client, source):
        key = load_order(client, order_ref)
        report = client.report(key)
        err_console.print(source, highlight=False, markup=False, soft_wrap=True)  # after any error: that is one line
        render_report(client, key, report, as_json)
