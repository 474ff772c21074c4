"""Orders: the four flows (contract, logistics, invoice, funds) side by side per shipment, what waits for whom,
escrow, retention and its release date."""

from __future__ import annotations

from collections.abc import Mapping

from millchain.console.data import ConsoleData
from millchain.console.render import badge, e, money, section, short, stat, table, when
from millchain.index import queries
from millchain.settlement import FlowCheck, OrderReport, OrderView, ShipmentStatus

FLOW_TITLES = {
    "contract": "Contract · 合同",
    "logistics": "Logistics · 物流",
    "invoice": "Invoice · 发票",
    "funds": "Funds · 资金",
}
STATE_KIND = {"agrees": "ok", "mismatch": "bad", "waiting": "warn"}


def waiting_for(flow: str, check: FlowCheck, order: OrderView) -> str | None:
    """Who must act for a waiting flow to move, read from the contract's rules as ``assess`` applied them."""
    if check.state != "waiting":
        return None
    detail = check.detail
    if flow == "logistics":
        return "carrier" if "delivery" in detail else ("inspector" if order.qc_required else "buyer")
    if flow == "invoice":
        if "tax platform" in detail:
            return "tax platform"
        return "buyer" if "receipt" in detail else "supplier"
    if flow == "contract":
        return "inspector" if order.qc_required else "buyer"
    return "buyer"


def order_keys(data: ConsoleData) -> list[bytes]:
    return [bytes.fromhex(str(ev.args["orderKey"])[2:]) for ev in queries.events(data.need_index(), "OrderCreated")]


def order_card(data: ConsoleData, report: OrderReport) -> str:
    order = report.order
    token = data.token(order.token)

    def m(value: int) -> str:
        return e(money(value, token.decimals, token.symbol))

    shipments = []
    for assessment in report.shipments:
        s = assessment.shipment
        cards = []
        for flow, check in assessment.flows.items():
            whom = waiting_for(flow, check, order)
            who = f'<div class="whom">waiting for <b>{e(whom)}</b></div>' if whom else ""
            cards.append(
                f'<div class="card {STATE_KIND[check.state]}" data-testid="flow-{e(flow)}">'
                f"<h3>{e(FLOW_TITLES[flow])}</h3>{badge(check.state, STATE_KIND[check.state])}"
                f"<p>{e(check.detail)}</p>{who}</div>"
            )
        # The SDK's outcome names base units; a settled shipment is shown in tokens here.
        outcome = (
            f"settled: paid {m(s.paid)}, retained {m(s.retained)}"
            if s.status is ShipmentStatus.SETTLED
            else e(assessment.outcome)
        )
        shipments.append(
            f'<div class="shipment"><h3>Shipment {s.number} · shipped {s.shipped:,}, delivered {s.delivered:,}, '
            f'received {s.received:,}</h3><div class="flows">{"".join(cards)}</div>'
            f'<p class="muted">{outcome}</p></div>'
        )
    funds = report.funds
    release = when(order.release_at) if order.retention else "—"
    return (
        f'<article class="order" data-testid="order-{e(order.order_id)}"><h2>Order {e(order.order_id)} '
        f"{badge(order.status.name.lower(), 'ok')}</h2>"
        '<div class="stats">'
        + stat("buyer", e(short(order.buyer)))
        + stat("supplier", e(short(order.supplier)))
        + stat("carrier", e(short(order.carrier)))
        + stat("order value", m(order.total))
        + stat("escrow", m(order.escrow), "order-escrow")
        + stat("retention", m(order.retention), "order-retention")
        + stat("retention release date", e(release), "release-at")
        + "</div>"
        + "".join(shipments)
        + table(
            ["funded", "paid", "refunded", "escrow", "retention", "balanced"],
            [
                (
                    m(funds.funded),
                    m(funds.paid),
                    m(funds.refunded),
                    m(funds.escrow),
                    m(funds.retention),
                    badge("yes", "ok") if funds.balanced else badge("no", "bad"),
                )
            ],
            numeric=(0, 1, 2, 3, 4),
        )
        + "</article>"
    )


def render(data: ConsoleData, params: Mapping[str, str]) -> tuple[str, str]:
    settlement = data.settlement  # one client for the page: one index position
    reports = [settlement.report(key) for key in order_keys(data)]
    waiting = sum(1 for r in reports for a in r.shipments if a.outcome.startswith("waiting"))
    body = (
        '<div class="stats">'
        + stat("orders", str(len(reports)), "orders")
        + stat("shipments waiting", str(waiting))
        + "</div>"
        + ("".join(order_card(data, r) for r in reports) or section("Orders", '<p class="muted">none yet</p>'))
    )
    return "Orders · 四流合一", body
