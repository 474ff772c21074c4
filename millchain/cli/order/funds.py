"""millchain order settle | release | refund | claim: the funds flow (资金流)."""

from __future__ import annotations

import click

from millchain.cli.common import json_option, network_options
from millchain.cli.order.common import load_order, report_outcome, settlement_client
from millchain.session import Session


@click.command("settle")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT")
@network_options
@json_option
def settle(order_ref: str, shipment_ref: str, session: Session, as_json: bool) -> None:
    """Retry the settlement of SHIPMENT (it normally happens by itself); names the flow still missing."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    report_outcome(client, key, client.settle(key, client.shipment_ref(key, shipment_ref)), "settle", as_json)


@click.command("release")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def release(order_ref: str, session: Session, as_json: bool) -> None:
    """Pay ORDER's retention to the supplier once the warranty has passed and no claim holds it."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    report_outcome(client, key, client.release_retention(key), "retention released", as_json)


@click.command("refund")
@click.argument("order_ref", metavar="ORDER")
@network_options
@json_option
def refund(order_ref: str, session: Session, as_json: bool) -> None:
    """Return to the buyer the escrow delivered shipments do not reserve, once ORDER has ended."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    report_outcome(client, key, client.refund(key), "refunded", as_json)


@click.command("claim")
@click.argument("order_ref", metavar="ORDER")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--shipment", "shipment_ref", default=None, help="The shipment that carried the lot [default: found].")
@network_options
@json_option
def claim(order_ref: str, claim_id: int, shipment_ref: str | None, session: Session, as_json: bool) -> None:
    """Apply quality claim CLAIM_ID on one of ORDER's lots to its retention (hold, draw or lift)."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    shipment = client.shipment_ref(key, shipment_ref) if shipment_ref else None
    outcome = client.apply_quality_claim(key, claim_id, shipment)
    report_outcome(client, key, outcome, f"claim {claim_id} applied ({', '.join(outcome.events)})", as_json)
