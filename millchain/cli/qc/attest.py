"""millchain qc attest | cancel-signed | relay | verify-report: inspection records and the documents behind them."""

from __future__ import annotations

from pathlib import Path

import click

from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.cli.qc.common import commit_fields, document_fields, quality_client, receipt_line, show_model
from millchain.errors import ConfigError
from millchain.quality import (
    Finding,
    Outcome,
    Severity,
    SignedAttestation,
    VerificationFailed,
    lot_id,
    parse_choice,
)
from millchain.session import Session
from millchain.types import label_of


@click.command("attest")
@click.argument("lot_label", metavar="LOT")
@click.option("--outcome", required=True, help="pass, conditional, fail, or none (an explicit alert).")
@click.option("--severity", default="none", show_default=True, help="none (pass only), minor, major, critical.")
@click.option(
    "--sample",
    "sample_size",
    type=click.IntRange(min=0, max=2**32 - 1),
    default=0,
    show_default=True,
    help="Units inspected.",
)
@click.option(
    "--defects", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True, help="Defective units found."
)
@click.option(
    "--supersedes",
    type=click.IntRange(min=0, max=2**32 - 1),
    default=0,
    help="Number of the attestation of LOT this one corrects.",
)
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="A field of the inspection report.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="JSON object of the report's fields.",
)
@click.option("--commitment", default=None, help="An existing 32-byte report commitment instead of fields.")
@click.option("--save", type=click.Path(path_type=Path, dir_okay=False), help="Where to keep the opened report.")
@click.option("--uri", default="", help="Where authorised readers fetch the report.")
@click.option(
    "--sign-only",
    "sign_only",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Sign for someone to relay (`qc relay FILE`) instead of sending.",
)
@click.option(
    "--nonce",
    type=click.IntRange(min=0, max=2**64 - 1),
    default=None,
    help="With --sign-only: the nonce to sign for (default: the inspector's next one on the ledger; "
    "one more per signature still waiting to be relayed).",
)
@network_options
@json_option
def attest(
    lot_label: str,
    outcome: str,
    severity: str,
    sample_size: int,
    defects: int,
    supersedes: int,
    fields: tuple[str, ...],
    report_file: Path | None,
    commitment: str | None,
    save: Path | None,
    uri: str,
    sign_only: Path | None,
    nonce: int | None,
    session: Session,
    as_json: bool,
) -> None:
    """Attest an inspection of LOT as the sender (an accredited inspector)."""
    client = quality_client(session)
    report = commit_fields(document_fields(fields, report_file), save, commitment)
    finding = Finding(
        lot=lot_id(lot_label),
        outcome=Outcome(parse_choice(Outcome, outcome, what="--outcome")),
        severity=Severity(parse_choice(Severity, severity, what="--severity")),
        sample_size=sample_size,
        defects=defects,
        supersedes=supersedes,
        report_commitment=report,
        uri=uri,
    )
    if nonce is not None and sign_only is None:
        raise ConfigError("--nonce only applies to a signature (--sign-only FILE); `qc attest` sends no nonce")
    if sign_only is not None:
        signed = client.sign_attestation(finding, nonce=nonce)
        sign_only.write_text(signed.model_dump_json(indent=2), encoding="utf-8")
        if as_json:
            emit_json(signed.model_dump(mode="json"))
        else:
            console.print(
                f"signed an attestation of {label_of(finding.lot)} with nonce {signed.nonce} -> "
                f"{sign_only} (valid until {signed.deadline}, or until `millchain qc cancel-signed`); "
                f"relay with `millchain qc relay {sign_only}`"
            )
        return
    ref, receipt = client.attest(finding)
    receipt_line(receipt, as_json)
    show_model(f"attestation {ref}", client.attestation(ref.lot, ref.seq), as_json)


@click.command("cancel-signed")
@click.option(
    "--up-to",
    "up_to",
    type=click.IntRange(min=1, max=2**64 - 1),
    default=None,
    help="Void every signature with a nonce below this one (default: the next nonce + 1).",
)
@network_options
@json_option
def cancel_signed(up_to: int | None, session: Session, as_json: bool) -> None:
    """Void the sender's signed attestations that nobody has relayed yet (`qc attest --sign-only`)."""
    client = quality_client(session)
    receipt = client.cancel_signed_attestations(up_to)
    receipt_line(receipt, as_json)
    nonce = client.attestation_nonce(client.address)
    if as_json:
        emit_json({"inspector": client.address, "nonce": nonce})
    else:
        console.print(f"signatures of {client.address} with a nonce below {nonce} can no longer be relayed")


@click.command("relay")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@network_options
@json_option
def relay(path: Path, session: Session, as_json: bool) -> None:
    """Submit an attestation an inspector signed with `qc attest --sign-only` (the sender pays the gas)."""
    try:
        signed = SignedAttestation.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a signed attestation: {exc}") from exc
    client = quality_client(session)
    ref, receipt = client.relay(signed)
    receipt_line(receipt, as_json)
    show_model(f"attestation {ref}", client.attestation(ref.lot, ref.seq), as_json)


@click.command("verify-report")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--lot", "lot_label", required=True, help="The lot the document belongs to.")
@click.option(
    "--attestation",
    "seq",
    type=click.IntRange(min=1),
    default=None,
    help="Check against this attestation only [default: every attestation and the lot's data].",
)
@network_options
@json_option
def verify_report(path: Path, lot_label: str, seq: int | None, session: Session, as_json: bool) -> None:
    """Check PATH, an opened report (every field and salt, from --save) or one disclosed field, against the
    commitments of --lot on the chain. Exits 1 when nothing matches."""
    check = quality_client(session).verify_report(path, lot_id(lot_label), seq=seq)
    if as_json:
        emit_json(check.model_dump(mode="json"))
    elif check.ok:
        table(
            f"{path.name}: {check.kind} matches {', '.join(check.matched)} of lot {check.lot_id}",
            ["field", "value"],
            sorted(check.fields.items()),
        )
    if not check.ok:
        raise VerificationFailed(
            f"{path}: its root {check.root} matches no commitment of lot {lot_label}"
            + (f" attestation {seq}" if seq else "")
        )
