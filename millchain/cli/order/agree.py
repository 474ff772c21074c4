"""millchain order create | sign | submit | fund | void: the order both parties sign, and its escrow."""

from __future__ import annotations

from pathlib import Path

import click
from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, json_option, network_options
from millchain.cli.order.common import (
    load_order,
    parse_fields,
    party_address,
    report_outcome,
    settlement_client,
    token_decimals,
)
from millchain.cli.order.show import show_order
from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    Order,
    OrderFile,
    order_id,
    parse_address,
    parse_bps,
    sign_order_file,
)
from millchain.types import label_of
from millchain.units import parse_amount, parse_duration


@click.command("create")
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
@click.option("--tolerance", default="0", show_default=True, help="Allowed delivered/received difference (0.5%).")
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="NAME=VALUE",
    help="An order line field, committed with a fresh salt (repeatable).",
)
@click.option("--token", "token_address", default=None, help="Settlement token [default: the deployed one].")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the order file (typed data to sign, opened lines) here.",
)
@click.option(
    "--submit", is_flag=True, help="Sign as buyer and supplier (their keys must be accounts here) and submit at once."
)
@click.option("--fund", "funding", default=None, help="With --submit: fund this much (or 'all') at creation.")
@network_options
@json_option
def create(
    number: str,
    buyer: str,
    supplier: str,
    carrier: str,
    quantity: int,
    unit_price: str,
    deadline: str,
    qc: bool,
    retention: str,
    warranty: str,
    tolerance: str,
    lines: tuple[str, ...],
    token_address: str | None,
    out: Path | None,
    submit: bool,
    funding: str | None,
    session: Session,
    as_json: bool,
) -> None:
    """Prepare an order both parties sign; write it to --out and/or --submit it."""
    if out is None and not submit:
        raise ConfigError("nothing to do: give --out FILE to write the order for signing, or --submit")
    if funding is not None and not submit:
        raise ConfigError("--fund needs --submit (fund a submitted order with `millchain order fund`)")
    client = settlement_client(session)
    token = parse_address(token_address, what="--token") if token_address else session.address("SettlementToken")
    decimals = token_decimals(client, token)
    fields = parse_fields(lines, "--line") or {"order": number}
    document = SaltedDocument.commit(fields)
    order_ = Order.build(
        order_id=order_id(number),
        buyer=party_address(session, buyer, "--buyer"),
        supplier=party_address(session, supplier, "--supplier"),
        carrier=party_address(session, carrier, "--carrier"),
        token=token,
        lines_commitment=HexBytes(document.root),
        quantity=quantity,
        unit_price=parse_amount(unit_price, decimals, what="--unit-price"),
        delivery_deadline=client.now() + parse_duration(deadline, what="--deadline"),
        qc_required=qc,
        retention_bps=parse_bps(retention, what="--retention"),
        warranty_period=parse_duration(warranty, what="--warranty"),
        tolerance_bps=parse_bps(tolerance, what="--tolerance"),
    )
    file = OrderFile.new(client.domain, order_, document)
    if submit:
        keys = {str(a.address): a for a in session.chain.accounts}
        for role, address in (("buyer", order_.buyer), ("supplier", order_.supplier)):
            if address not in keys:
                raise ConfigError(
                    f"cannot sign as {role} {address}: no key for it here; write the order with "
                    f"--out and have the {role} run `millchain order sign`"
                )
            client.sign_file(file, keys[address], role=role)
    if out is not None:
        file.save(out)
        if not as_json:
            console.print(
                f"order {number} written to {out} (key {'0x' + order_.key.hex()}); "
                "each party signs it with `millchain order sign`"
            )
    if not submit:
        if as_json:
            emit_json({"order_key": "0x" + order_.key.hex(), "file": str(out), "typed_data": file.typed_data})
        return
    amount = 0
    if funding is not None:
        amount = order_.total if funding == "all" else parse_amount(funding, decimals, what="--fund")
    key, outcome = client.submit(file, funding=amount)
    report_outcome(client, key, outcome, f"created order {number}", as_json)
    if not as_json:
        show_order(client, key, False)


@click.command("sign")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--as",
    "role",
    type=click.Choice(["buyer", "supplier"]),
    default=None,
    help="The party signing, when the key is the owner of a contract wallet that is the party.",
)
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
        client = settlement_client(session)
        signed_as = client.sign_file(document, role=role)
        signer = client.address
    document.save(out or path)
    if as_json:
        emit_json(
            {"signed_as": signed_as, "signatures": sorted(document.signatures), "order_key": "0x" + document.key.hex()}
        )
        return
    missing = sorted({"buyer", "supplier"} - set(document.signatures))
    then = f"; still missing: {', '.join(missing)}" if missing else "; ready: `millchain order submit`"
    console.print(f"signed as {signed_as} ({signer}) in {out or path}{then}")


@click.command("submit")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--fund", "funding", default=None, help="Fund this much (or 'all') in the same transaction.")
@network_options
@json_option
def submit(path: Path, funding: str | None, session: Session, as_json: bool) -> None:
    """Create the doubly signed order in PATH on-chain (anyone may submit it)."""
    client = settlement_client(session)
    document = OrderFile.load(path)
    order_ = document.order
    amount = 0
    if funding is not None:
        decimals = token_decimals(client, order_.token)
        amount = order_.total if funding == "all" else parse_amount(funding, decimals, what="--fund")
    key, outcome = client.submit(document, funding=amount)
    report_outcome(client, key, outcome, f"created order {label_of(order_.order_id)}", as_json)


@click.command("fund")
@click.argument("order_ref", metavar="ORDER")
@click.argument("amount")
@click.option("--permit", is_flag=True, help="Sign an ERC-2612 permit instead of sending an approve first.")
@click.option(
    "--settle",
    "settle_shipment",
    default=None,
    metavar="SHIPMENT",
    help="The shipment this pays for: it settles in the same transaction if its flows agree.",
)
@network_options
@json_option
def fund(
    order_ref: str, amount: str, permit: bool, settle_shipment: str | None, session: Session, as_json: bool
) -> None:
    """Add AMOUNT (token units, or 'all' for what the order can still take) to the escrow of ORDER."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    view = client.get(key, events=False)
    value = (
        (view.remaining * view.unit_price - view.escrow)
        if amount == "all"
        else parse_amount(amount, token_decimals(client, view.token), what="AMOUNT")
    )
    shipment = client.shipment_ref(key, settle_shipment) if settle_shipment else 0
    report_outcome(client, key, client.fund(key, value, settle_shipment=shipment, permit=permit), "funded", as_json)


@click.command("void")
@click.option("--id", "number", required=True, help="The order number to burn.")
@click.option("--buyer", required=True, help="Buyer address, or a development account index.")
@click.option("--supplier", required=True, help="Supplier address, or a development account index.")
@network_options
def void(number: str, buyer: str, supplier: str, session: Session) -> None:
    """(Buyer or supplier) burn an order number before it is submitted: its signatures become useless."""
    outcome = settlement_client(session).void(
        party_address(session, buyer, "--buyer"), party_address(session, supplier, "--supplier"), order_id(number)
    )
    console.print(f"order {number} voided: tx {outcome.tx_hash}")
