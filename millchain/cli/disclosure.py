"""millchain commit | disclose | verify-disclosure — business documents stay private, fields disclosed alone.

A document (inspection report, invoice, order lines) is committed as a Merkle root over individually salted
fields; its owner keeps the opened document (values and salts) and discloses one field at a time, with a
proof anyone can check against the root on chain, learning nothing about the other fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from millchain.cli.common import console, emit_json, json_option, network_options
from millchain.disclosure import Disclosure, SaltedDocument
from millchain.errors import ConfigError, MillchainError
from millchain.quality import QualityClient, lot_id
from millchain.session import Session
from millchain.settlement import SettlementClient


class DisclosureRejected(MillchainError):
    """A disclosed field does not match the commitment it claims to belong to."""


def _load_disclosure(path: Path) -> Disclosure:
    try:
        return Disclosure.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a disclosure file (from `millchain disclose`): {exc}") from exc


def _load_document(path: Path) -> SaltedDocument:
    """An opened document, or the order lines an order file (`millchain order create --out`) carries."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("lines"), dict):
        try:
            return SaltedDocument.model_validate(data["lines"])
        except ValueError as exc:
            raise ConfigError(f"{path}: its order lines are not an opened document: {exc}") from exc
    return SaltedDocument.load(path)


@click.command("commit")
@click.argument("fields_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to keep the opened document (values and salts: private to you).")
@json_option
def commit_command(fields_file: Path, out: Path, as_json: bool) -> None:
    """Commit to FIELDS_FILE (a JSON object of field -> text or integer) with a fresh salt per field."""
    try:
        fields = json.loads(fields_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{fields_file} is not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise ConfigError(f"{fields_file} must hold a JSON object of field names to values")
    document = SaltedDocument.commit(fields)
    document.save(out)
    if as_json:
        emit_json({"root": document.root, "fields": sorted(document.fields), "opened": str(out)})
    else:
        console.print(f"root {document.root} over {len(document.fields)} fields; opened document kept in {out}")


@click.command("disclose")
@click.argument("document", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("field")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the disclosure here [default: print it].")
def disclose_command(document: Path, field: str, out: Path | None) -> None:
    """Disclose FIELD of the opened DOCUMENT (or of the order lines in an order file): its value, salt and Merkle
    proof, nothing else."""
    disclosure = _load_document(document).disclose(field)
    text = disclosure.model_dump_json(indent=2)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"{field} = {disclosure.value_text!r} disclosed to {out}")


@click.command("verify-disclosure")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--root", default=None, help="The commitment to check against [default: the one in the file].")
@click.option("--lot", "lot_label", default=None,
              help="Check against this lot's commitments on chain (its data and its inspection reports).")
@click.option("--order", "order_ref", default=None,
              help="Have the settlement contract check it against this order's documents (its order lines, "
                   "or an invoice): the order key, its order file, or its order id.")
@click.option("--shipment", default=None,
              help="With --order: the field is of the invoice for this shipment (number or id).")
@network_options
@json_option
def verify_disclosure_command(path: Path, root: str | None, lot_label: str | None, order_ref: str | None,
                              shipment: str | None, session: Session, as_json: bool) -> None:
    """Check a disclosed field against a commitment: a root, a lot's commitments, or an order's documents on
    chain."""
    disclosure = _load_disclosure(path)
    if shipment is not None and order_ref is None:
        raise ConfigError("--shipment names an invoice of an order: give --order too")
    if lot_label is not None:
        check = QualityClient(session).verify_report(path, lot_id(lot_label))
        # Unmatched means the lot has commitments and this field is in none of them: altered, or another lot's.
        ok, against = check.ok, (f"lot {lot_label} ({', '.join(check.matched)})" if check.matched else
                                 f"any commitment of lot {lot_label} (its value or salt was altered, or it "
                                 "belongs to another lot)")
    elif order_ref is not None:
        client = SettlementClient(session)
        key = client.resolve(order_ref)
        sid = client.shipment_ref(key, shipment) if shipment is not None else None
        document = client.verify_disclosure(key, disclosure, shipment=sid)
        ok, against = document.ok, f"{document.document} (checked on chain)"
    else:
        ok, against = disclosure.verify(root), root or disclosure.root
    if as_json:
        emit_json({"field": disclosure.name, "value": disclosure.value_text, "verified": ok, "against": against})
    if not ok:
        raise DisclosureRejected(f"{disclosure.name} = {disclosure.value_text!r} does not match {against}")
    if not as_json:
        console.print(f"verified: {disclosure.name} = {disclosure.value_text!r} belongs to {against}")
