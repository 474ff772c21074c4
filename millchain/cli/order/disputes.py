"""millchain order arbitrate | close: disputes ruled by the arbiter."""

from __future__ import annotations

import click
from hexbytes import HexBytes

from millchain.cli.common import json_option, network_options
from millchain.cli.order.common import load_order, report_outcome, settlement_client, token_decimals
from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    ZERO32,
)
from millchain.units import parse_amount


@click.command("arbitrate")
@click.argument("order_ref", metavar="ORDER")
@click.argument("shipment_ref", metavar="SHIPMENT", required=False)
@click.option(
    "--accept",
    "accepted",
    type=click.IntRange(min=0, max=2**48 - 1),
    default=None,
    help="Units of SHIPMENT to be paid for (waives the logistics check).",
)
@click.option("--retention-to-buyer", default=None, help="Split the retention now: this much to the buyer.")
@click.option("--ruling", default=None, help="The ruling, committed as field 'ruling'.")
@network_options
@json_option
def arbitrate(
    order_ref: str,
    shipment_ref: str | None,
    accepted: int | None,
    retention_to_buyer: str | None,
    ruling: str | None,
    session: Session,
    as_json: bool,
) -> None:
    """(Arbiter) rule a shipment's accepted quantity (SHIPMENT --accept N) or split the retention."""
    if (accepted is None) == (retention_to_buyer is None):
        raise ConfigError("give exactly one of SHIPMENT --accept N or --retention-to-buyer AMOUNT")
    client = settlement_client(session)
    key = load_order(client, order_ref)
    commitment = HexBytes(SaltedDocument.commit({"ruling": ruling}).root) if ruling else ZERO32
    if accepted is not None:
        if shipment_ref is None:
            raise ConfigError("--accept needs the SHIPMENT it rules on")
        outcome = client.arbitrate_shipment(key, client.shipment_ref(key, shipment_ref), accepted, commitment)
    else:
        assert retention_to_buyer is not None
        decimals = token_decimals(client, client.get(key, events=False).token)
        outcome = client.arbitrate_retention(
            key, parse_amount(retention_to_buyer, decimals, what="--retention-to-buyer"), commitment
        )
    report_outcome(client, key, outcome, "ruled", as_json)


@click.command("close")
@click.argument("order_ref", metavar="ORDER")
@click.option("--ruling", default=None, help="The ruling, committed as field 'ruling'.")
@network_options
@json_option
def close(order_ref: str, ruling: str | None, session: Session, as_json: bool) -> None:
    """(Arbiter) end ORDER now: nothing more ships or is delivered, the buyer may be refunded."""
    client = settlement_client(session)
    key = load_order(client, order_ref)
    commitment = HexBytes(SaltedDocument.commit({"ruling": ruling}).root) if ruling else ZERO32
    report_outcome(client, key, client.close_order(key, commitment), "closed", as_json)
