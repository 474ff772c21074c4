"""What a newcomer needs on a development chain: funded dev accounts after deploy, test tokens and gas money on
demand, and a plain error where those make no sense. (Embedded chain: each command starts it fresh.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from millchain.chain import Chain, dev_accounts
from millchain.errors import ConfigError
from millchain.leasing import lease_hex, parse_lease_id
from millchain.project import Project
from millchain.session import DEV_FUNDING, Session
from millchain.settlement import format_bps
from tests.cli_runner import run_cli

ANYONE = "0x000000000000000000000000000000000000dEaD"


def test_deploy_funds_every_dev_account_on_a_dev_chain(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "deploy", "--json")
    assert code == 0, err
    assert json.loads(out)["funded"] == [account.address for account in dev_accounts()]


def test_funding_again_mints_only_to_empty_accounts(local: Session) -> None:
    token = local.contract("SettlementToken")
    first = local.fund_dev_accounts()
    assert all(token.functions.balanceOf(a).call() >= DEV_FUNDING for a in first)
    assert local.fund_dev_accounts() == []


def test_token_mint_adds_to_the_balance(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "token", "mint", ANYONE, "12.5", "--json")
    assert code == 0, err
    minted = json.loads(out)
    assert (minted["minted"], minted["balance"]) == ("12500000", "12500000")


def test_token_mint_names_a_bad_address(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(capsys, monkeypatch, "token", "mint", "0x1234", "1")
    assert code == 2 and "'0x1234' is not an address" in err


def test_token_mint_on_a_real_network_says_it_is_for_dev_chains(local: Session) -> None:
    # what a session on an --rpc network looks like: no embedded tester, a network name of its own
    besu = Session(
        Chain(w3=local.chain.w3, network="besu-consortium", accounts=local.chain.accounts), project=local.project
    )
    with pytest.raises(ConfigError, match="minting test tokens works on development chains only"):
        besu.mint(ANYONE, 1)


def test_account_fund_sends_ether_to_a_relayer(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "account", "fund", ANYONE, "--eth", "0.5", "--json")
    assert code == 0, err
    assert json.loads(out)["balance_wei"] == str(5 * 10**17)


def test_tables_are_not_cut_at_80_columns_when_output_is_not_a_terminal() -> None:
    probe = (
        "from millchain.cli.common import table\n"
        "table('t', ['address', 'reason'], [('0x' + 'ab' * 20, 'quarantined: ' + 'counter went backwards ' * 4)])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "0x" + "ab" * 20 in out and ("counter went backwards " * 4).strip() in out


def test_a_zero_tolerance_prints_as_zero_percent() -> None:
    assert format_bps(0) == "0 %" and format_bps(250) == "2.5 %"


def test_lease_ids_print_as_whole_bytes() -> None:
    assert lease_hex(0x186A0) == "0x0186a0" and parse_lease_id(lease_hex(0x186A0)) == 0x186A0
