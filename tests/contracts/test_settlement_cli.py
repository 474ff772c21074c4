"""`millchain order` on the embedded chain (a fresh chain per invocation): an order prepared in a file, signed
by each party in its own invocation and submitted in a third; every bad input gets one line naming what was
wrong. The whole flow across invocations runs on anvil (tests/integration/test_settlement_anvil.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millchain.chain import dev_accounts
from millchain.project import Project
from tests.cli_runner import run_cli

CREATE = ["order", "create", "--id", "PO-CLI-0001", "--buyer", "2", "--supplier", "1", "--carrier", "3",
          "--quantity", "400", "--unit-price", "52.5", "--retention", "5%", "--warranty", "90d",
          "--tolerance", "0.5%", "--line", "item=cement P.O 42.5", "--line", "delivery=plant 3"]


def test_an_order_file_is_signed_by_each_party_in_turn_and_submitted(
    compiled: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "order.json"
    code, out, err = run_cli(capsys, monkeypatch, *CREATE, "--out", str(path))
    assert code == 0, err
    assert "written to" in out and "millchain order sign" in out
    document = json.loads(path.read_text())
    assert document["typedData"]["message"]["unitPrice"] == "52500000"  # uint96: a decimal string, as wallets take it
    assert document["typedData"]["message"]["retentionBps"] == 500
    assert set(document["lines"]["fields"]) == {"item", "delivery"}

    code, out, err = run_cli(capsys, monkeypatch, "order", "sign", str(path), "--account", "2")
    assert code == 0, err
    assert "signed as buyer" in out and "still missing: supplier" in out
    code, out, err = run_cli(capsys, monkeypatch, "order", "submit", str(path))
    assert code == 1 and "the order has no supplier signature yet" in err
    code, _, err = run_cli(capsys, monkeypatch, "order", "sign", str(path), "--account", "6")
    assert code == 1 and f"{dev_accounts()[6].address} is neither the buyer" in err
    code, out, err = run_cli(capsys, monkeypatch, "order", "sign", str(path), "--account", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["signatures"] == ["buyer", "supplier"]

    code, out, err = run_cli(capsys, monkeypatch, "order", "submit", str(path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["order"]["status"] == "ACTIVE" and report["order"]["order_id"] == "PO-CLI-0001"
    assert report["transaction"]["events"] == ["OrderCreated"]
    assert report["funds"]["balanced"] is True


def test_create_submit_signs_with_local_keys_and_shows_the_four_flows(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_cli(capsys, monkeypatch, *CREATE, "--submit")
    assert code == 0, err
    assert "created order PO-CLI-0001" in out
    for column in ("商流", "物流", "票流", "资金流"):
        assert column in out
    assert "400 x 52.5 = 21,000" in out and "retention 5 % for 90d" in out


@pytest.mark.parametrize("args,message", [
    (["order", "create", "--id", "PO-1", "--buyer", "2", "--supplier", "1", "--carrier", "3", "--quantity", "1",
      "--unit-price", "1"], "nothing to do: give --out FILE"),
    ([*CREATE, "--out", "x.json", "--fund", "all"], "--fund needs --submit"),
    ([*CREATE[:-4], "--retention", "5.001%", "--submit"], "--retention '5.001%' is finer than one basis point"),
    ([*CREATE[:12], "--unit-price", "52.5000001", "--submit"], "--unit-price '52.5000001' has more than 6 decimal"),
    ([*CREATE[:4], "--buyer", "0xnope", *CREATE[6:], "--submit"], "--buyer '0xnope' is not an address"),
    ([*CREATE[:4], "--buyer", "0x" + "12" * 20, *CREATE[6:], "--submit"], "cannot sign as buyer"),
    ([*CREATE[:4], "--buyer", "1", *CREATE[6:], "--submit"], "buyer and supplier are the same account"),
    ([*CREATE, "--retention", "0", "--warranty", "0", "--deadline", "soon", "--submit"],
     "--deadline 'soon' is not a duration"),
    (["order", "show", "PO-NOWHERE"], "no order 'PO-NOWHERE' on this chain"),
    (["order", "show", "0x" + "ab" * 32], "SupplyChainSettlementUnknownOrder(orderKey=0x" + "ab" * 32 + ")"),
    (["order", "receive", "0x" + "ab" * 32, "1"], "give exactly one of --quantity N"),
    (["order", "checkpoint", "0x" + "ab" * 32, "1", "--field", "place"], "--field 'place' is not NAME=VALUE"),
    (["order", "sign", "missing.json"], "cannot read order file missing.json"),
])
def test_bad_input_is_named_in_one_line(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    args: list[str], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, monkeypatch, *args)
    assert code != 0
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 or err.startswith("Usage"), err
