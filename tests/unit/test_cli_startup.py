"""Read-only commands start without the signing stack (issue 13, item 7), and read what web3 would (the reader
itself: test_cli_startup_reader.py).

web3's package imports eth-account, whose keyfile module builds py_ecc's BLS12-381 tables (~0.3 s), and every
provider with aiohttp (~0.1 s): a read-only command (`status`, `lease show`) asks the node over plain JSON-RPC
(millchain.rpc) and decodes with eth_abi (ContractReader) instead. No timing here (the benchmark is
scripts/bench_cli.py): which libraries a real command's process loaded, and that its answers equal web3's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from millchain.leasing import LeaseClient, _lease_from_tuple
from millchain.node import AnvilNode
from millchain.session import Session
from millchain.typed_data import DeviceSigner, UsageReport
from millchain.types import machine_id
from scripts.bench_cli import prepare

SIGNING_STACK = ("web3", "eth_account", "eth_keyfile", "py_ecc", "aiohttp")
"""What a read-only command must not import: each is a large part of web3's import time."""

# Runs the console script's main() as `millchain ARGS…` would, then reports which of SIGNING_STACK it loaded.
PROBE = """
import json, sys
from millchain.cli.main import main
sys.argv = ["millchain", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print("PROBE " + json.dumps({"code": code, "loaded": sorted(m for m in STACK if m in sys.modules)}), file=sys.stderr)
""".replace("STACK", repr(SIGNING_STACK))


def run_probe(args: list[str], env: dict[str, str]) -> tuple[int, list[str], str]:
    """(exit code, which of SIGNING_STACK the process imported, stdout) of `millchain ARGS` in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, env=env, timeout=120
    )
    reports = [line for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    assert reports, done.stderr
    report = json.loads(reports[-1].removeprefix("PROBE "))
    return int(report["code"]), list(report["loaded"]), done.stdout


@pytest.fixture
def offered(anvil_session: Session, anvil: AnvilNode, tmp_path: Path) -> tuple[Session, int, dict[str, str]]:
    """The suite on a fresh anvil, one lease offered by account 1 (as scripts/bench_cli.py times them), the dev
    accounts funded; with the environment a user's shell would have for it."""
    lease_id = int(prepare(tmp_path, anvil.url), 16)  # the benchmark's own set-up: suite, machine, offer
    session = anvil_session
    session.compile()
    session.fund_dev_accounts()
    env = {
        **os.environ,
        "MILLCHAIN_NETWORK": "anvil",
        "MILLCHAIN_RPC": anvil.url,
        "MILLCHAIN_DEPLOYMENTS": str(tmp_path / "deployments"),
    }
    return session, lease_id, env


def web3_lease_json(session: Session, lease_id: int) -> dict[str, Any]:
    """The lease as web3's contract call decodes it (the path every command took before)."""
    from millchain.jsonable import model_json

    raw = session.tx.call(session.contract("EquipmentLease").functions.getLease(lease_id))
    lease = _lease_from_tuple(lease_id, raw)
    return {**model_json(lease), "lease_id": lease.lease_hex}


def test_status_and_lease_show_import_no_signing_stack_and_answer_as_web3_reads(
    offered: tuple[Session, int, dict[str, str]],
) -> None:
    session, lease_id, env = offered

    code, loaded, out = run_probe(["status", "--json"], env)
    assert (code, loaded) == (0, [])
    status = json.loads(out)
    assert status["chainId"] == session.chain.chain_id == 31337
    assert status["block"] == session.chain.w3.eth.block_number
    assert {row["contract"]: row["code"] for row in status["contracts"]} == {
        name: "matches" for name in session.store.names()
    }

    code, loaded, out = run_probe(["lease", "show", hex(lease_id), "--json"], env)
    assert (code, loaded) == (0, [])
    assert json.loads(out) == web3_lease_json(session, lease_id)

    code, loaded, out = run_probe(["lease", "show", hex(lease_id)], env)  # the table reads the token's decimals
    assert (code, loaded) == (0, [])
    assert "price per unit" in out and "0.1 " in out and "OFFERED" in out


def test_a_signing_command_still_signs_and_the_read_after_it_sees_its_effect(
    offered: tuple[Session, int, dict[str, str]],
) -> None:
    session, lease_id, env = offered
    code, loaded, out = run_probe(["lease", "open", hex(lease_id), "--deposit", "5", "--account", "2", "--json"], env)
    assert code == 0, out
    assert "web3" in loaded  # web3 is still what signs and sends
    code, loaded, out = run_probe(["lease", "show", hex(lease_id), "--json"], env)
    assert (code, loaded) == (0, [])
    shown = json.loads(out)
    assert shown == web3_lease_json(session, lease_id)
    lessee = session.chain.account(2).address
    assert (shown["status"], shown["escrow"], shown["lessee"]) == ("ACTIVE", 5 * 10**6, lessee)


def test_an_unknown_lease_fails_with_the_contracts_error_without_the_signing_stack(
    offered: tuple[Session, int, dict[str, str]],
) -> None:
    _, lease_id, env = offered
    done = subprocess.run(
        [sys.executable, "-m", "millchain", "lease", "show", hex(lease_id + 1)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: EquipmentLeaseUnknownLease(leaseId={lease_id + 1})"
    code, loaded, _ = run_probe(["lease", "show", hex(lease_id + 1)], env)
    assert (code, loaded) == (1, [])


def test_machine_show_imports_no_signing_stack_and_answers_as_web3_reads(
    offered: tuple[Session, int, dict[str, str]],
) -> None:
    session, _, env = offered
    code, loaded, out = run_probe(["machine", "show", "bench-press", "--json"], env)
    assert (code, loaded) == (0, [])
    shown = json.loads(out)
    registry = session.contract("MachineRegistry")
    owner, signer, *_ = session.tx.call(registry.functions.getMachine(machine_id("bench-press")))
    assert (shown["owner"], shown["signer"], shown["key_type"]) == (owner, signer, "secp256k1")
    assert shown["status"] == "ACTIVE" and shown["signer"] == session.chain.account(5).address


def test_lease_statement_imports_no_signing_stack_and_lists_what_the_chain_settled(
    offered: tuple[Session, int, dict[str, str]],
) -> None:
    session, lease_id, env = offered
    lessee = LeaseClient(session, 2)
    lessee.open(lease_id, 5 * 10**6)
    device = DeviceSigner(bytes(session.chain.account(5).key), lessee.hasher)
    start = session.chain.now()
    for counter in (100, 103, 108):  # the anchor (settles 0 units), then two settlements, a minute apart
        now = session.chain.advance_time(60)
        report = UsageReport(
            lease_id=lease_id,
            machine_id=machine_id("bench-press"),
            counter=counter,
            runtime_seconds=now - start,
            timestamp=now,
        )
        lessee.submit(device.sign(report))
    code, loaded, out = run_probe(["lease", "statement", hex(lease_id), "--json"], env)
    assert (code, loaded) == (0, [])
    statement = json.loads(out)
    settled = (
        session.contract("EquipmentLease")
        .events.UsageSettled()
        .get_logs(argument_filters={"leaseId": lease_id}, from_block=0)
    )
    assert [(line["counter"], line["units"], line["amount"], line["tx_hash"]) for line in statement["lines"]] == [
        (
            log["args"]["counter"],
            log["args"]["units"],
            log["args"]["amount"],
            "0x" + bytes(log["transactionHash"]).hex(),
        )
        for log in settled
    ]
    assert [line["units"] for line in statement["lines"]] == [0, 3, 5] and statement["total_units"] == 8  # anchor: 0
    assert [line["time"] for line in statement["lines"]] == [
        session.chain.w3.eth.get_block(log["blockNumber"])["timestamp"] for log in settled
    ]
