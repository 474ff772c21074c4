"""millchain order invoice | verify-invoice: the invoice flow (票流)."""

from __future__ import annotations

from pathlib import Path

import click
from hexbytes import HexBytes

from millchain.cli.common import json_option, network_options
from millchain.cli.order.common import (
    commit_fields,
    load_order,
    parse_fields,
    report_outcome,
    settlement_client,
    token_decimals,
)
from millchain.disclosure import FieldValue, SaltedDocument
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    ZERO32,
)
from millchain.units import parse_amount


@click.command("invoice")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--amount", required=True, help="Tax-inclusive amount in token units.")
@click.option("--tax", default="0", show_default=True, help="Tax included in the amount.")
@click.option("--number", default=None, help="The e-invoice number (committed as field 'number').")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="NAME=VALUE",
    help="Another e-invoice field (seller/buyer tax ids, items…), committed (repeatable).",
)
@click.option(
    "--save",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the opened invoice document (values and salts) here.",
)
@network_options
@json_option
def invoice(
    order_ref: str,
    shipment_ref: str,
    amount: str,
    tax: str,
    number: str | None,
    fields: tuple[str, ...],
    save: Path | None,
    session: Session,
    as_json: bool,
) -> None:
    """(Supplier) submit SHIPMENT's invoice: its amount in clear, the e-invoice as a commitment."""
    extra = parse_fields(fields, "--field")
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    decimals = token_decimals(client, client.get(key, events=False).token)
    value = parse_amount(amount, decimals, what="--amount")
    tax_value = parse_amount(tax, decimals, what="--tax")
    document_fields: dict[str, FieldValue] = {"amount": value, "tax": tax_value}
    if number is not None:
        document_fields["number"] = number
    for name, field_value in extra.items():
        if name in document_fields:
            raise ConfigError(f"--field {name!r} clashes with --amount/--tax/--number")
        document_fields[name] = field_value
    document = commit_fields(document_fields, save)
    outcome = client.submit_invoice(key, shipment, value, tax_value, HexBytes(document.root))
    report_outcome(client, key, outcome, "invoice submitted", as_json)


@click.command("verify-invoice")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--reject", is_flag=True, help="Reject the invoice instead of verifying it.")
@click.option("--reason", default=None, help="With --reject: the reason, committed as field 'reason'.")
@network_options
@json_option
def verify_invoice(
    order_ref: str, shipment_ref: str, reject: bool, reason: str | None, session: Session, as_json: bool
) -> None:
    """(Tax platform) verify (or --reject) SHIPMENT's submitted invoice; a verification may settle it."""
    if reason is not None and not reject:
        raise ConfigError("--reason goes with --reject")
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    if reject:
        commitment = HexBytes(SaltedDocument.commit({"reason": reason}).root) if reason else ZERO32
        report_outcome(client, key, client.reject_invoice(key, shipment, commitment), "invoice rejected", as_json)
    else:
        report_outcome(client, key, client.verify_invoice(key, shipment), "invoice verified", as_json)
