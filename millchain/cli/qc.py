"""millchain qc org | inspector | lot | attest | relay | alerts | ack | bond | claim | dispute | rule | watch |
verify-report: cross-firm quality control (docs/contracts/quality.md).

The signing account acts for its organisation (``--account N`` on dev chains, ``--keystore`` elsewhere).
On ``--network local`` every invocation is a fresh chain; multi-step flows need anvil or an RPC node.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from hexbytes import HexBytes
from rich.tree import Tree

from millchain.cli.common import console, emit_json, err_console, json_option, model_json, network_options, table
from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError, MillchainError
from millchain.quality import (
    NO_EXPIRY,
    ZERO32,
    AlertNotice,
    AlertRef,
    AlertWatcher,
    Finding,
    Forwarder,
    MqttForwarder,
    Outcome,
    QualityClient,
    Severity,
    SignedAttestation,
    Terms,
    TraceNode,
    VerificationFailed,
    WebhookForwarder,
    format_amount,
    lot_id,
    org_id,
    parse_address,
    parse_amount,
    parse_choice,
    parse_duration,
    product_id,
)
from millchain.session import Session
from millchain.types import label_of, to_bytes32


def _client(session: Session) -> QualityClient:
    return QualityClient(session)


def _receipt_line(receipt: Any, as_json: bool) -> None:
    if not as_json:
        tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
        console.print(f"tx {tx} in block {receipt['blockNumber']}, gas {receipt['gasUsed']}", highlight=False)


def _show_model(title: str, model: Any, as_json: bool, *, extra: dict[str, Any] | None = None) -> None:
    data = model_json(model)
    data.update(extra or {})
    if as_json:
        emit_json(data)
        return
    rows = []
    for key, value in model.model_dump().items():
        rows.append((key, value.name if hasattr(value, "name") else value))
    rows += list((extra or {}).items())
    table(title, ["field", "value"], rows)


def _fields(pairs: Sequence[str], report: Path | None) -> dict[str, str | int]:
    """Document fields from ``--field NAME=VALUE`` options and/or a JSON object file."""
    fields: dict[str, str | int] = {}
    if report is not None:
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read report fields from {report}: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                 for v in data.values()):
            raise ConfigError(f"{report} must hold one JSON object of field name -> text or integer")
        fields.update(data)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--field {pair!r} is not NAME=VALUE")
        fields[name.strip()] = value
    return fields


def _commit(fields: dict[str, str | int], save: Path | None, commitment: str | None) -> bytes:
    """The commitment to put on-chain: of the given fields (kept, with their salts, in ``save``) or as given."""
    if fields and commitment:
        raise ConfigError("give document fields or --commitment, not both")
    if fields:
        if save is None:
            raise ConfigError("fields are committed with fresh random salts: pass --save FILE to keep the opened "
                              "document, without it no field could ever be disclosed")
        if save.exists():
            raise ConfigError(f"{save} already exists; refusing to overwrite an opened document")
        document = SaltedDocument.commit(fields)
        document.save(save)
        return bytes(HexBytes(document.root))
    if commitment:
        if not (commitment.startswith("0x") and len(commitment) == 66):
            raise ConfigError(f"commitment {commitment!r} must be 0x + 64 hex digits")
        return to_bytes32(commitment, what="commitment")
    return ZERO32


def _maybe_commitment(text: str | None) -> bytes:
    return ZERO32 if not text else _commit({}, None, text)


# ---------------------------------------------------------------------------------------------- groups


@click.group()
def qc() -> None:
    """Quality control: inspections attested across firms, alerts along lot lineage, quality bonds and claims."""


@qc.group()
def org() -> None:
    """Organisations (suppliers, plants, inspection bodies, regulators) and their member accounts."""


@org.command("register")
@click.argument("org_label", metavar="ORG")
@click.option("--admin", required=True, help="The organisation's admin account (becomes its first member).")
@click.option("--regulator", is_flag=True, help="The organisation is a regulator: concerned by every alert.")
@network_options
@json_option
def org_register(org_label: str, admin: str, regulator: bool, session: Session, as_json: bool) -> None:
    """Register ORG (accreditor)."""
    client = _client(session)
    _receipt_line(client.register_organisation(org_id(org_label), parse_address(admin, what="--admin"),
                                               regulator=regulator), as_json)
    _show_model(f"organisation {org_label}", client.organisation(org_id(org_label)), as_json)


@org.command("show")
@click.argument("org_label", metavar="ORG")
@network_options
@json_option
def org_show(org_label: str, session: Session, as_json: bool) -> None:
    """Show ORG and its member accounts."""
    client = _client(session)
    record = client.organisation(org_id(org_label))
    _show_model(f"organisation {org_label}", record, as_json,
                extra={"members": client.members(org_id(org_label))})


@org.command("add-member")
@click.argument("org_label", metavar="ORG")
@click.argument("account")
@network_options
@json_option
def org_add_member(org_label: str, account: str, session: Session, as_json: bool) -> None:
    """Invite ACCOUNT to ORG (ORG's admin, or an accreditor); it joins with `qc org accept ORG`."""
    client = _client(session)
    _receipt_line(client.add_member(org_id(org_label), parse_address(account, what="ACCOUNT")), as_json)
    _members(client, org_label, as_json)


@org.command("accept")
@click.argument("org_label", metavar="ORG")
@network_options
@json_option
def org_accept(org_label: str, session: Session, as_json: bool) -> None:
    """Join ORG, which invited the signing account (membership needs the account's consent)."""
    client = _client(session)
    _receipt_line(client.accept_membership(org_id(org_label)), as_json)
    _members(client, org_label, as_json)


@org.command("leave")
@network_options
@json_option
def org_leave(session: Session, as_json: bool) -> None:
    """Leave the signing account's organisation (it stays affiliated: it may rejoin only that one)."""
    client = _client(session)
    org = client.my_organisation()
    _receipt_line(client.leave_organisation(), as_json)
    _members(client, label_of(org), as_json)


@org.command("remove-member")
@click.argument("org_label", metavar="ORG")
@click.argument("account")
@network_options
@json_option
def org_remove_member(org_label: str, account: str, session: Session, as_json: bool) -> None:
    """Remove ACCOUNT from ORG's members (ORG's admin)."""
    client = _client(session)
    _receipt_line(client.remove_member(org_id(org_label), parse_address(account, what="ACCOUNT")), as_json)
    _members(client, org_label, as_json)


@org.command("transfer-admin")
@click.argument("org_label", metavar="ORG")
@click.argument("new_admin")
@network_options
@json_option
def org_transfer_admin(org_label: str, new_admin: str, session: Session, as_json: bool) -> None:
    """Hand ORG to NEW_ADMIN (ORG's admin, or an accreditor recovering a lost key)."""
    client = _client(session)
    _receipt_line(client.transfer_organisation_admin(org_id(org_label), parse_address(new_admin, what="NEW_ADMIN")),
                  as_json)
    _show_model(f"organisation {org_label}", client.organisation(org_id(org_label)), as_json)


def _members(client: QualityClient, org_label: str, as_json: bool) -> None:
    members = client.members(org_id(org_label))
    if as_json:
        emit_json({"org_id": org_label, "members": members})
    else:
        table(f"members of {org_label}", ["account"], [(m,) for m in members])


@qc.group()
def inspector() -> None:
    """Inspector accreditation (accreditor): accredit, suspend, restore, revoke, show."""


@inspector.command("accredit")
@click.argument("address")
@click.option("--org", "org_label", required=True, help="The inspection body the inspector works for.")
@click.option("--valid-for", default=None, metavar="DURATION",
              help="Accreditation length from now, e.g. 365d [default: no expiry].")
@network_options
@json_option
def inspector_accredit(address: str, org_label: str, valid_for: str | None, session: Session, as_json: bool) -> None:
    """Accredit ADDRESS (an EOA or an ERC-1271 contract wallet) for --org, or renew it."""
    client = _client(session)
    valid_until = NO_EXPIRY
    if valid_for is not None:
        now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
        valid_until = now + parse_duration(valid_for)
    _receipt_line(client.accredit(parse_address(address, what="inspector"), org_id(org_label),
                                  valid_until=valid_until), as_json)
    _show_model(f"inspector {address}", client.inspector(address), as_json)


def _inspector_change(name: str, doc: str) -> None:
    @inspector.command(name, help=doc)
    @click.argument("address")
    @network_options
    @json_option
    def change(address: str, session: Session, as_json: bool) -> None:
        client = _client(session)
        _receipt_line(getattr(client, name)(parse_address(address, what="inspector")), as_json)
        _show_model(f"inspector {address}", client.inspector(address), as_json)


_inspector_change("suspend", "Suspend ADDRESS's accreditation (accreditor).")
_inspector_change("restore", "Restore ADDRESS's suspended accreditation (accreditor).")
_inspector_change("revoke", "Revoke ADDRESS's accreditation for good (accreditor).")


@inspector.command("show")
@click.argument("address")
@network_options
@json_option
def inspector_show(address: str, session: Session, as_json: bool) -> None:
    """Show ADDRESS's accreditation and whether it may attest now."""
    _show_model(f"inspector {address}", _client(session).inspector(parse_address(address, what="inspector")),
                as_json)


# ---------------------------------------------------------------------------------------------- lots


@qc.group()
def lot() -> None:
    """Production lots and their lineage."""


@lot.command("register")
@click.argument("lot_label", metavar="LOT")
@click.option("--product", required=True, help="Product line / specification id.")
@click.option("--quantity", required=True, type=click.IntRange(min=1, max=2**64 - 1), help="Units in the lot.")
@click.option("--input", "inputs", multiple=True, metavar="LOT", help="A lot consumed (repeat, at most 32).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="A field of the lot's data "
              "(repeat); committed with a fresh salt each, kept in --save.")
@click.option("--data", "data_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="JSON object of the lot's data fields.")
@click.option("--commitment", default=None, help="An existing 32-byte commitment instead of fields.")
@click.option("--save", type=click.Path(path_type=Path, dir_okay=False), help="Where to keep the opened data "
              "document (values and salts: private to the producer).")
@network_options
@json_option
def lot_register(lot_label: str, product: str, quantity: int, inputs: tuple[str, ...], fields: tuple[str, ...],
                 data_file: Path | None, commitment: str | None, save: Path | None, session: Session,
                 as_json: bool) -> None:
    """Register LOT, produced by the sender's organisation."""
    client = _client(session)
    data = _commit(_fields(fields, data_file), save, commitment)
    receipt = client.register_lot(lot_id(lot_label), product_id(product), quantity, data_commitment=data,
                                  inputs=[lot_id(i) for i in inputs])
    _receipt_line(receipt, as_json)
    _show_model(f"lot {lot_label}", client.lot(lot_id(lot_label)), as_json,
                extra={"data_commitment": "0x" + data.hex(), "inputs": sorted(inputs)})


@lot.command("show")
@click.argument("lot_label", metavar="LOT")
@network_options
@json_option
def lot_show(lot_label: str, session: Session, as_json: bool) -> None:
    """Show LOT and its inspection record."""
    client = _client(session)
    record = client.lot(lot_id(lot_label))
    attestations = client.attestations(lot_id(lot_label))
    if as_json:
        emit_json({**record.model_dump(mode="json"), "attestations": [a.model_dump(mode="json")
                                                                      for a in attestations]})
        return
    _show_model(f"lot {lot_label}", record, False)
    table(f"inspection record of {lot_label}", ["#", "outcome", "severity", "defects/sample", "by", "independent",
                                                "superseded by"],
          [(a.seq, a.outcome.name, a.severity.name, f"{a.defects}/{a.sample_size}", a.inspector_org,
            "yes" if a.independent else "no", a.superseded_by or "") for a in attestations])


@lot.command("trace")
@click.argument("lot_label", metavar="LOT")
@network_options
@json_option
def lot_trace(lot_label: str, session: Session, as_json: bool) -> None:
    """Print what LOT was made of (upstream) and what was made of it (downstream), with alerts."""
    trace = _client(session).trace(lot_id(lot_label))
    if as_json:
        emit_json(trace.model_dump(mode="json"))
        return
    console.print(_tree(f"upstream of {_describe(trace.lot)}", trace.upstream))
    console.print(_tree(f"downstream of {_describe(trace.lot)}", trace.downstream))


def _describe(node: TraceNode) -> str:
    alerts = f" [bold red]alerts {', '.join(node.alerts)}[/]" if node.alerts else ""
    repeated = " [dim](shown above)[/]" if node.repeated else ""
    return (f"[bold]{node.lot_id}[/] {node.product_id} x{node.quantity} by {node.producer}{alerts}{repeated}")


def _tree(title: str, nodes: list[TraceNode]) -> Tree:
    root = Tree(title)

    def add(parent: Tree, node: TraceNode) -> None:
        branch = parent.add(_describe(node))
        for child in node.children:
            add(branch, child)

    for node in nodes:
        add(root, node)
    if not nodes:
        root.add("[dim](none)[/]")
    return root


# ---------------------------------------------------------------------------------------------- attestations


@qc.command("attest")
@click.argument("lot_label", metavar="LOT")
@click.option("--outcome", required=True, help="pass, conditional, fail, or none (an explicit alert).")
@click.option("--severity", default="none", show_default=True, help="none (pass only), minor, major, critical.")
@click.option("--sample", "sample_size", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Units inspected.")
@click.option("--defects", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Defective units found.")
@click.option("--supersedes", type=click.IntRange(min=0, max=2**32 - 1), default=0,
              help="Number of the attestation of LOT this one corrects.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="A field of the inspection report.")
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="JSON object of the report's fields.")
@click.option("--commitment", default=None, help="An existing 32-byte report commitment instead of fields.")
@click.option("--save", type=click.Path(path_type=Path, dir_okay=False), help="Where to keep the opened report.")
@click.option("--uri", default="", help="Where authorised readers fetch the report.")
@click.option("--sign-only", "sign_only", type=click.Path(path_type=Path, dir_okay=False),
              help="Sign for someone to relay (`qc relay FILE`) instead of sending.")
@click.option("--nonce", type=click.IntRange(min=0, max=2**64 - 1), default=None,
              help="With --sign-only: the nonce to sign for (default: the inspector's next one on the ledger; "
                   "one more per signature still waiting to be relayed).")
@network_options
@json_option
def attest(lot_label: str, outcome: str, severity: str, sample_size: int, defects: int, supersedes: int,
           fields: tuple[str, ...], report_file: Path | None, commitment: str | None, save: Path | None, uri: str,
           sign_only: Path | None, nonce: int | None, session: Session, as_json: bool) -> None:
    """Attest an inspection of LOT as the sender (an accredited inspector)."""
    client = _client(session)
    report = _commit(_fields(fields, report_file), save, commitment)
    finding = Finding(lot=lot_id(lot_label), outcome=Outcome(parse_choice(Outcome, outcome, what="--outcome")),
                      severity=Severity(parse_choice(Severity, severity, what="--severity")),
                      sample_size=sample_size, defects=defects, supersedes=supersedes, report_commitment=report,
                      uri=uri)
    if nonce is not None and sign_only is None:
        raise ConfigError("--nonce only applies to a signature (--sign-only FILE); `qc attest` sends no nonce")
    if sign_only is not None:
        signed = client.sign_attestation(finding, nonce=nonce)
        sign_only.write_text(signed.model_dump_json(indent=2), encoding="utf-8")
        if as_json:
            emit_json(signed.model_dump(mode="json"))
        else:
            console.print(f"signed an attestation of {label_of(finding.lot)} with nonce {signed.nonce} -> "
                          f"{sign_only} (valid until {signed.deadline}, or until `millchain qc cancel-signed`); "
                          f"relay with `millchain qc relay {sign_only}`")
        return
    ref, receipt = client.attest(finding)
    _receipt_line(receipt, as_json)
    _show_model(f"attestation {ref}", client.attestation(ref.lot, ref.seq), as_json)


@qc.command("cancel-signed")
@click.option("--up-to", "up_to", type=click.IntRange(min=1, max=2**64 - 1), default=None,
              help="Void every signature with a nonce below this one (default: the next nonce + 1).")
@network_options
@json_option
def cancel_signed(up_to: int | None, session: Session, as_json: bool) -> None:
    """Void the sender's signed attestations that nobody has relayed yet (`qc attest --sign-only`)."""
    client = _client(session)
    receipt = client.cancel_signed_attestations(up_to)
    _receipt_line(receipt, as_json)
    nonce = client.attestation_nonce(client.address)
    if as_json:
        emit_json({"inspector": client.address, "nonce": nonce})
    else:
        console.print(f"signatures of {client.address} with a nonce below {nonce} can no longer be relayed")


@qc.command("relay")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@network_options
@json_option
def relay(path: Path, session: Session, as_json: bool) -> None:
    """Submit an attestation an inspector signed with `qc attest --sign-only` (the sender pays the gas)."""
    try:
        signed = SignedAttestation.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a signed attestation: {exc}") from exc
    client = _client(session)
    ref, receipt = client.relay(signed)
    _receipt_line(receipt, as_json)
    _show_model(f"attestation {ref}", client.attestation(ref.lot, ref.seq), as_json)


@qc.command("alerts")
@click.option("--org", "org_label", default=None, help="Only alerts concerning this organisation.")
@click.option("--pending", is_flag=True, help="Only alerts --org (or anyone concerned) has not acknowledged.")
@click.option("--active", is_flag=True, help="Leave out alerts superseded by a correction.")
@network_options
@json_option
def alerts(org_label: str | None, pending: bool, active: bool, session: Session, as_json: bool) -> None:
    """List alerts with the organisations they concern (from the lineage) and who has acknowledged."""
    found = _client(session).alerts(org=org_id(org_label) if org_label else None, pending_only=pending,
                                    active_only=active)
    if as_json:
        emit_json([a.model_dump(mode="json") for a in found])
        return
    table("alerts", ["alert", "severity", "outcome", "producer", "defects", "concerns", "not acknowledged",
                     "superseded by"],
          [(a.ref, a.severity.name, a.outcome.name, a.producer, f"{a.defects}/{a.sample_size}",
            ", ".join(a.affected), ", ".join(a.pending) or "-", a.superseded_by or "") for a in found])


@qc.command("ack")
@click.argument("alert_ref", metavar="LOT#SEQ")
@network_options
@json_option
def ack(alert_ref: str, session: Session, as_json: bool) -> None:
    """Acknowledge alert LOT#SEQ for the sender's organisation."""
    client = _client(session)
    ref = AlertRef.parse(alert_ref)
    org_of_sender = client.my_organisation()
    receipt = client.acknowledge(ref)
    _receipt_line(receipt, as_json)
    at = client.acknowledged_at(ref, org_of_sender)
    if as_json:
        emit_json({"alert": str(ref), "org": label_of(org_of_sender), "acknowledged_at": at})
    else:
        console.print(f"{label_of(org_of_sender)} acknowledged {ref} at {at}")


# ---------------------------------------------------------------------------------------------- bonds


@qc.group()
def bond() -> None:
    """Quality bonds per supplier and product line (amounts in mUSD, e.g. 2500 or 12.5)."""


def _show_bond(client: QualityClient, org_label: str, product: str, as_json: bool) -> None:
    record = client.bond(org_id(org_label), product_id(product))
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    t, p = record.terms, record.pending_terms
    rows = [("balance", format_amount(record.balance)), ("locked by claims", format_amount(record.locked)),
            ("free", format_amount(record.free)),
            ("terms", f"{format_amount(t.penalty_per_defect)} per defect, cap {format_amount(t.claim_cap)}, "
                      f"dispute window {t.dispute_window} s" if t.dispute_window else "none")]
    if record.terms_effective_at:
        rows.append(("pending terms", f"{format_amount(p.penalty_per_defect)} per defect, cap "
                                      f"{format_amount(p.claim_cap)}, window {p.dispute_window} s from "
                                      f"{record.terms_effective_at}"))
    if record.withdrawal_amount:
        rows.append(("pending withdrawal", f"{format_amount(record.withdrawal_amount)} to {record.withdrawal_to} "
                                           f"from {record.unlock_at}"))
    table(f"bond {org_label} / {product}", ["field", "value"], rows)


@bond.command("deposit")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.argument("amount")
@network_options
@json_option
def bond_deposit(org_label: str, product: str, amount: str, session: Session, as_json: bool) -> None:
    """Deposit AMOUNT into ORG's bond for PRODUCT (approves the token first if needed)."""
    client = _client(session)
    _receipt_line(client.deposit(org_id(org_label), product_id(product), parse_amount(amount)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("terms")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.option("--penalty", required=True, help="Per defective unit, e.g. 25.")
@click.option("--cap", required=True, help="Most one claim can take, e.g. 2000.")
@click.option("--window", required=True, help="Time the supplier has to dispute, e.g. 3d.")
@network_options
@json_option
def bond_terms(org_label: str, product: str, penalty: str, cap: str, window: str, session: Session,
               as_json: bool) -> None:
    """Set the terms ORG's bond for PRODUCT backs (ORG's admin; changes wait the withdrawal delay)."""
    client = _client(session)
    terms = Terms(penalty_per_defect=parse_amount(penalty), claim_cap=parse_amount(cap),
                  dispute_window=parse_duration(window))
    _receipt_line(client.set_terms(org_id(org_label), product_id(product), terms), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("withdraw")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@click.argument("amount")
@click.option("--to", default=None, help="Recipient, fixed now [default: the sender].")
@network_options
@json_option
def bond_withdraw(org_label: str, product: str, amount: str, to: str | None, session: Session,
                  as_json: bool) -> None:
    """Request a withdrawal of AMOUNT (ORG's admin); executable once the time lock ends."""
    client = _client(session)
    receipt = client.request_withdrawal(org_id(org_label), product_id(product), parse_amount(amount),
                                        parse_address(to, what="--to") if to else None)
    _receipt_line(receipt, as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("cancel-withdrawal")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_cancel(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Cancel the pending withdrawal (ORG's admin)."""
    client = _client(session)
    _receipt_line(client.cancel_withdrawal(org_id(org_label), product_id(product)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("execute-withdrawal")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_execute(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Pay out the pending withdrawal once unlocked (anyone)."""
    client = _client(session)
    _receipt_line(client.execute_withdrawal(org_id(org_label), product_id(product)), as_json)
    _show_bond(client, org_label, product, as_json)


@bond.command("show")
@click.argument("org_label", metavar="ORG")
@click.argument("product")
@network_options
@json_option
def bond_show(org_label: str, product: str, session: Session, as_json: bool) -> None:
    """Show ORG's bond for PRODUCT: balance, locked, terms, pending changes."""
    _show_bond(_client(session), org_label, product, as_json)


# ---------------------------------------------------------------------------------------------- claims


def _show_claim(client: QualityClient, claim_id: int, as_json: bool) -> None:
    record = client.claim(claim_id)
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    rows = [(k, v.name if hasattr(v, "name") else v) for k, v in record.model_dump().items()]
    rows = [(k, format_amount(v) if k in ("amount", "paid") else v) for k, v in rows]
    table(f"claim #{claim_id}", ["field", "value"], rows)


@qc.group()
def claim() -> None:
    """Claims against suppliers' bonds: file, show, list, accept, execute, withdraw."""


@claim.command("file")
@click.argument("alert_ref", metavar="LOT#SEQ")
@click.option("--consumer-lot", default=None, metavar="LOT",
              help="The sender's organisation's lot that consumed LOT [default: found from the lineage].")
@network_options
@json_option
def claim_file(alert_ref: str, consumer_lot: str | None, session: Session, as_json: bool) -> None:
    """File a claim on the failed attestation LOT#SEQ as the buyer (sender's organisation)."""
    client = _client(session)
    claim_id, receipt = client.file_claim(AlertRef.parse(alert_ref), lot_id(consumer_lot) if consumer_lot else None)
    _receipt_line(receipt, as_json)
    _show_claim(client, claim_id, as_json)


def _claim_action(name: str, method: str, doc: str) -> None:
    @claim.command(name, help=doc)
    @click.argument("claim_id", type=click.IntRange(min=1))
    @network_options
    @json_option
    def action(claim_id: int, session: Session, as_json: bool) -> None:
        client = _client(session)
        _receipt_line(getattr(client, method)(claim_id), as_json)
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
    _show_claim(_client(session), claim_id, as_json)


@claim.command("list")
@network_options
@json_option
def claim_list(session: Session, as_json: bool) -> None:
    """List every claim."""
    found = _client(session).claims()
    if as_json:
        emit_json([c.model_dump(mode="json") for c in found])
        return
    table("claims", ["#", "lot", "claimant", "supplier", "amount", "paid", "status", "deadline"],
          [(c.claim_id, f"{c.lot_id}#{c.seq}", c.claimant, c.supplier, format_amount(c.amount),
            format_amount(c.paid), c.status.name, c.deadline) for c in found])


@qc.command("dispute")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--reason", default=None, help="32-byte commitment to the grounds (e.g. a salted document's root).")
@network_options
@json_option
def dispute(claim_id: int, reason: str | None, session: Session, as_json: bool) -> None:
    """Dispute CLAIM_ID within its window (a member of the supplier)."""
    client = _client(session)
    _receipt_line(client.dispute_claim(claim_id, _maybe_commitment(reason)), as_json)
    _show_claim(client, claim_id, as_json)


@qc.command("rule")
@click.argument("claim_id", type=click.IntRange(min=1))
@click.option("--award", required=True, help="Amount awarded to the claimant (0 rejects), e.g. 120.")
@click.option("--ruling", default=None, help="32-byte commitment to the ruling document.")
@network_options
@json_option
def rule(claim_id: int, award: str, ruling: str | None, session: Session, as_json: bool) -> None:
    """Rule on disputed CLAIM_ID (arbiter): pay --award, release the rest."""
    client = _client(session)
    _receipt_line(client.rule_claim(claim_id, parse_amount(award), _maybe_commitment(ruling)), as_json)
    _show_claim(client, claim_id, as_json)


# ---------------------------------------------------------------------------------------------- watch, verify


@qc.command("watch")
@click.option("--org", "org_label", required=True, help="The organisation whose alerts to follow.")
@click.option("--webhook", default=None, metavar="URL", help="POST each notice as JSON to URL.")
@click.option("--mqtt", default=None, metavar="mqtt://HOST[:PORT]", help="Publish each notice to an MQTT broker.")
@click.option("--topic", default="millchain/qc/alerts", show_default=True, help="MQTT topic.")
@click.option("--from-block", type=click.IntRange(min=0), default=None,
              help="Also report what happened from this block on [default: only new events].")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between polls.")
@click.option("--max", "max_notices", type=click.IntRange(min=1), default=None, help="Stop after N notices.")
@network_options
@json_option
def watch(org_label: str, webhook: str | None, mqtt: str | None, topic: str, from_block: int | None,
          interval: float, max_notices: int | None, session: Session, as_json: bool) -> None:
    """Follow alerts concerning --org as they happen: raised, exposed (a new lot consumes an alerted one),
    acknowledged, superseded. Ctrl-C (or SIGTERM) stops."""
    client = _client(session)
    org_bytes = org_id(org_label)
    client.organisation(org_bytes)  # an unknown organisation fails here, not silently forever
    forwarders: list[Forwarder] = []
    if webhook:
        forwarders.append(WebhookForwarder(webhook))
    if mqtt:
        forwarders.append(MqttForwarder.from_url(mqtt, topic))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if _main_thread() else None
    watcher = AlertWatcher(client, org_bytes, from_block=from_block)
    if not as_json:
        err_console.print(f"watching alerts for {org_label} on {session.chain.network} (Ctrl-C stops)")
    try:
        watcher.run(_deliver(forwarders, as_json), poll_interval=interval, stop=stop, max_notices=max_notices)
    except KeyboardInterrupt:
        pass
    finally:
        for forwarder in forwarders:
            forwarder.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _deliver(forwarders: list[Forwarder], as_json: bool) -> Callable[[AlertNotice], None]:
    def deliver(notice: AlertNotice) -> None:
        if as_json:
            click.echo(notice.model_dump_json())
        else:
            extra = {"acknowledged": f" by {notice.by}", "exposed": f" via new lot {notice.via_lot}",
                     "superseded": f" by #{notice.superseded_by}"}.get(notice.kind, "")
            console.print(f"{time.strftime('%H:%M:%S')} block {notice.block_number}: {notice.kind} {notice.alert} "
                          f"{notice.severity.name} {notice.outcome.name} (lot of {notice.producer}){extra}",
                          highlight=False)
        for forwarder in forwarders:
            try:
                forwarder.send(notice)
            except MillchainError as exc:  # one failed delivery must not stop the watch
                err_console.print(f"warning: {exc}", markup=False, highlight=False)

    return deliver


@qc.command("verify-report")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--lot", "lot_label", required=True, help="The lot the document belongs to.")
@click.option("--attestation", "seq", type=click.IntRange(min=1), default=None,
              help="Check against this attestation only [default: every attestation and the lot's data].")
@network_options
@json_option
def verify_report(path: Path, lot_label: str, seq: int | None, session: Session, as_json: bool) -> None:
    """Check PATH, an opened report (every field and salt, from --save) or one disclosed field, against the
    commitments of --lot on the chain. Exits 1 when nothing matches."""
    check = _client(session).verify_report(path, lot_id(lot_label), seq=seq)
    if as_json:
        emit_json(check.model_dump(mode="json"))
    elif check.ok:
        table(f"{path.name}: {check.kind} matches {', '.join(check.matched)} of lot {check.lot_id}",
              ["field", "value"], sorted(check.fields.items()))
    if not check.ok:
        raise VerificationFailed(f"{path}: its root {check.root} matches no commitment of lot {lot_label}"
                                 + (f" attestation {seq}" if seq else ""))
