"""The console script as a user meets it: help everywhere, JSON for scripts, one-line errors, exit codes.
(Uses the embedded chain, which every command starts fresh.)"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from millchain.cli.main import cli
from millchain.session import DEV_SUITE
from tests.cli_runner import run_cli

DEVICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


run = run_cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, monkeypatch, *path, "--help")
    assert code == 0
    assert "Usage:" in out


def test_status_json_lists_the_suite_on_the_embedded_chain(
    compiled: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["network"] == "local"
    assert {c["contract"]: c["code"] for c in status["contracts"]} == {spec.name: "matches" for spec in DEV_SUITE}


def test_machine_register_json(compiled: object, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "machine", "register", "press-01", "--signer", DEVICE, "--json")
    assert code == 0
    machine = json.loads(out)
    assert machine["machine_id"] == "press-01"
    assert machine["signer"] == DEVICE
    assert machine["status"] == "ACTIVE"  # by name: a number changes meaning when the enum grows


def test_a_revert_prints_the_named_error_on_one_line_and_exits_1(
    compiled: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, monkeypatch, "machine", "show", "press-99")
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith("error: MachineRegistryUnknownMachine(machineId=0x70726573732d3939")


def test_bad_input_names_what_was_wrong(compiled: object, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, monkeypatch, "machine", "show", "x" * 40)
    assert code == 1
    assert "machine id" in err and "40 bytes" in err
    code, _, err = run(capsys, monkeypatch, "status", "--network", "mainnet")
    assert code == 1
    assert "unknown network 'mainnet'" in err


def test_keystore_round_trip_never_writes_the_plain_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILLCHAIN_KEYSTORE_PASSWORD", "correct horse")
    path = tmp_path / "relayer.json"
    code, out, _ = run(capsys, monkeypatch, "account", "new", str(path), "--json")
    assert code == 0
    address = json.loads(out)["address"]
    keyfile = json.loads(path.read_text())
    assert "crypto" in keyfile
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    code, out, _ = run(capsys, monkeypatch, "account", "show", str(path), "--json")
    assert json.loads(out)["address"] == address
    monkeypatch.setenv("MILLCHAIN_KEYSTORE_PASSWORD", "wrong")
    code, _, err = run(capsys, monkeypatch, "account", "show", str(path))
    assert code == 1
    assert "cannot unlock keystore" in err
    code, _, err = run(capsys, monkeypatch, "account", "new", str(path))
    assert code == 1
    assert "refusing to overwrite" in err
