"""Deployments against a real anvil: records, idempotence, resume after a kill, moved nonces, wrong chain,
a node that lost its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from millchain.chain import connect
from millchain.deployments import DeploymentStore
from millchain.errors import DeploymentError
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import DEV_SUITE, Session
from millchain.tx import SignedTx

pytestmark = pytest.mark.integration

SUITE = [spec.name for spec in DEV_SUITE]


class SimulatedCrash(Exception):
    pass


def journal(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]


def test_deploy_writes_hardhat_deploy_records_and_a_write_ahead_journal(anvil_session: Session) -> None:
    outcomes = anvil_session.deploy()
    assert [(o.name, o.action) for o in outcomes] == [(n, "deployed") for n in SUITE]
    folder = anvil_session.store.folder
    assert folder is not None
    assert (folder / ".chainId").read_text() == "31337"
    record = json.loads((folder / "MachineRegistry.json").read_text())
    for key in ("address", "abi", "transactionHash", "receipt", "args", "chainId", "blockNumber", "deployer",
                "bytecodeHash", "compiler", "numDeployments"):
        assert key in record, key
    assert record["chainId"] == 31337
    assert record["args"] == [anvil_session.tx.address]
    events = [(e["event"], e.get("contract")) for e in journal(folder)]
    assert events == [(step, name) for name in SUITE for step in ("signed", "deployed")]


def test_rerunning_deploy_skips_what_matches_and_sends_nothing(anvil_session: Session) -> None:
    first = anvil_session.deploy()
    nonce = anvil_session.chain.w3.eth.get_transaction_count(anvil_session.tx.address)
    again = anvil_session.deploy()
    assert [o.action for o in again] == ["skipped"] * len(SUITE)
    assert [o.address for o in again] == [o.address for o in first]
    assert anvil_session.chain.w3.eth.get_transaction_count(anvil_session.tx.address) == nonce


def test_crash_after_journaling_before_sending_resumes_with_the_same_transaction(anvil_session: Session) -> None:
    def crash_on_registry(name: str, signed: SignedTx) -> None:
        if name == "MachineRegistry":
            raise SimulatedCrash(name)

    with pytest.raises(SimulatedCrash):
        anvil_session.deployer(after_sign=crash_on_registry).deploy_suite(anvil_session.suite)
    signed = [e for e in journal(anvil_session.store.folder) if e["event"] == "signed"]  # type: ignore[arg-type]
    outcomes = anvil_session.deploy()
    assert [o.action for o in outcomes] == ["skipped", "recovered"] + ["deployed"] * (len(SUITE) - 2)
    assert outcomes[1].tx_hash == signed[-1]["txHash"]  # the journaled bytes, not a new transaction
    # one transaction per contract, and one making EquipmentLease MachineRegistry's key listener
    assert anvil_session.chain.w3.eth.get_transaction_count(anvil_session.tx.address) == len(SUITE) + 1


def test_resume_when_another_transaction_took_the_journaled_nonce(anvil_session: Session) -> None:
    def crash_on_registry(name: str, signed: SignedTx) -> None:
        if name == "MachineRegistry":
            raise SimulatedCrash(name)

    with pytest.raises(SimulatedCrash):
        anvil_session.deployer(after_sign=crash_on_registry).deploy_suite(anvil_session.suite)
    # The operator uses the same key for something else meanwhile: nonce 1 is gone.
    anvil_session.tx.send({"to": anvil_session.chain.account(5).address, "value": 1})
    outcomes = anvil_session.deploy()
    assert [o.action for o in outcomes] == ["skipped"] + ["deployed"] * (len(SUITE) - 1)
    events = [e["event"] for e in journal(anvil_session.store.folder)]  # type: ignore[arg-type]
    assert "dropped" in events
    registry = anvil_session.contract("MachineRegistry")
    assert registry.functions.statusOf(b"\x01" * 32).call() == 0


def test_deploy_killed_with_sigkill_while_waiting_resumes_without_redeploying(
    compiled: Project, tmp_path: Path
) -> None:
    node = AnvilNode(compiled, extra=["--no-mining"]).start()
    try:
        env = {**os.environ, "MILLCHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments")}
        cmd = [sys.executable, "-m", "millchain", "deploy", "--network", "anvil", "--rpc", node.url, "--no-fund"]
        proc = subprocess.Popen(cmd, env=env, cwd=compiled.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal_file = tmp_path / "deployments" / "anvil" / "journal.jsonl"
        w3 = connect("anvil", rpc_url=node.url).w3
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = w3.provider.make_request("txpool_content", [])["result"]["pending"]  # type: ignore[arg-type]
            if journal_file.exists() and pending:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the deploy never sent its first transaction")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        rerun = subprocess.run([*cmd, "--json"], env=env, cwd=compiled.root, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        actions = [c["action"] for c in json.loads(rerun.stdout)["contracts"]]
        assert actions == ["recovered"] + ["deployed"] * (len(SUITE) - 1)
        deployer = connect("anvil", rpc_url=node.url).account(0).address
        # one transaction per contract, no duplicate, and the key-listener subscription
        assert w3.eth.get_transaction_count(deployer) == len(SUITE) + 1
    finally:
        node.stop()


def test_records_of_another_chain_are_refused(anvil_session: Session) -> None:
    anvil_session.deploy()
    folder = anvil_session.store.folder
    assert folder is not None
    path = folder / "MachineRegistry.json"
    record = json.loads(path.read_text())
    record["chainId"] = 1
    path.write_text(json.dumps(record))
    fresh = DeploymentStore(folder, 31337)
    with pytest.raises(DeploymentError, match="chainId 1 but the connected chain is 31337"):
        fresh.get("MachineRegistry")


def test_node_restarted_without_state_is_detected_and_reset_redeploys(
    compiled: Project, tmp_path: Path
) -> None:
    node = AnvilNode(compiled).start()
    port = node.port
    deployments = tmp_path / "deployments"
    try:
        Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=deployments).deploy()
    finally:
        node.stop()
    node = AnvilNode(compiled, port=port).start()  # same port, no state: a wiped node
    try:
        session = Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=deployments)
        with pytest.raises(DeploymentError, match=r"no code there .*--reset"):
            session.deploy()
        outcomes = session.deploy(reset=True)
        assert [o.action for o in outcomes] == ["deployed"] * len(SUITE)
    finally:
        node.stop()


def test_node_with_state_on_disk_keeps_the_deployment_across_a_restart(compiled: Project, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    deployments = tmp_path / "deployments"
    with AnvilNode(compiled, state=state) as node:
        port = node.port
        Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=deployments).deploy()
    with AnvilNode(compiled, port=port, state=state) as node:
        session = Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=deployments)
        assert [o.action for o in session.deploy()] == ["skipped"] * len(SUITE)


def test_a_redeployed_dependency_redeploys_what_was_built_on_it(anvil_session: Session) -> None:
    first = {o.name: o.address for o in anvil_session.deploy()}
    folder = anvil_session.store.folder
    assert folder is not None
    (folder / "MachineRegistry.json").unlink()  # as if only the registry were deployed anew
    again = {o.name: o for o in anvil_session.deploy()}
    assert again["MachineRegistry"].action == "deployed"
    assert again["EquipmentLease"].action == "deployed"  # its constructor names the registry
    assert again["SettlementToken"].action == "skipped"
    lease = anvil_session.contract("EquipmentLease")
    assert lease.functions.registry().call() == again["MachineRegistry"].address != first["MachineRegistry"]
