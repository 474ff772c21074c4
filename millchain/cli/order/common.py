"""Helpers the order commands share: the client, parties, fields, amounts, outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from millchain.cli.common import console, emit_json
from millchain.disclosure import FieldValue, SaltedDocument
from millchain.errors import ConfigError
from millchain.session import Session
from millchain.settlement import (
    OrderReport,
    Outcome,
    SettlementClient,
    parse_address,
)
from millchain.units import format_amount


def settlement_client(session: Session) -> SettlementClient:
    return SettlementClient(session)


def party_address(session: Session, text: str, what: str) -> str:
    """An address, or the index of a development account (``2`` = the third account)."""
    if text.isdigit():
        return str(session.chain.account(int(text)).address)
    return parse_address(text, what=what)


def parse_fields(pairs: Sequence[str], what: str) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{what} {pair!r} is not NAME=VALUE")
        if name.strip() in fields:
            raise ConfigError(f"{what} {name.strip()!r} is given twice")
        fields[name.strip()] = value
    return fields


def commit_fields(fields: dict[str, FieldValue], save: Path | None) -> SaltedDocument:
    document = SaltedDocument.commit(fields)
    if save is not None:
        document.save(save)
    return document


def token_decimals(client: SettlementClient, token: str) -> int:
    return client.decimals(token)


def money_formatter(client: SettlementClient, token: str) -> Callable[[int], str]:
    decimals = token_decimals(client, token)
    return lambda value: format_amount(value, decimals)


def report_outcome(client: SettlementClient, key: bytes, outcome: Outcome, what: str, as_json: bool) -> None:
    """One line for the transaction, then what it did to settlement; --json: the order report and events."""
    if as_json:
        payload = report_json(client.report(key))
        payload["transaction"] = {
            "hash": outcome.tx_hash,
            "gas": outcome.gas,
            "events": outcome.events,
            "settled": outcome.settled,
            "mismatches": [
                {"shipment": sid, "flow": m.flow.name.lower(), "expected": m.expected, "actual": m.actual}
                for sid, m in outcome.mismatches
            ],
        }
        emit_json(payload)
        return
    console.print(f"{what}: tx {outcome.tx_hash} block {outcome.receipt['blockNumber']} gas {outcome.gas}")
    if not (outcome.settled or outcome.mismatches):
        return
    money = money_formatter(client, client.get(key, events=False).token)
    for settled in outcome.settled:
        console.print(
            f"[green]settled[/green] shipment {settled['shipment'] >> 240}: {settled['quantity']} units, "
            f"paid {money(settled['paid'])} to the supplier, {money(settled['retained'])} retained"
        )
    for shipment, mismatch in outcome.mismatches:
        amounts = mismatch.flow.name in ("INVOICE", "FUNDS")
        expected = money(mismatch.expected) if amounts else str(mismatch.expected)
        actual = money(mismatch.actual) if amounts else str(mismatch.actual)
        console.print(
            f"[red]mismatch[/red] shipment {shipment >> 240}, {mismatch.flow.name.lower()} flow: "
            f"expected {expected}, got {actual} — nothing moved"
        )


def report_json(report: OrderReport) -> dict[str, Any]:
    payload: dict[str, Any] = report.model_dump(mode="json")
    payload["order"]["status"] = report.order.status.name
    payload["order"]["total"] = report.order.total
    payload["ended"] = report.ended
    payload["funds"]["balanced"] = report.funds.balanced
    for item, assessed in zip(payload["shipments"], report.shipments, strict=True):
        item["shipment"]["status"] = assessed.shipment.status.name
        item["shipment"]["receipt"] = assessed.shipment.receipt.name
        item["shipment"]["invoice"] = assessed.shipment.invoice.name
        item["shipment"]["shipment_id"] = hex(assessed.shipment.shipment_id)
        for name, check in assessed.flows.items():
            item["flows"][name]["flow"] = name
            item["flows"][name]["matches"] = check.state == "agrees"
    return payload


def load_order(client: SettlementClient, text: str) -> bytes:
    return client.resolve(text)
