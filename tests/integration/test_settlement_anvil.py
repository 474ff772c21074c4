"""Supply-chain settlement on a real anvil: the very scenario the embedded chain runs (same code, same
expected outcome), then an order driven entirely through the `millchain order` CLI as the buyer, the supplier,
the carrier and the tax platform would: prepared in a file, signed by each party, submitted with its funding,
shipped, checkpointed, delivered, received, invoiced wrong (a mismatch moves nothing) and right (it settles),
shown, refunded past the deadline and its retention released after the warranty."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from millchain.chain import connect
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from tests.contracts.test_settlement_scenario import EXPECTED, build_world, run_scenario

pytestmark = pytest.mark.integration

BUYER, SUPPLIER, CARRIER = 2, 1, 3
PRICE = 52_500_000


def test_the_settlement_scenario_on_anvil(anvil_session: Session) -> None:
    anvil_session.deploy()
    assert run_scenario(build_world(anvil_session)) == EXPECTED


def test_an_order_from_signature_to_retention_through_the_cli(
    compiled: Project, anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    anvil_cli: Callable[..., str],
) -> None:
    cli = anvil_cli
    cli("deploy", "--no-fund")  # the test mints what each party needs and checks exact balances
    session = Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
    token = session.contract("SettlementToken")
    buyer = session.chain.account(BUYER).address
    supplier = session.chain.account(SUPPLIER).address
    session.tx.transact(token.functions.mint(buyer, 30_000 * 10**6))

    order_file = tmp_path / "po-anvil-1.json"
    cli("order", "create", "--id", "PO-ANVIL-1", "--buyer", str(BUYER), "--supplier", str(SUPPLIER), "--carrier",
        str(CARRIER), "--quantity", "400", "--unit-price", "52.5", "--deadline", "30d", "--retention", "5%",
        "--warranty", "90d", "--tolerance", "0.5%", "--line", "item=cement P.O 42.5", "--out", str(order_file))
    assert "signed as buyer" in cli("order", "sign", str(order_file), account=BUYER)
    assert "ready: `millchain order submit`" in cli("order", "sign", str(order_file), account=SUPPLIER)
    created = json.loads(cli("order", "submit", str(order_file), "--fund", "all", "--json", account=BUYER))
    key = created["order"]["key"]
    assert created["transaction"]["events"] == ["OrderCreated", "EscrowFunded"]
    assert created["order"]["escrow"] == 400 * PRICE

    assert "shipped as shipment 1" in cli("order", "ship", key, "--quantity", "240", "--lot", "CW-0612-A",
                                          "--lot", "CW-0612-B", account=CARRIER)
    checkpoint = tmp_path / "toll.json"
    cli("order", "checkpoint", key, "1", "--field", "place=G4 toll station Xinyang", "--field",
        "time=2025-06-12T06:14+08:00", "--save", str(checkpoint), account=CARRIER)
    assert json.loads(checkpoint.read_text())["fields"]["place"]
    cli("order", "deliver", key, "1", "--quantity", "240", account=CARRIER)
    cli("order", "receive", key, "1", "--quantity", "239", account=BUYER)

    cli("order", "invoice", key, "1", "--amount", "12600", "--tax", "1449.56", "--number", "44031900-0042",
        account=SUPPLIER)
    wrong = cli("order", "verify-invoice", key, "1")
    assert "mismatch shipment 1, invoice flow: expected 12,547.5, got 12,600 — nothing moved" in wrong
    assert session.contract("SettlementToken").functions.balanceOf(supplier).call() == 0
    cli("order", "invoice", key, "1", "--amount", "12547.5", "--tax", "1443.49", account=SUPPLIER)
    right = cli("order", "verify-invoice", key, "1")
    assert "settled shipment 1: 239 units, paid 11,920.125 to the supplier, 627.375 retained" in right

    table = cli("order", "show", "PO-ANVIL-1")
    for text in ("order PO-ANVIL-1", "商流", "物流", "票流", "资金流", "settled", "✓ 239 x 52.5",
                 "funded 21,000 = paid 11,920.125 + refunded 0 + escrow 8,452.5 + retention 627.375 ✓"):
        assert text in table, table
    shown = json.loads(cli("order", "show", key, "--json"))
    [assessed] = shown["shipments"]
    assert {name: flow["matches"] for name, flow in assessed["flows"].items()} == {
        "contract": True, "logistics": True, "invoice": True, "funds": True}
    assert assessed["shipment"]["lots"] == ["CW-0612-A", "CW-0612-B"] and len(assessed["shipment"]["checkpoints"]) == 1
    assert shown["funds"]["balanced"] is True

    clock = connect("anvil", rpc_url=anvil.url)
    clock.advance_time(31 * 86_400)
    refunded = json.loads(cli("order", "refund", key, "--json"))
    assert refunded["funds"]["refunded"] == 161 * PRICE
    clock.advance_time(90 * 86_400)
    released = json.loads(cli("order", "release", key, "--json"))
    assert released["order"]["retention"] == 0
    assert session.contract("SettlementToken").functions.balanceOf(supplier).call() == 239 * PRICE
    assert session.contract("SettlementToken").functions.balanceOf(buyer).call() == 30_000 * 10**6 - 239 * PRICE
