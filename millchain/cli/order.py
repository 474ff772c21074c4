"""millchain order create | sign | submit | fund | ship | checkpoint | deliver | receive | invoice | verify-invoice |
settle | release | refund | claim | void | arbitrate | close | show: four-flow supply-chain settlement
(docs/contracts/supply-chain-settlement.md).

On ``--network local`` every invocation is a fresh chain, so an order is prepared in a file: ``create --out
order.json`` writes the typed data both parties sign, ``sign order.json`` adds a party's signature and
``submit order.json`` posts it (``create --submit`` does all three where the buyer's and supplier's keys are
development accounts). Multi-step flows need anvil or an RPC node. ORDER is an order key (0x…), an order file,
or an order id created on this chain; SHIPMENT its number in the order (1, 2, …) or its full id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.disclosure import FieldValue, SaltedDocument
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    ZERO32,
    FlowCheck,
    Order,
    OrderFile,
    OrderReport,
    OrderStatus,
    Outcome,
    Receipt,
    SettlementClient,
    ShipmentAssessment,
    format_bps,
    lot_id,
    order_id,
    parse_address,
    parse_bps,
    sign_order_file,
)
from millchain.types import label_of
from millchain.units import format_amount, parse_amount, parse_duration

_MARK = {"agrees": "✓", "mismatch": "✗", "waiting": "…"}


# ---------------------------------------------------------------------------------------------- helpers


def _client(session: Session) -> SettlementClient:
    return SettlementClient(session)


def _party(session: Session, text: str, what: str) -> str:
    """An address, or the index of a development account (``2`` = the third account)."""
    if text.isdigit():
        return str(session.chain.account(int(text)).address)
    return parse_address(text, what=what)


def _fields(pairs: Sequence[str], what: str) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{what} {pair!r} is not NAME=VALUE")
        if name.strip() in fields:
            raise ConfigError(f"{what} {name.strip()!r} is given twice")
        fields[name.strip()] = value
    return fields


def _commit(fields: dict[str, FieldValue], save: Path | None) -> SaltedDocument:
    document = SaltedDocument.commit(fields)
    if save is not None:
        document.save(save)
    return document


def _decimals(client: SettlementClient, token: str) -> int:
    return client.decimals(token)


def _money(client: SettlementClient, token: str) -> Callable[[int], str]:
    decimals = _decimals(client, token)
    return lambda value: format_amount(value, decimals)


def _report_outcome(client: SettlementClient, key: bytes, outcome: Outcome, what: str, as_json: bool) -> None:
    """One line for the transaction, then what it did to settlement; --json: the order report and events."""
    if as_json:
        payload = _report_json(client.report(key))
        payload["transaction"] = {"hash": outcome.tx_hash, "gas": outcome.gas, "events": outcome.events,
                                  "settled": outcome.settled,
                                  "mismatches": [{"shipment": sid, "flow": m.flow.name.lower(),
                                                  "expected": m.expected, "actual": m.actual}
                                                 for sid, m in outcome.mismatches]}
        emit_json(payload)
        return
    console.print(f"{what}: tx {outcome.tx_hash} block {outcome.receipt['blockNumber']} gas {outcome.gas}")
    if not (outcome.settled or outcome.mismatches):
        return
    money = _money(client, client.get(key, events=False).token)
    for settled in outcome.settled:
        console.print(f"[green]settled[/green] shipment {settled['shipment'] >> 240}: {settled['quantity']} units, "
                      f"paid {money(settled['paid'])} to the supplier, {money(settled['retained'])} retained")
    for shipment, mismatch in outcome.mismatches:
        amounts = mismatch.flow.name in ("INVOICE", "FUNDS")
        expected = money(mismatch.expected) if amounts else str(mismatch.expected)
        actual = money(mismatch.actual) if amounts else str(mismatch.actual)
        console.print(f"[red]mismatch[/red] shipment {shipment >> 240}, {mismatch.flow.name.lower()} flow: "
                      f"expected {expected}, got {actual} — nothing moved")


def _report_json(report: OrderReport) -> dict[str, Any]:
    payload: dict[str, Any] = report.model_dump(mode="json")
    payload["order"]["status"] = report.order.status.name
    payload["order"]["total"] = report.order.total
    payload["ended"] = report.ended
    payload["funds"]["balanced"] = report.funds.balanced
    for item, assessed in zip(payload["shipments"], report.shipments, strict=True):
        item["shipment"]["status"] = assessed.shipment.status.name
        item["shipment"]["receipt"] = assessed.shipment.receipt.name
        item["shipment"]["invoice"] = assessed.shipment.invoice.name
        item["shipment"]["shipment_id"] = hex(assessed.shipment.shipment_id)
        for name, check in assessed.flows.items():
            item["flows"][name]["flow"] = name
            item["flows"][name]["matches"] = check.state == "agrees"
    return payload


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


def _shipment_row(assessed: ShipmentAssessment, report: OrderReport,
                  money: Callable[[int], str]) -> tuple[str, ...]:
    s = assessed.shipment
    order = report.order
    flows = assessed.flows
    lots = f"{len(s.lots)} lot{'s' if len(s.lots) != 1 else ''}" if s.lots else "no lots"
    receipt = {Receipt.NONE: "not received yet", Receipt.BUYER: f"received {s.received} (buyer)",
               Receipt.INSPECTION: f"received {s.received} (QC pass)",
               Receipt.ARBITER: f"accepted {s.received} (arbiter)"}[s.receipt]
    delivered = f"delivered {s.delivered}" if s.delivered else "not delivered yet"
    logistics = [f"shipped {s.shipped} ({lots})", f"{len(s.checkpoints)} checkpoint(s)", delivered, receipt]
    contract = [f"{s.received} x {money(order.unit_price)}" if s.receipt is not Receipt.NONE else "no receipt yet"]
    if s.invoice.name == "NONE":
        invoice = ["no invoice yet"]
    else:
        invoice = [f"{money(s.invoice_amount)} {s.invoice.name.lower()}", f"tax {money(s.invoice_tax)}"]
    due = s.received * order.unit_price
    funds = [f"due {money(due)}" if s.receipt is not Receipt.NONE else "due: after receipt",
             f"escrow {money(order.escrow)}"]
    if s.paid or s.retained:
        funds.append(f"paid {money(s.paid)} + retained {money(s.retained)}")
    outcome = assessed.outcome
    if outcome.startswith("settled"):
        outcome = "settled"
    return (f"#{s.number}", _cell(flows["contract"], contract), _cell(flows["logistics"], logistics),
            _cell(flows["invoice"], invoice, money), _cell(flows["funds"], funds, money), outcome)


def _show(client: SettlementClient, key: bytes, as_json: bool) -> None:
    report = client.report(key)
    if as_json:
        emit_json(_report_json(report))
        return
    order, funds = report.order, report.funds
    money = _money(client, order.token)
    ended = " · ended" if report.ended and order.status is OrderStatus.ACTIVE else ""
    console.print(f"[bold]order {order.order_id}[/bold]  {order.status.name}{ended}  key {order.key}")
    console.print(f"buyer {order.buyer}  supplier {order.supplier}  carrier {order.carrier}")
    retention = (f"retention {format_bps(order.retention_bps)} for {order.warranty_period // 86_400}d"
                 if order.retention_bps else "no retention")
    console.print(f"{order.quantity} x {money(order.unit_price)} = {money(order.total)} (token {order.token}) · "
                  f"{retention} · tolerance {format_bps(order.tolerance_bps)} · QC "
                  f"{'required' if order.qc_required else 'not required'}")
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
    table("four flows (✓ agrees · ✗ mismatch · … waiting)",
          ["", "contract 商流", "logistics 物流", "invoice 票流", "funds 资金流", "result"], rows)
    mark = "✓" if funds.balanced else "✗"
    console.print(f"funds: funded {money(funds.funded)} = paid {money(funds.paid)} + refunded "
                  f"{money(funds.refunded)} + escrow {money(funds.escrow)} + retention {money(funds.retention)} "
                  f"{mark}")
    if order.retention or order.release_at:
        console.print(f"retention {money(order.retention)}: releasable from {_when(order.release_at, report.now)}"
                      f"{f', held by {order.holds} quality claim(s)' if order.holds else ''}")
    if report.ended and order.escrow:
        console.print(f"refundable to the buyer now: {money(client.refundable(key))}")


def _load_order(client: SettlementClient, text: str) -> bytes:
    return client.resolve(text)


# ---------------------------------------------------------------------------------------------- commands


@click.group()
def order() -> None:
    """Supply orders settled when contract, logistics, invoice and funds agree (四流合一)."""


@order.command("create")
@click.option("--id", "number", required=True, help="Your order number, e.g. PO-2025-0042 (at most 32 bytes).")
@click.option("--buyer", required=True, help="Buyer address, or a development account index.")
@click.option("--supplier", required=True, help="Supplier address, or a development account index.")
@click.option("--carrier", required=True, help="Carrier address, or a development account index.")
@click.option("--quantity", type=click.IntRange(min=1, max=2**48 - 1), required=True, help="Units ordered.")
@click.option("--unit-price", required=True, help="Tax-inclusive price per unit in token units, e.g. 52.5.")
@click.option("--deadline", default="30d", show_default=True, help="Delivery deadline from now (12h, 30d, 2w).")
@click.option("--qc", is_flag=True, help="QC pass attestations of the shipped lots count as receipt.")
@click.option("--retention", default="0", show_default=True, help="Retention withheld per payment (5%, 250bps).")
@click.option("--warranty", default="0", show_default=True, help="Warranty period before the retention is released.")
@click.option("--tolerance", default="0", show_default=True,
              help="Allowed delivered/received difference (0.5%).")
@click.option("--line", "lines", multiple=True, metavar="NAME=VALUE",
              help="An order line field, committed with a fresh salt (repeatable).")
@click.option("--token", "token_address", default=None, help="Settlement token [default: the deployed one].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the order file (typed data to sign, opened lines) here.")
@click.option("--submit", is_flag=True,
              help="Sign as buyer and supplier (their keys must be accounts here) and submit at once.")
@click.option("--fund", "funding", default=None, help="With --submit: fund this much (or 'all') at creation.")
@network_options
@json_option
def create(number: str, buyer: str, supplier: str, carrier: str, quantity: int, unit_price: str, deadline: str,
           qc: bool, retention: str, warranty: str, tolerance: str, lines: tuple[str, ...],
           token_address: str | None, out: Path | None, submit: bool, funding: str | None, session: Session,
           as_json: bool) -> None:
    """Prepare an order both parties sign; write it to --out and/or --submit it."""
    if out is None and not submit:
        raise ConfigError("nothing to do: give --out FILE to write the order for signing, or --submit")
    if funding is not None and not submit:
        raise ConfigError("--fund needs --submit (fund a submitted order with `millchain order fund`)")
    client = _client(session)
    token = parse_address(token_address, what="--token") if token_address else session.address("SettlementToken")
    decimals = _decimals(client, token)
    fields = _fields(lines, "--line") or {"order": number}
    document = SaltedDocument.commit(fields)
    order_ = Order.build(
        order_id=order_id(number), buyer=_party(session, buyer, "--buyer"),
        supplier=_party(session, supplier, "--supplier"), carrier=_party(session, carrier, "--carrier"),
        token=token, lines_commitment=HexBytes(document.root), quantity=quantity,
        unit_price=parse_amount(unit_price, decimals, what="--unit-price"),
        delivery_deadline=client.now() + parse_duration(deadline, what="--deadline"), qc_required=qc,
        retention_bps=parse_bps(retention, what="--retention"),
        warranty_period=parse_duration(warranty, what="--warranty"),
        tolerance_bps=parse_bps(tolerance, what="--tolerance"))
    file = OrderFile.new(client.domain, order_, document)
    if submit:
        keys = {str(a.address): a for a in session.chain.accounts}
        for role, address in (("buyer", order_.buyer), ("supplier", order_.supplier)):
            if address not in keys:
                raise ConfigError(f"cannot sign as {role} {address}: no key for it here; write the order with "
                                  f"--out and have the {role} run `millchain order sign`")
            client.sign_file(file, keys[address], role=role)
    if out is not None:
        file.save(out)
        if not as_json:
            console.print(f"order {number} written to {out} (key {'0x' + order_.key.hex()}); "
                          "each party signs it with `millchain order sign`")
    if not submit:
        if as_json:
            emit_json({"order_key": "0x" + order_.key.hex(), "file": str(out),
                       "typed_data": file.typed_data})
        return
    amount = 0
    if funding is not None:
        amount = order_.total if funding == "all" else parse_amount(funding, decimals, what="--fund")
    key, outcome = client.submit(file, funding=amount)
    _report_outcome(client, key, outcome, f"created order {number}", as_json)
    if not as_json:
        _show(client, key, False)


@order.command("sign")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--as", "role", type=click.Choice(["buyer", "supplier"]), default=None,
              help="The party signing, when the key is the owner of a contract wallet that is the party.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write here instead of PATH.")
@network_options
@json_option
def sign(path: Path, role: str | None, out: Path | None, session: Session, as_json: bool) -> None:
    """Add your signature (as buyer or supplier) to the order file PATH.

    On a node the file must be for its deployment; on the embedded chain (fresh each run, deployed by whichever
    --account runs) the signature is made offline over the file's typed data as it stands."""
    document = OrderFile.load(path)
    if session.chain.embedded:
        signed_as = sign_order_file(document, session.tx.account, role=role)
        signer = session.tx.address
    else:
        client = _client(session)
        signed_as = client.sign_file(document, role=role)
        signer = client.address
    document.save(out or path)
    if as_json:
        emit_json({"signed_as": signed_as, "signatures": sorted(document.signatures),
                   "order_key": "0x" + document.key.hex()})
        return
    missing = sorted({"buyer", "supplier"} - set(document.signatures))
    then = f"; still missing: {', '.join(missing)}" if missing else "; ready: `millchain order submit`"
    console.print(f"signed as {signed_as} ({signer}) in {out or path}{then}")


@order.command("submit")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--fund", "funding", default=None, help="Fund this much (or 'all') in the same transaction.")
@network_options
@json_option
def submit(path: Path, funding: str | None, session: Session, as_json: bool) -> None:
    """Create the doubly signed order in PATH on-chain (anyone may submit it)."""
    client = _client(session)
    document = OrderFile.load(path)
    order_ = document.order
    amount = 0
    if funding is not None:
        decimals = _decimals(client, order_.token)
        amount = order_.total if funding == "all" else parse_amount(funding, decimals, what="--fund")
    key, outcome = client.submit(document, funding=amount)
    _report_outcome(client, key, outcome, f"created order {label_of(order_.order_id)}", as_json)


@order.command("fund")
@click.argument("order_ref", metavar="ORDER")
@click.argument("amount")
@click.option("--permit", is_flag=True, help="Sign an ERC-2612 permit instead of sending an approve first.")
@click.option("--settle", "settle_shipment", default=None, metavar="SHIPMENT",
              help="The shipment this pays for: it settles in the same transaction if its flows agree.")
@network_options
@json_option
def fund(order_ref: str, amount: str, permit: bool, settle_shipment: str | None, session: Session,
         as_json: bool) -> None:
    """Add AMOUNT (token units, or 'all' for what the order can still take) to the escrow of ORDER."""
    client = _client(session)
    key = _load_order(client, order_ref)
    view = client.get(key, events=False)
    value = (view.remaining * view.unit_price - view.escrow) if amount == "all" else \
        parse_amount(amount, _decimals(client, view.token), what="AMOUNT")
    shipment = client.shipment_ref(key, settle_shipment) if settle_shipment else 0
    _report_outcome(client, key, client.fund(key, value, settle_shipment=shipment, permit=permit), "funded",
                    as_json)


@order.command("ship")
@click.argument("order_ref", metavar="ORDER")
@click.option("--quantity", type=click.IntRange(min=1, max=2**48 - 1), required=True, help="Units shipped.")
@click.option("--lot", "lots", multiple=True, help="A lot id shipped (repeatable; required where QC is).")
@network_options
@json_option
def ship(order_ref: str, quantity: int, lots: tuple[str, ...], session: Session, as_json: bool) -> None:
    """(Carrier) goods leave for the buyer."""
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment, outcome = client.ship(key, quantity, [lot_id(lot) for lot in lots])
    _report_outcome(client, key, outcome, f"shipped as shipment {shipment >> 240} (id {shipment:#x})", as_json)


@order.command("checkpoint")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--field", "fields", multiple=True, required=True, metavar="NAME=VALUE",
              help="A checkpoint field (place, time, vehicle…), committed with a fresh salt (repeatable).")
@click.option("--save", type=click.Path(path_type=Path), default=None,
              help="Keep the opened checkpoint (values and salts) here for later disclosure.")
@network_options
@json_option
def checkpoint(order_ref: str, shipment_ref: str, fields: tuple[str, ...], save: Path | None, session: Session,
               as_json: bool) -> None:
    """(Carrier) record a checkpoint of a shipment in transit, as a commitment."""
    checked = _fields(fields, "--field")
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    document = _commit(checked, save)
    outcome = client.checkpoint(key, shipment, HexBytes(document.root))
    _report_outcome(client, key, outcome, f"checkpoint {document.root} recorded", as_json)


@order.command("deliver")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--quantity", type=click.IntRange(min=1, max=2**48 - 1), required=True, help="Units delivered.")
@network_options
@json_option
def deliver(order_ref: str, shipment_ref: str, quantity: int, session: Session, as_json: bool) -> None:
    """(Carrier) record the delivery of SHIPMENT."""
    client = _client(session)
    key = _load_order(client, order_ref)
    _report_outcome(client, key, client.deliver(key, client.shipment_ref(key, shipment_ref), quantity),
                    "delivered", as_json)


@order.command("receive")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--quantity", type=click.IntRange(min=0, max=2**48 - 1), default=None,
              help="(Buyer) units received; 0 rejects the shipment.")
@click.option("--inspection", is_flag=True,
              help="(Anyone) count the QC pass attestations of every lot of the shipment as its receipt.")
@network_options
@json_option
def receive(order_ref: str, shipment_ref: str, quantity: int | None, inspection: bool, session: Session,
            as_json: bool) -> None:
    """Confirm the receipt of SHIPMENT: as the buyer (--quantity) or from QC passes (--inspection)."""
    if (quantity is None) == (not inspection):
        raise ConfigError("give exactly one of --quantity N (as the buyer) or --inspection (QC passes)")
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    if inspection:
        outcome = client.confirm_receipt_by_inspection(key, shipment)
    else:
        assert quantity is not None
        outcome = client.confirm_receipt(key, shipment, quantity)
    _report_outcome(client, key, outcome, "receipt confirmed", as_json)


@order.command("invoice")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--amount", required=True, help="Tax-inclusive amount in token units.")
@click.option("--tax", default="0", show_default=True, help="Tax included in the amount.")
@click.option("--number", default=None, help="The e-invoice number (committed as field 'number').")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="Another e-invoice field (seller/buyer tax ids, items…), committed (repeatable).")
@click.option("--save", type=click.Path(path_type=Path), default=None,
              help="Keep the opened invoice document (values and salts) here.")
@network_options
@json_option
def invoice(order_ref: str, shipment_ref: str, amount: str, tax: str, number: str | None, fields: tuple[str, ...],
            save: Path | None, session: Session, as_json: bool) -> None:
    """(Supplier) submit SHIPMENT's invoice: its amount in clear, the e-invoice as a commitment."""
    extra = _fields(fields, "--field")
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    decimals = _decimals(client, client.get(key, events=False).token)
    value = parse_amount(amount, decimals, what="--amount")
    tax_value = parse_amount(tax, decimals, what="--tax")
    document_fields: dict[str, FieldValue] = {"amount": value, "tax": tax_value}
    if number is not None:
        document_fields["number"] = number
    for name, field_value in extra.items():
        if name in document_fields:
            raise ConfigError(f"--field {name!r} clashes with --amount/--tax/--number")
        document_fields[name] = field_value
    document = _commit(document_fields, save)
    outcome = client.submit_invoice(key, shipment, value, tax_value, HexBytes(document.root))
    _report_outcome(client, key, outcome, "invoice submitted", as_json)


@order.command("verify-invoice")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--reject", is_flag=True, help="Reject the invoice instead of verifying it.")
@click.option("--reason", default=None, help="With --reject: the reason, committed as field 'reason'.")
@network_options
@json_option
def verify_invoice(order_ref: str, shipment_ref: str, reject: bool, reason: str | None, session: Session,
                   as_json: bool) -> None:
    """(Tax platform) verify (or --reject) SHIPMENT's submitted invoice; a verification may settle it."""
    if reason is not None and not reject:
        raise ConfigError("--reason goes with --reject")
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    if reject:
        commitment = HexBytes(SaltedDocument.commit({"reason": reason}).root) if reason else ZERO32
        _report_outcome(client, key, client.reject_invoice(key, shipment, commitment), "invoice rejected", as_json)
    else:
        _report_outcome(client, key, client.verify_invoice(key, shipment), "invoice verified", as_json)


@order.command("settle")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@network_options
@json_option
def settle(order_ref: str, shipment_ref: str, session: Session, as_json: bool) -> None:
    """Retry the settlement of SHIPMENT (it normally happens by itself); names the flow still missing."""
    client = _client(session)
    key = _load_order(client, order_ref)
    _report_outcome(client, key, client.settle(key, client.shipment_ref(key, shipment_ref)), "settle", as_json)


@order.command("release")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def release(order_ref: str, session: Session, as_json: bool) -> None:
    """Pay ORDER's retention to the supplier once the warranty has passed and no claim holds it."""
    client = _client(session)
    key = _load_order(client, order_ref)
    _report_outcome(client, key, client.release_retention(key), "retention released", as_json)


@order.command("refund")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def refund(order_ref: str, session: Session, as_json: bool) -> None:
    """Return to the buyer the escrow delivered shipments do not reserve, once ORDER has ended."""
    client = _client(session)
    key = _load_order(client, order_ref)
    _report_outcome(client, key, client.refund(key), "refunded", as_json)


@order.command("claim")
@click.argument("order_ref", metavar="ORDER")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--shipment", "shipment_ref", default=None, help="The shipment that carried the lot [default: found].")
@network_options
@json_option
def claim(order_ref: str, claim_id: int, shipment_ref: str | None, session: Session, as_json: bool) -> None:
    """Apply quality claim CLAIM_ID on one of ORDER's lots to its retention (hold, draw or lift)."""
    client = _client(session)
    key = _load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref) if shipment_ref else None
    outcome = client.apply_quality_claim(key, claim_id, shipment)
    _report_outcome(client, key, outcome, f"claim {claim_id} applied ({', '.join(outcome.events)})", as_json)


@order.command("void")
@click.option("--id", "number", required=True, help="The order number to burn.")
@click.option("--buyer", required=True, help="Buyer address, or a development account index.")
@click.option("--supplier", required=True, help="Supplier address, or a development account index.")
@network_options
def void(number: str, buyer: str, supplier: str, session: Session) -> None:
    """(Buyer or supplier) burn an order number before it is submitted: its signatures become useless."""
    outcome = _client(session).void(_party(session, buyer, "--buyer"), _party(session, supplier, "--supplier"),
                                    order_id(number))
    console.print(f"order {number} voided: tx {outcome.tx_hash}")


@order.command("arbitrate")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT", required=False)
@click.option("--accept", "accepted", type=click.IntRange(min=0, max=2**48 - 1), default=None,
              help="Units of SHIPMENT to be paid for (waives the logistics check).")
@click.option("--retention-to-buyer", default=None, help="Split the retention now: this much to the buyer.")
@click.option("--ruling", default=None, help="The ruling, committed as field 'ruling'.")
@network_options
@json_option
def arbitrate(order_ref: str, shipment_ref: str | None, accepted: int | None, retention_to_buyer: str | None,
              ruling: str | None, session: Session, as_json: bool) -> None:
    """(Arbiter) rule a shipment's accepted quantity (SHIPMENT --accept N) or split the retention."""
    if (accepted is None) == (retention_to_buyer is None):
        raise ConfigError("give exactly one of SHIPMENT --accept N or --retention-to-buyer AMOUNT")
    client = _client(session)
    key = _load_order(client, order_ref)
    commitment = HexBytes(SaltedDocument.commit({"ruling": ruling}).root) if ruling else ZERO32
    if accepted is not None:
        if shipment_ref is None:
            raise ConfigError("--accept needs the SHIPMENT it rules on")
        outcome = client.arbitrate_shipment(key, client.shipment_ref(key, shipment_ref), accepted, commitment)
    else:
        assert retention_to_buyer is not None
        decimals = _decimals(client, client.get(key, events=False).token)
        outcome = client.arbitrate_retention(
            key, parse_amount(retention_to_buyer, decimals, what="--retention-to-buyer"), commitment)
    _report_outcome(client, key, outcome, "ruled", as_json)


@order.command("close")
@click.argument("order_ref", metavar="ORDER")
@click.option("--ruling", default=None, help="The ruling, committed as field 'ruling'.")
@network_options
@json_option
def close(order_ref: str, ruling: str | None, session: Session, as_json: bool) -> None:
    """(Arbiter) end ORDER now: nothing more ships or is delivered, the buyer may be refunded."""
    client = _client(session)
    key = _load_order(client, order_ref)
    commitment = HexBytes(SaltedDocument.commit({"ruling": ruling}).root) if ruling else ZERO32
    _report_outcome(client, key, client.close_order(key, commitment), "closed", as_json)


@order.command("show")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def show(order_ref: str, session: Session, as_json: bool) -> None:
    """The four flows of ORDER side by side: each shipment's state and which amounts match."""
    client = _client(session)
    _show(client, _load_order(client, order_ref), as_json)
