"""millchain qc bond: quality bonds and their terms."""

from __future__ import annotations

import click

from millchain.cli.common import emit_json, json_option, network_options, table
from millchain.cli.qc.common import quality_client, receipt_line
from millchain.quality import (
    QualityClient,
    Terms,
    format_amount,
    org_id,
    parse_address,
    parse_amount,
    parse_duration,
    product_id,
)
from millchain.session import Session


@click.group()
def bond() -> None:
    """Quality bonds per supplier and product line (amounts in mUSD, e.g. 2500 or 12.5)."""


def _show_bond(client: QualityClient, org_label: str, product: str, as_json: bool) -> None:
    record = client.bond(org_id(org_label), product_id(product))
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    t, p = record.terms, record.pending_terms
    rows = [
        ("balance", format_amount(record.balance)),
        ("locked by claims", format_amount(record.locked)),
        ("free", format_amount(record.free)),
        (
            "terms",
            f"{format_amount(t.penalty_per_defect)} per defect, cap {format_amount(t.claim_cap)}, "
            f"dispute window {t.dispute_window} s"
            if t.dispute_window
            else "none",
        ),
    ]
    if record.terms_effective_at:
        rows.append(
            (
                "pending terms",
                f"{format_amount(p.penalty_per_defect)} per defect, cap "
                f"{format_amount(p.claim_cap)}, window {p.dispute_window} s from "
                f"{record.terms_effective_at}",
            )
        )
    if record.withdrawal_amount:
        rows.append(
            (
                "pending withdrawal",
                f"{format_amount(record.withdrawal_amount)} to {record.withdrawal_to} from {record.unlock_at}",
            )
        )
    table(f"bond {org_label} / {product}", ["field", "value"], rows)


@bond.command("deposit")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.argument("amount")
@network_options
@json_option
def bond_deposit(org_label: str, product: str, amount: str, session: Session, as_json: bool) -> None:
    """Deposit AMOUNT into ORG's bond for PRODUCT (approves the token first if needed)."""
    client = quality_client(session)
    receipt_line(client.deposit(org_id(org_label), product_id(product), parse_amount(amount)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("terms")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.option("--penalty", required=True, help="Per defective unit, e.g. 25.")
@click.option("--cap", required=True, help="Most one claim can take, e.g. 2000.")
@click.option("--window", required=True, help="Time the supplier has to dispute, e.g. 3d.")
@network_options
@json_option
def bond_terms(
    org_label: str, product: str, penalty: str, cap: str, window: str, session: Session, as_json: bool
) -> None:
    """Set the terms ORG's bond for PRODUCT backs (ORG's admin; changes wait the withdrawal delay)."""
    client = quality_client(session)
    terms = Terms(
        penalty_per_defect=parse_amount(penalty), claim_cap=parse_amount(cap), dispute_window=parse_duration(window)
    )
    receipt_line(client.set_terms(org_id(org_label), product_id(product), terms), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("withdraw")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.argument("amount")
@click.option("--to", default=None, help="Recipient, fixed now [default: the sender].")
@network_options
@json_option
def bond_withdraw(org_label: str, product: str, amount: str, to: str | None, session: Session, as_json: bool) -> None:
    """Request a withdrawal of AMOUNT (ORG's admin); executable once the time lock ends."""
    client = quality_client(session)
    receipt = client.request_withdrawal(
        org_id(org_label), product_id(product), parse_amount(amount), parse_address(to, what="--to") if to else None
    )
    receipt_line(receipt, as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("cancel-withdrawal")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_cancel(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Cancel the pending withdrawal (ORG's admin)."""
    client = quality_client(session)
    receipt_line(client.cancel_withdrawal(org_id(org_label), product_id(product)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("execute-withdrawal")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_execute(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Pay out the pending withdrawal once unlocked (anyone)."""
    client = quality_client(session)
    receipt_line(client.execute_withdrawal(org_id(org_label), product_id(product)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("show")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_show(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Show ORG's bond for PRODUCT: balance, locked, terms, pending changes."""
    _show_bond(quality_client(session), org_label, product, as_json)
