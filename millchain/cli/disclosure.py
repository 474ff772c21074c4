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


class DisclosureRejected(MillchainError):
    """A disclosed field does not match the commitment it claims to belong to."""


def _load_disclosure(path: Path) -> Disclosure:
    try:
        return Disclosure.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a disclosure file (from `millchain disclose`): {exc}") from exc


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
    """Disclose FIELD of the opened DOCUMENT: its value, salt and Merkle proof, nothing else."""
    disclosure = SaltedDocument.load(document).disclose(field)
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
@network_options
@json_option
def verify_disclosure_command(path: Path, root: str | None, lot_label: str | None, session: Session,
                              as_json: bool) -> None:
    """Check a disclosed field against a commitment: a root, or a lot's commitments on chain."""
    disclosure = _load_disclosure(path)
    if lot_label is not None:
        check = QualityClient(session).verify_report(path, lot_id(lot_label))
        ok, against = check.ok, f"lot {lot_label} ({', '.join(check.matched) or 'no commitment'})"
    else:
        ok, against = disclosure.verify(root), root or disclosure.root
    if as_json:
        emit_json({"field": disclosure.name, "value": disclosure.value_text, "verified": ok, "against": against})
    if not ok:
        raise DisclosureRejected(f"{disclosure.name} = {disclosure.value_text!r} does not match {against}")
    if not as_json:
        console.print(f"verified: {disclosure.name} = {disclosure.value_text!r} belongs to {against}")
