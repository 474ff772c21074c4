"""millchain without its source checkout: artifacts from the package, deployments from a folder or a URL, the
node `millchain node` noted, and commands that need the checkout saying so. Plus a start-up that imports no
chain library for --help/--version."""

from __future__ import annotations

import functools
import http.server
import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from millchain import compiler
from millchain import project as project_module
from millchain.chain import connect
from millchain.cli.main import COMMANDS, SHORT_HELP_LIMIT, cli
from millchain.compiler import packaged_artifacts_current, packaged_manifest
from millchain.deployments import RemoteDeploymentStore, records_folder
from millchain.errors import CompilerNotFound, ConfigError, DeploymentError
from millchain.node import AnvilNode, record_node, recorded_node_url
from millchain.project import Project, find_project
from millchain.session import DEV_SUITE, Session
from tests.cli_runner import run_cli


def test_the_listing_shows_each_commands_own_one_line_help() -> None:
    for name, (module, attribute, listed) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert listed == command.get_short_help_str(SHORT_HELP_LIMIT), name


def test_plugins_are_listed_without_importing_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli(capsys, monkeypatch, "--help")
    assert code == 0
    assert "oracle             The edge oracle: machine counters in" in out
    assert "token " in out and "MILLCHAIN_RPC" in out and "MILLCHAIN_NETWORK" in out


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_chain_library(args: list[str]) -> None:
    probe = (
        "import sys\nfrom millchain.cli.main import cli\n"
        f"try:\n    cli.main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('web3', 'eth_account', 'eth_tester', 'oracle.config') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_import_millchain_changes_no_process_wide_setting() -> None:
    probe = "import os, millchain.session, millchain.cli.main; print(os.environ.get('ETH_HASH_BACKEND'))"
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "None"


# ---------------------------------------------------------------------------------------------- artifacts


def test_the_package_ships_artifacts_compiled_from_todays_sources(compiled: Project) -> None:
    assert packaged_artifacts_current(compiled), "run `millchain compile` and commit millchain/artifacts/"
    manifest = packaged_manifest()
    assert manifest is not None
    for name in manifest["contracts"]:
        shipped = json.loads((compiler.PACKAGED_ARTIFACTS / "contracts" / f"{name}.json").read_text())
        built = json.loads((compiled.build_dir / "contracts" / f"{name}.json").read_text())
        assert (shipped["bytecode"], shipped["abi"]) == (built["bytecode"], built["abi"]), name
    assert {spec.name for spec in DEV_SUITE} <= set(manifest["contracts"])
    assert not any(name.startswith(("Reentrant", "DisclosureHarness")) for name in manifest["contracts"])
    # The build-info ships the Standard JSON input that reproduces these bytecodes, not a second copy of them.
    info = json.loads((compiler.PACKAGED_ARTIFACTS / manifest["buildInfo"]).read_text())
    assert info["input"] == json.loads(next((compiled.build_dir / "build-info").glob("*.json")).read_text())["input"]
    assert set(info["output"]) == {"sources"}


def test_an_installed_millchain_deploys_from_its_packaged_artifacts(tmp_path: Path, compiled: Project) -> None:
    installed = Project(tmp_path, checkout=False)
    session = Session(connect("local"), project=installed)
    assert session.compile().backend == "packaged"
    outcomes = session.deploy()
    assert [o.action for o in outcomes] == ["deployed"] * len(DEV_SUITE)
    assert session.contract("SettlementToken").functions.symbol().call() == "mUSD"


def test_compile_and_node_outside_a_checkout_say_they_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MILLCHAIN_ROOT", raising=False)
    monkeypatch.setattr(project_module, "source_checkout", lambda: None)
    assert find_project() == Project(tmp_path, checkout=False)
    with pytest.raises(ConfigError, match="needs the millchain source checkout"):
        find_project(need_checkout="`millchain compile`")
    with pytest.raises(CompilerNotFound, match="needs the millchain source checkout"):
        compiler.compile_project(Project(tmp_path, checkout=False))
    code, _, err = run_cli(capsys, monkeypatch, "compile")
    assert code == 1 and "`millchain compile` needs the millchain source checkout" in err
    monkeypatch.setenv("PATH", str(tmp_path))  # no anvil, no node
    code, _, err = run_cli(capsys, monkeypatch, "node")
    assert code == 1 and "Node.js" in err and "anvil" in err


# ---------------------------------------------------------------------------------------------- deployments


def test_records_folder_is_the_named_network_folder_or_its_network_subfolder(tmp_path: Path) -> None:
    network_folder = tmp_path / "anvil"
    network_folder.mkdir()
    (network_folder / ".chainId").write_text("31337")
    assert records_folder(network_folder, "anvil") == network_folder
    assert records_folder(tmp_path, "anvil") == network_folder
    assert records_folder(tmp_path / "new", "anvil") == tmp_path / "new" / "anvil"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    server.server_close()


def test_records_at_a_url_are_read_and_checked_against_the_chain(served: tuple[str, Path]) -> None:
    url, folder = served
    (folder / "MachineRegistry.json").write_text(json.dumps({"address": "0x" + "11" * 20, "chainId": 31337}))
    store = RemoteDeploymentStore(url, 31337, [spec.name for spec in DEV_SUITE])
    assert store.names() == ["MachineRegistry"]
    assert store.get("EquipmentLease") is None
    assert store.get("MachineRegistry") == {"address": "0x" + "11" * 20, "chainId": 31337}
    with pytest.raises(DeploymentError, match="read-only"):
        store.put("EquipmentLease", {})
    with pytest.raises(DeploymentError, match="chainId 31337 but the connected chain is 1"):
        RemoteDeploymentStore(url, 1, ["MachineRegistry"]).get("MachineRegistry")


# ---------------------------------------------------------------------------------------------- node record


def test_the_node_millchain_node_noted_is_used_while_it_runs(tmp_path: Path, project: Project) -> None:
    project_with_anvil = project
    here = Project(tmp_path)
    assert recorded_node_url(here) is None
    anvil = AnvilNode(project_with_anvil).start()
    try:
        record_node(here, anvil.url, anvil.process.pid)  # type: ignore[union-attr]
        assert recorded_node_url(here) == anvil.url
    finally:
        anvil.stop()
    record_node(here, "http://127.0.0.1:9999", os.getpid())
    assert recorded_node_url(here) is None  # a live process, but not an anvil (a reused pid)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    record_node(here, "http://127.0.0.1:9999", int(finished.stdout))
    assert recorded_node_url(here) is None  # that node is gone: back to the default 127.0.0.1:8545


def test_group_lists_every_registered_command() -> None:
    ctx = click.Context(cli)
    assert set(COMMANDS) <= set(cli.list_commands(ctx))
