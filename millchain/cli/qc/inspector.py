"""millchain qc inspector: accreditation of inspectors."""

from __future__ import annotations

import click

from millchain.cli.common import json_option, network_options
from millchain.cli.qc.common import quality_client, receipt_line, show_model
from millchain.quality import (
    NO_EXPIRY,
    org_id,
    parse_address,
    parse_duration,
)
from millchain.session import Session


@click.group()
def inspector() -> None:
    """Inspector accreditation (accreditor): accredit, suspend, restore, revoke, show."""


@inspector.command("accredit")
@click.argument("address")
@click.option("--org", "org_label", required=True, help="The inspection body the inspector works for.")
@click.option(
    "--valid-for",
    default=None,
    metavar="DURATION",
    help="Accreditation length from now, e.g. 365d [default: no expiry].",
)
@network_options
@json_option
def inspector_accredit(address: str, org_label: str, valid_for: str | None, session: Session, as_json: bool) -> None:
    """Accredit ADDRESS (an EOA or an ERC-1271 contract wallet) for --org, or renew it."""
    client = quality_client(session)
    valid_until = NO_EXPIRY
    if valid_for is not None:
        now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
        valid_until = now + parse_duration(valid_for)
    receipt_line(
        client.accredit(parse_address(address, what="inspector"), org_id(org_label), valid_until=valid_until), as_json
    )
    show_model(f"inspector {address}", client.inspector(address), as_json)


def _inspector_change(name: str, doc: str) -> None:
    @inspector.command(name, help=doc)
    @click.argument("address")
    @network_options
    @json_option
    def change(address: str, session: Session, as_json: bool) -> None:
        client = quality_client(session)
        receipt_line(getattr(client, name)(parse_address(address, what="inspector")), as_json)
        show_model(f"inspector {address}", client.inspector(address), as_json)


_inspector_change("suspend", "Suspend ADDRESS's accreditation (accreditor).")
_inspector_change("restore", "Restore ADDRESS's suspended accreditation (accreditor).")
_inspector_change("revoke", "Revoke ADDRESS's accreditation for good (accreditor).")


@inspector.command("show")
@click.argument("address")
@network_options
@json_option
def inspector_show(address: str, session: Session, as_json: bool) -> None:
    """Show ADDRESS's accreditation and whether it may attest now."""
    show_model(
        f"inspector {address}", quality_client(session).inspector(parse_address(address, what="inspector")), as_json
    )
