"""millchain order ship | checkpoint | deliver | receive: the logistics flow (物流)."""

from __future__ import annotations

from pathlib import Path

import click
from hexbytes import HexBytes

from millchain.cli.common import json_option, network_options
from millchain.cli.order.common import commit_fields, load_order, parse_fields, report_outcome, settlement_client
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    lot_id,
)


@click.command("ship")
@click.argument("order_ref", metavar="ORDER")
@click.option("--quantity", type=click.IntRange(min=1, max=2**48 - 1), required=True, help="Units shipped.")
@click.option("--lot", "lots", multiple=True, help="A lot id shipped (repeatable; required where QC is).")
@network_options
@json_option
def ship(order_ref: str, quantity: int, lots: tuple[str, ...], session: Session, as_json: bool) -> None:
    """(Carrier) goods leave for the buyer."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment, outcome = client.ship(key, quantity, [lot_id(lot) for lot in lots])
    report_outcome(client, key, outcome, f"shipped as shipment {shipment >> 240} (id {shipment:#x})", as_json)


@click.command("checkpoint")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option(
    "--field",
    "fields",
    multiple=True,
    required=True,
    metavar="NAME=VALUE",
    help="A checkpoint field (place, time, vehicle…), committed with a fresh salt (repeatable).",
)
@click.option(
    "--save",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the opened checkpoint (values and salts) here for later disclosure.",
)
@network_options
@json_option
def checkpoint(
    order_ref: str, shipment_ref: str, fields: tuple[str, ...], save: Path | None, session: Session, as_json: bool
) -> None:
    """(Carrier) record a checkpoint of a shipment in transit, as a commitment."""
    checked = parse_fields(fields, "--field")
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    document = commit_fields(checked, save)
    outcome = client.checkpoint(key, shipment, HexBytes(document.root))
    report_outcome(client, key, outcome, f"checkpoint {document.root} recorded", as_json)


@click.command("deliver")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option("--quantity", type=click.IntRange(min=1, max=2**48 - 1), required=True, help="Units delivered.")
@network_options
@json_option
def deliver(order_ref: str, shipment_ref: str, quantity: int, session: Session, as_json: bool) -> None:
    """(Carrier) record the delivery of SHIPMENT."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    report_outcome(
        client, key, client.deliver(key, client.shipment_ref(key, shipment_ref), quantity), "delivered", as_json
    )


@click.command("receive")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@click.option(
    "--quantity",
    type=click.IntRange(min=0, max=2**48 - 1),
    default=None,
    help="(Buyer) units received; 0 rejects the shipment.",
)
@click.option(
    "--inspection",
    is_flag=True,
    help="(Anyone) count the QC pass attestations of every lot of the shipment as its receipt.",
)
@network_options
@json_option
def receive(
    order_ref: str, shipment_ref: str, quantity: int | None, inspection: bool, session: Session, as_json: bool
) -> None:
    """Confirm the receipt of SHIPMENT: as the buyer (--quantity) or from QC passes (--inspection)."""
    if (quantity is None) == (not inspection):
        raise ConfigError("give exactly one of --quantity N (as the buyer) or --inspection (QC passes)")
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref)
    if inspection:
        outcome = client.confirm_receipt_by_inspection(key, shipment)
    else:
        assert quantity is not None
        outcome = client.confirm_receipt(key, shipment, quantity)
    report_outcome(client, key, outcome, "receipt confirmed", as_json)
