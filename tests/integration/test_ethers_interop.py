"""A supplier whose tools are JavaScript: ethers v6, which no one here wrote, reads what millchain writes.

The buyer prepares and signs an order with the `millchain` CLI; the supplier's wallet is ethers: it signs the
order file's typed data as it stands (`Wallet.signTypedData`, what `eth_signTypedData_v4` wallets do), computes
the digest with its own EIP-712 encoder, and reads the contract through the deployment record's address and ABI
(`Contract`, `JsonRpcProvider`). The buyer submits the doubly signed file with the CLI; ethers then reads the
created order back. A file whose integers a JavaScript client cannot take, a domain that differs from the
contract's or a record a JavaScript client cannot use fails here."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from millchain.chain import connect
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session

pytestmark = pytest.mark.integration

BUYER, CARRIER = 2, 3

SUPPLIER_WALLET = r"""
const { ethers } = require("ethers");
const fs = require("node:fs");
const [mode, file, rpc, recordPath, secret] = process.argv.slice(1);
const record = JSON.parse(fs.readFileSync(recordPath, "utf8"));
const settlement = new ethers.Contract(record.address, record.abi, new ethers.JsonRpcProvider(rpc));
const doc = JSON.parse(fs.readFileSync(file, "utf8"));
const { EIP712Domain, ...types } = doc.typedData.types;  // ethers derives the domain's type itself
const { domain, message } = doc.typedData;
(async () => {
  if (mode === "sign") {
    const wallet = new ethers.Wallet(secret);
    doc.signatures.supplier = await wallet.signTypedData(domain, types, message);
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const onChain = await settlement.eip712Domain();
    console.log(JSON.stringify({
      signer: wallet.address,
      digest: ethers.TypedDataEncoder.hash(domain, types, message),
      contractDigest: await settlement.orderDigest(message),
      contractDomain: { name: onChain.name, version: onChain.version, chainId: onChain.chainId.toString(),
                        verifyingContract: onChain.verifyingContract },
    }));
  } else {
    const state = await settlement.orderState(secret);  // the order key the CLI printed
    console.log(JSON.stringify({ status: Number(state.status), buyer: state.buyer, supplier: state.supplier,
                                 quantity: state.quantity.toString(), unitPrice: state.unitPrice.toString() }));
  }
})().catch((error) => { console.error(error.shortMessage ?? error.message); process.exit(1); });
"""


def ethers(project: Project, *args: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "Node.js is required (scripts/dev checks for it)"
    done = subprocess.run([node, "-e", SUPPLIER_WALLET, *args], capture_output=True, text=True, cwd=project.root,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, f"the ethers client failed: {done.stderr}"
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_an_ethers_wallet_signs_the_order_file_and_reads_the_order_the_cli_submitted(
    compiled: Project, anvil: AnvilNode, tmp_path: Path, anvil_cli: Callable[..., str]
) -> None:
    cli = anvil_cli
    cli("deploy", "--no-fund")
    session = Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
    buyer = session.chain.account(BUYER).address
    session.tx.transact(session.contract("SettlementToken").functions.mint(buyer, 30_000 * 10**6))
    supplier_key = "0x" + secrets.token_hex(32)  # only the ethers wallet holds it
    supplier = Account.from_key(supplier_key).address
    record = tmp_path / "deployments" / "anvil" / "SupplyChainSettlement.json"

    order_file = tmp_path / "po-ethers.json"
    cli("order", "create", "--id", "PO-ETHERS-1", "--buyer", str(BUYER), "--supplier", supplier, "--carrier",
        str(CARRIER), "--quantity", "400", "--unit-price", "52.5", "--deadline", "30d", "--retention", "5%",
        "--warranty", "90d", "--line", "item=cement P.O 42.5", "--out", str(order_file))  # fmt: skip
    cli("order", "sign", str(order_file), account=BUYER)

    signed = ethers(compiled, "sign", str(order_file), anvil.url, str(record), supplier_key)
    assert signed["signer"] == supplier
    assert signed["digest"] == signed["contractDigest"], "ethers' EIP-712 digest differs from the contract's"
    typed = json.loads(order_file.read_text())["typedData"]
    assert signed["contractDomain"] == {**typed["domain"], "chainId": str(typed["domain"]["chainId"])}

    created = json.loads(cli("order", "submit", str(order_file), "--fund", "all", "--json", account=BUYER))
    assert created["transaction"]["events"] == ["OrderCreated", "EscrowFunded"]
    assert created["order"]["supplier"] == supplier

    read = ethers(compiled, "read", str(order_file), anvil.url, str(record), created["order"]["key"])
    assert read == {"status": 1, "buyer": buyer, "supplier": supplier, "quantity": "400",
                    "unitPrice": str(52_500_000)}  # fmt: skip
