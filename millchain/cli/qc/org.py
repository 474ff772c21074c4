"""millchain qc org: organisations and their member accounts."""

from __future__ import annotations

import click

from millchain.cli.common import emit_json, json_option, network_options, table
from millchain.cli.qc.common import quality_client, receipt_line, show_model
from millchain.quality import (
    QualityClient,
    org_id,
    parse_address,
)
from millchain.session import Session
from millchain.types import label_of


@click.group()
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
    client = quality_client(session)
    receipt_line(
        client.register_organisation(org_id(org_label), parse_address(admin, what="--admin"), regulator=regulator),
        as_json,
    )
    show_model(f"organisation {org_label}", client.organisation(org_id(org_label)), as_json)


@org.command("show")
@click.argument("org_label", metavar="ORG")
@network_options
@json_option
def org_show(org_label: str, session: Session, as_json: bool) -> None:
    """Show ORG and its member accounts."""
    client = quality_client(session)
    record = client.organisation(org_id(org_label))
    show_model(f"organisation {org_label}", record, as_json, extra={"members": client.members(org_id(org_label))})


@org.command("add-member")
@click.argument("org_label", metavar="ORG")
@click.argument("account")
@network_options
@json_option
def org_add_member(org_label: str, account: str, session: Session, as_json: bool) -> None:
    """Invite ACCOUNT to ORG (ORG's admin, or an accreditor); it joins with `qc org accept ORG`."""
    client = quality_client(session)
    receipt_line(client.add_member(org_id(org_label), parse_address(account, what="ACCOUNT")), as_json)
    _members(client, org_label, as_json)


@org.command("accept")
@click.argument("org_label", metavar="ORG")
@network_options
@json_option
def org_accept(org_label: str, session: Session, as_json: bool) -> None:
    """Join ORG, which invited the signing account (membership needs the account's consent)."""
    client = quality_client(session)
    receipt_line(client.accept_membership(org_id(org_label)), as_json)
    _members(client, org_label, as_json)


@org.command("leave")
@network_options
@json_option
def org_leave(session: Session, as_json: bool) -> None:
    """Leave the signing account's organisation (it stays affiliated: it may rejoin only that one)."""
    client = quality_client(session)
    org = client.my_organisation()
    receipt_line(client.leave_organisation(), as_json)
    _members(client, label_of(org), as_json)


@org.command("remove-member")
@click.argument("org_label", metavar="ORG")
@click.argument("account")
@network_options
@json_option
def org_remove_member(org_label: str, account: str, session: Session, as_json: bool) -> None:
    """Remove ACCOUNT from ORG's members (ORG's admin)."""
    client = quality_client(session)
    receipt_line(client.remove_member(org_id(org_label), parse_address(account, what="ACCOUNT")), as_json)
    _members(client, org_label, as_json)


@org.command("transfer-admin")
@click.argument("org_label", metavar="ORG")
@click.argument("new_admin")
@network_options
@json_option
def org_transfer_admin(org_label: str, new_admin: str, session: Session, as_json: bool) -> None:
    """Hand ORG to NEW_ADMIN (ORG's admin, or an accreditor recovering a lost key)."""
    client = quality_client(session)
    receipt_line(
        client.transfer_organisation_admin(org_id(org_label), parse_address(new_admin, what="NEW_ADMIN")), as_json
    )
    show_model(f"organisation {org_label}", client.organisation(org_id(org_label)), as_json)


def _members(client: QualityClient, org_label: str, as_json: bool) -> None:
    members = client.members(org_id(org_label))
    if as_json:
        emit_json({"org_id": org_label, "members": members})
    else:
        table(f"members of {org_label}", ["account"], [(m,) for m in members])
