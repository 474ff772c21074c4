"""millchain node | deploy | status"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from eth_utils import to_checksum_address

from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.deployments import code_hash
from millchain.errors import DeploymentError
from millchain.node import anvil_command, record_node
from millchain.project import find_project
from millchain.session import DEV_FUNDING, Session
from millchain.units import format_amount


@click.command("node")
@click.option("--port", default=8545, show_default=True,
              help="Port on 127.0.0.1; recorded in .millchain/node.json so `--network anvil` finds it.")
@click.option("--state", type=click.Path(path_type=Path), default=None,
              help="File the chain state is kept in across restarts [default: .millchain/anvil-state.json].")
@click.option("--fresh", is_flag=True, help="Start from genesis without loading or keeping state.")
def node_command(port: int, state: Path | None, fresh: bool) -> None:
    """Run a real anvil node on 127.0.0.1 (from the checkout's node_modules, or Foundry's anvil on PATH), state
    kept on disk. Ctrl-C stops it. Other commands' `--network anvil` then talk to this node, whatever its port."""
    project = find_project()
    state_file = None if fresh else (state or project.root / ".millchain" / "anvil-state.json")
    cmd = anvil_command(project, port=port, state=state_file)
    cmd.remove("--silent")
    url = f"http://127.0.0.1:{port}"
    # exec keeps the pid: the record names this very process, and dies with it.
    record = record_node(project, url, os.getpid())
    console.print(f"anvil on {url}" + (f", state in {state_file}" if state_file else "") + f" (noted in {record})")
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


@click.command("deploy")
@network_options
@click.option("--reset", is_flag=True, help="Forget this network's records and deploy everything again.")
@click.option("--fund/--no-fund", default=True, show_default=True,
              help="Development chains: mint 10,000 test mUSD to each development account that has none.")
@json_option
def deploy_command(session: Session, reset: bool, fund: bool, as_json: bool) -> None:
    """Deploy the suite; records go to deployments/<network>/ (none for the embedded chain). On a development
    chain each dev account gets test tokens, so `lease open --deposit …` works right away."""
    session.compile()
    outcomes = session.deploy(reset=reset)
    funded = session.fund_dev_accounts() if fund and session.dev_chain else []
    if as_json:
        emit_json({"network": session.chain.network, "chainId": session.chain.chain_id,
                   "contracts": [o.__dict__ for o in outcomes], "funded": funded})
        return
    table(f"{session.chain.network} (chainId {session.chain.chain_id})", ["contract", "address", "action"],
          [(o.name, o.address, o.action) for o in outcomes])
    if funded:
        console.print(f"funded {len(funded)} development accounts with {format_amount(DEV_FUNDING, 6)} mUSD each "
                      "(`millchain token mint` for more)")
    if session.store.folder:
        console.print(f"records: {session.store.folder}")


def status_rows(session: Session) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in session.store.names():
        record = session.store.get(name)
        assert record is not None
        code = session.chain.get_code(to_checksum_address(record["address"]))
        if not code:
            state = "missing (no code at address)"
        elif code_hash(code) != record.get("deployedCodeHash"):
            state = "differs from record"
        else:
            state = "matches"
        rows.append({"contract": name, "address": record["address"], "block": record.get("blockNumber"),
                     "code": state})
    return rows


@click.command("status")
@network_options
@json_option
def status_command(session: Session, as_json: bool) -> None:
    """Network, chainId, block, and each deployed contract with whether its on-chain code matches."""
    if session.chain.embedded:
        session.compile()
        session.deploy()
    rows = status_rows(session)
    head = {"network": session.chain.network, "chainId": session.chain.chain_id,
            "block": session.chain.block_number()}
    if as_json:
        emit_json({**head, "contracts": rows})
    else:
        console.print(f"network {head['network']}  chainId {head['chainId']}  block {head['block']}")
        table("contracts", ["contract", "address", "block", "code"],
              [(r["contract"], r["address"], r["block"], r["code"]) for r in rows])
    if any(r["code"] != "matches" for r in rows):
        raise DeploymentError("some recorded contracts do not match the chain (see above); "
                              "`millchain deploy --reset` redeploys")
