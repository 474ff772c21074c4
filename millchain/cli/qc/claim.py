"""millchain qc claim | dispute | rule: claims against quality bonds."""

from __future__ import annotations

import click

from millchain.cli.common import emit_json, json_option, network_options, table
from millchain.cli.qc.common import maybe_commitment, quality_client, receipt_line
from millchain.quality import (
    AlertRef,
    QualityClient,
    format_amount,
    lot_id,
    parse_amount,
)
from millchain.session import Session


def _show_claim(client: QualityClient, claim_id: int, as_json: bool) -> None:
    record = client.claim(claim_id)
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    rows = [(k, v.name if hasattr(v, "name") else v) for k, v in record.model_dump().items()]
    rows = [(k, format_amount(v) if k in ("amount", "paid") else v) for k, v in rows]
    table(f"claim #{claim_id}", ["field", "value"], rows)


@click.group()
def claim() -> None:
    """Claims against suppliers' bonds: file, show, list, accept, execute, withdraw."""


@claim.command("file")
@click.argument("alert_ref", metavar="LOT#SEQ")
@click.option(
    "--consumer-lot",
    default=None,
    metavar="LOT",
    help="The sender's organisation's lot that consumed LOT [default: found from the lineage].",
)
@network_options
@json_option
def claim_file(alert_ref: str, consumer_lot: str | None, session: Session, as_json: bool) -> None:
    """File a claim on the failed attestation LOT#SEQ as the buyer (sender's organisation)."""
    client = quality_client(session)
    claim_id, receipt = client.file_claim(AlertRef.parse(alert_ref), lot_id(consumer_lot) if consumer_lot else None)
    receipt_line(receipt, as_json)
    _show_claim(client, claim_id, as_json)


def _claim_action(name: str, method: str, doc: str) -> None:
    @claim.command(name, help=doc)
    @click.argument("claim_id", type=click.IntRange(min=1))
    @network_options
    @json_option
    def action(claim_id: int, session: Session, as_json: bool) -> None:
        client = quality_client(session)
        receipt_line(getattr(client, method)(claim_id), as_json)
        _show_claim(client, claim_id, as_json)


_claim_action("accept", "accept_claim", "Accept CLAIM_ID and pay it from the bond at once (supplier's admin).")
_claim_action("execute", "execute_claim", "Pay an undisputed CLAIM_ID after its dispute window (anyone).")
_claim_action("withdraw", "withdraw_claim", "Withdraw CLAIM_ID (claimant's member).")


@claim.command("show")
@click.argument("claim_id", type=click.IntRange(min=1))
@network_options
@json_option
def claim_show(claim_id: int, session: Session, as_json: bool) -> None:
    """Show CLAIM_ID."""
    _show_claim(quality_client(session), claim_id, as_json)


@claim.command("list")
@network_options
@json_option
def claim_list(session: Session, as_json: bool) -> None:
    """List every claim."""
    found = quality_client(session).claims()
    if as_json:
        emit_json([c.model_dump(mode="json") for c in found])
        return
    table(
        "claims",
        ["#", "lot", "claimant", "supplier", "amount", "paid", "status", "deadline"],
        [
            (
                c.claim_id,
                f"{c.lot_id}#{c.seq}",
                c.claimant,
                c.supplier,
                format_amount(c.amount),
                format_amount(c.paid),
                c.status.name,
                c.deadline,
            )
            for c in found
        ],
    )


@click.command("dispute")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--reason", default=None, help="32-byte commitment to the grounds (e.g. a salted document's root).")
@network_options
@json_option
def dispute(claim_id: int, reason: str | None, session: Session, as_json: bool) -> None:
    """Dispute CLAIM_ID within its window (a member of the supplier)."""
    client = quality_client(session)
    receipt_line(client.dispute_claim(claim_id, maybe_commitment(reason)), as_json)
    _show_claim(client, claim_id, as_json)


@click.command("rule")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--award", required=True, help="Amount awarded to the claimant (0 rejects), e.g. 120.")
@click.option("--ruling", default=None, help="32-byte commitment to the ruling document.")
@network_options
@json_option
def rule(claim_id: int, award: str, ruling: str | None, session: Session, as_json: bool) -> None:
    """Rule on disputed CLAIM_ID (arbiter): pay --award, release the rest."""
    client = quality_client(session)
    receipt_line(client.rule_claim(claim_id, parse_amount(award), maybe_commitment(ruling)), as_json)
    _show_claim(client, claim_id, as_json)
