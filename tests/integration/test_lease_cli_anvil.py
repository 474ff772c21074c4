"""A lease driven entirely through the `millchain` CLI against a real anvil, as a lessor, a lessee and a
device would: register, offer, open with a permit, signed reports, suspension, top-up, statement, close."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from millchain.chain import connect, write_keystore
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from tests.cli_runner import run_cli

pytestmark = pytest.mark.integration


def test_a_lease_from_offer_to_refund_through_the_cli(
    compiled: Project, anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    anvil_cli: Callable[..., str],
) -> None:
    cli = anvil_cli
    def clock(seconds: int) -> int:
        return connect("anvil", rpc_url=anvil.url).advance_time(seconds)

    device = Account.create()
    monkeypatch.setenv("MILLCHAIN_DEVICE_PASSWORD", "press-secret")
    write_keystore(tmp_path / "press.json", device, "press-secret")
    lessor, lessee = 1, 2
    lessee_address = connect("anvil", rpc_url=anvil.url).account(lessee).address

    cli("deploy")
    token = json.loads(cli("status", "--json"))["contracts"]
    token_address = next(c["address"] for c in token if c["contract"] == "SettlementToken")
    assert token_address
    session = Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
    session.tx.transact(session.contract("SettlementToken").functions.mint(lessee_address, 500 * 10**6))

    cli("machine", "register", "press-07", "--signer", device.address, account=lessor)
    offered = json.loads(cli("lease", "offer", "press-07", "--price-per-unit", "0.5", "--price-per-hour", "1",
                             "--min-balance", "10", "--max-rate", "500", "--duration", "1d", "--heartbeat", "2h",
                             "--grace", "10m", "--lessee", lessee_address, "--json", account=lessor))
    lease_id = offered["lease_id"]
    assert offered["status"] == 1 and offered["terms"]["price_per_unit"] == 500_000
    assert offered["lessee"] == lessee_address  # reserved: nobody else can open it

    opened = json.loads(cli("lease", "open", lease_id, "--deposit", "40", "--permit", "--json", account=lessee))
    assert opened["status"] == 2 and opened["escrow"] == 40 * 10**6

    def report(counter: int, runtime: int) -> None:
        now = clock((runtime and 3600) or 60)
        cli("lease", "report", lease_id, "--counter", str(counter), "--runtime", str(runtime),
            "--timestamp", str(now), "--device-keystore", str(tmp_path / "press.json"), account=3)

    report(0, 0)                   # anchors
    report(40, 3600)               # 40 parts at 0.5 + 1 h at 1 = 21
    report(80, 7200)               # 21 more: escrow 40 - 42 -> suspended with 2 debt
    shown = json.loads(cli("lease", "show", lease_id, "--json"))
    assert shown["status"] == 3 and shown["debt"] == 2 * 10**6 and shown["escrow"] == 0

    resumed = json.loads(cli("lease", "top-up", lease_id, "12", "--json", account=lessee))
    assert resumed["status"] == 2 and resumed["debt"] == 0 and resumed["escrow"] == 10 * 10**6

    statement = json.loads(cli("lease", "statement", lease_id, "--json"))
    assert [line["units"] for line in statement["lines"]] == [0, 40, 40]  # the anchoring report bills nothing
    assert statement["total_billed"] == 42 * 10**6
    rows = list(csv.DictReader(io.StringIO(cli("lease", "statement", lease_id, "--csv"))))
    assert [int(r["amount"]) for r in rows] == [0, 21 * 10**6, 21 * 10**6]
    assert "total 80 units, billed 42" in cli("lease", "statement", lease_id)

    cli("lease", "consent-close", lease_id, account=lessor)
    closed = json.loads(cli("lease", "close", lease_id, "--json", account=lessee))
    assert closed["status"] == 4
    clock(601)  # refunds open strictly after closedAt + grace
    cli("lease", "withdraw", lease_id, account=lessee)
    cli("lease", "withdraw", lease_id, account=lessor)
    token_contract = session.contract("SettlementToken")
    assert token_contract.functions.balanceOf(lessee_address).call() == (500 - 40 - 12 + 10) * 10**6
    lessor_address = session.chain.account(lessor).address
    assert token_contract.functions.balanceOf(lessor_address).call() == 42 * 10**6


def test_cli_lease_errors_name_the_problem(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli(capsys, monkeypatch, "lease", "show", "lease-7")
    assert code == 1 and "lease id 'lease-7' is neither hex" in err
    code, _, err = run_cli(capsys, monkeypatch, "lease", "show", "0x1")
    assert code == 1 and "EquipmentLeaseUnknownLease(leaseId=1)" in err
    code, _, err = run_cli(capsys, monkeypatch, "lease", "offer", "press-1", "--price-per-unit", "0.0000001",
                           "--max-rate", "5")
    assert code == 1 and "more than 6 decimal places" in err
