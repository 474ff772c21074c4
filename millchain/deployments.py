"""Deployment records (hardhat-deploy's file shape) and the write-ahead journal that makes deploys resumable.

deployments/<network>/<Contract>.json   one record per contract: address, ABI, chainId, tx, block, args …
deployments/<network>/.chainId          hardhat-deploy's marker of the network's chain
deployments/<network>/journal.jsonl     one line per step, the ``signed`` line fsynced before the bytes leave

A deploy interrupted at any point resumes: a signed transaction whose receipt exists is recorded, one still
unmined with its nonce unused is re-broadcast byte for byte, one whose nonce another transaction took is
dropped and the contract deployed afresh. Nonces always come from the chain.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from millchain.errors import DeploymentError
from millchain.tx import SignedTx, Transactor

if TYPE_CHECKING:  # web3 and eth-account: imported where used (a read-only command never does, see millchain.rpc)
    from web3.types import TxReceipt


def code_hash(code: bytes | str) -> str:
    raw = HexBytes(code)
    return "0x" + keccak(raw).hex()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class DeploymentStore:
    """Records and journal for one network; with ``folder=None`` (the embedded chain) they live in memory."""

    def __init__(self, folder: Path | None, chain_id: int) -> None:
        self.folder = folder
        self.chain_id = chain_id
        self._memory: dict[str, dict[str, Any]] = {}
        self._memory_journal: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ records

    def record_path(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{name}.json"

    def get(self, name: str) -> dict[str, Any] | None:
        if self.folder is None:
            return self._memory.get(name)
        path = self.record_path(name)
        if not path.is_file():
            return None
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DeploymentError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
        recorded = record.get("chainId")
        if recorded != self.chain_id:
            raise DeploymentError(
                f"{path} was deployed on chainId {recorded} but the connected chain is {self.chain_id}: "
                "wrong --network/--rpc? (or delete the folder to start over on this chain)"
            )
        return record

    def names(self) -> list[str]:
        if self.folder is None:
            return sorted(self._memory)
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def put(self, name: str, record: dict[str, Any]) -> None:
        if self.folder is None:
            self._memory[name] = record
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ".chainId").write_text(str(self.chain_id))
        path = self.record_path(name)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def clear(self) -> None:
        """Forget every record (``--reset``); the journal keeps its history and notes the reset."""
        if self.folder is None:
            self._memory.clear()
        else:
            for name in self.names():
                self.record_path(name).unlink()
        self.journal("reset")

    # ------------------------------------------------------------------ journal

    def journal(self, event: str, **fields: Any) -> None:
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event,
                 "chainId": self.chain_id, **fields}
        if self.folder is None:
            self._memory_journal.append(entry)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "journal.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # write-ahead: on disk before the transaction can exist anywhere else

    def entries(self) -> list[dict[str, Any]]:
        if self.folder is None:
            return list(self._memory_journal)
        path = self.folder / "journal.jsonl"
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write was never followed by a send
        return out

    def pending(self, name: str) -> dict[str, Any] | None:
        """The last ``signed`` entry for ``name`` on this chain not followed by its outcome."""
        last: dict[str, Any] | None = None
        for entry in self.entries():
            if entry.get("chainId") != self.chain_id:
                continue
            if entry["event"] == "reset":
                last = None
            elif entry.get("contract") == name:
                last = entry if entry["event"] == "signed" else None
        return last


class RemoteDeploymentStore(DeploymentStore):
    """Records published over HTTP(S) (``--deployments https://…/deployments/<network>/``): read-only, each
    ``<Contract>.json`` fetched once when first asked for. Deploying needs a folder."""

    def __init__(self, url: str, chain_id: int, names: Sequence[str], *, timeout: float = 15.0) -> None:
        super().__init__(None, chain_id)
        self.url = url.rstrip("/")
        self._known = tuple(names)
        self._timeout = timeout
        self._fetched: dict[str, dict[str, Any] | None] = {}

    def _fetch(self, name: str) -> dict[str, Any] | None:
        import urllib.error
        import urllib.request

        if name not in self._fetched:
            url = f"{self.url}/{name}.json"
            try:
                with urllib.request.urlopen(url, timeout=self._timeout) as response:
                    self._fetched[name] = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise DeploymentError(f"cannot read deployment record {url}: HTTP {exc.code}") from exc
                self._fetched[name] = None
            except (urllib.error.URLError, OSError) as exc:
                raise DeploymentError(f"cannot read deployment record {url}: {exc}") from exc
            except json.JSONDecodeError as exc:
                raise DeploymentError(f"{url} is not a JSON deployment record: {exc}") from exc
        return self._fetched[name]

    def get(self, name: str) -> dict[str, Any] | None:
        record = self._fetch(name)
        if record is not None and record.get("chainId") != self.chain_id:
            raise DeploymentError(f"{self.url}/{name}.json was deployed on chainId {record.get('chainId')} but the "
                                  f"connected chain is {self.chain_id}: wrong --network/--rpc?")
        return record

    def names(self) -> list[str]:
        return [name for name in self._known if self._fetch(name) is not None]

    def put(self, name: str, record: dict[str, Any]) -> None:
        raise DeploymentError(f"deployment records at {self.url} are read-only: deploy with --deployments FOLDER")

    def clear(self) -> None:
        raise DeploymentError(f"deployment records at {self.url} are read-only")


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def records_folder(location: Path, network: str) -> Path:
    """The records folder a user named: a network's folder itself (it holds records or hardhat-deploy's
    ``.chainId``), else its ``<network>/`` subfolder."""
    if (location / ".chainId").is_file() or (location.is_dir() and not (location / network).exists()
                                              and any(location.glob("*.json"))):
        return location
    return location / network


@dataclass(frozen=True)
class ContractSpec:
    """One contract of a suite and how to compute its constructor arguments from what came before."""

    name: str
    args: Callable[[dict[str, str], str], Sequence[Any]]
    """(addresses deployed so far by name, deployer address) -> constructor arguments"""


@dataclass(frozen=True)
class DeployOutcome:
    name: str
    address: str
    action: str  # "deployed" | "skipped" | "recovered"
    tx_hash: str | None


class Deployer:
    def __init__(
        self,
        transactor: Transactor,
        store: DeploymentStore,
        artifacts: Callable[[str], dict[str, Any]],
        *,
        after_sign: Callable[[str, SignedTx], None] | None = None,
    ) -> None:
        self.tx = transactor
        self.store = store
        self.artifacts = artifacts
        self._after_sign = after_sign  # test seam: simulate a crash between the journal and the send

    def check_record(self, name: str, record: dict[str, Any]) -> bool:
        """True if the chain still holds the recorded code and it was built from today's sources."""
        code = self.tx.chain.w3.eth.get_code(to_checksum_address(record["address"]))
        if len(code) == 0:
            where = self.store.record_path(name) if self.store.folder else name
            raise DeploymentError(
                f"{where} records {name} at {record['address']} but the chain has no code there "
                "(node restarted without its state?); run `millchain deploy --reset` to redeploy"
            )
        artifact = self.artifacts(name)
        same_build = record.get("bytecodeHash") == code_hash(artifact["bytecode"])
        return same_build and code_hash(code) == record.get("deployedCodeHash")

    def deploy_suite(self, specs: Sequence[ContractSpec], *, reset: bool = False) -> list[DeployOutcome]:
        if any(spec.name == "EquipmentLease" for spec in specs):
            require_p256verify(self.tx.chain.w3)
        if reset:
            self.store.clear()
        addresses: dict[str, str] = {}
        outcomes = []
        for spec in specs:
            outcome = self.deploy(spec, addresses)
            addresses[spec.name] = outcome.address
            outcomes.append(outcome)
        return outcomes

    def deploy(self, spec: ContractSpec, addresses: dict[str, str]) -> DeployOutcome:
        name = spec.name
        record = self.store.get(name)
        args = [_jsonable(a) for a in spec.args(addresses, self.tx.address)]
        # Same code and same constructor arguments: a contract built on a redeployed dependency is redeployed.
        if record is not None and self.check_record(name, record) and record.get("args") == args:
            self.store.journal("skipped", contract=name, address=record["address"])
            return DeployOutcome(name, record["address"], "skipped", None)

        artifact = self.artifacts(name)
        bytecode_hash = code_hash(artifact["bytecode"])
        recovered = self._recover(name, bytecode_hash, args)
        if recovered is not None:
            return recovered

        contract = self.tx.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = contract.constructor(*args).data_in_transaction
        tx = self.tx.build({"data": data})
        signed = self.tx.sign(tx)
        self.store.journal("signed", contract=name, nonce=signed.nonce, txHash=signed.tx_hash,
                           raw=signed.raw, bytecodeHash=bytecode_hash, args=args, deployer=self.tx.address)
        if self._after_sign is not None:
            self._after_sign(name, signed)
        self.tx.broadcast(signed)
        receipt = self.tx.check(self.tx.wait(signed.tx_hash), tx)
        return self._record(name, artifact, args, receipt, "deployed", record)

    def _recover(self, name: str, bytecode_hash: str, args: list[Any]) -> DeployOutcome | None:
        entry = self.store.pending(name)
        if entry is None or entry.get("bytecodeHash") != bytecode_hash or entry.get("args") != args:
            return None
        receipt = self.tx.receipt(entry["txHash"])
        if receipt is None:
            chain_nonce = self.tx.chain.w3.eth.get_transaction_count(self.tx.account.address)
            if chain_nonce > entry["nonce"]:
                # Another transaction took that nonce: ours can never be mined. Deploy afresh.
                self.store.journal("dropped", contract=name, txHash=entry["txHash"], nonce=entry["nonce"])
                return None
            signed = SignedTx(nonce=entry["nonce"], tx_hash=entry["txHash"], raw=entry["raw"])
            self.tx.broadcast(signed)
            receipt = self.tx.wait(signed.tx_hash)
        if receipt["status"] != 1:
            self.store.journal("failed", contract=name, txHash=entry["txHash"])
            return None
        return self._record(name, self.artifacts(name), args, receipt, "recovered", self.store.get(name))

    def _record(
        self,
        name: str,
        artifact: dict[str, Any],
        args: list[Any],
        receipt: TxReceipt,
        action: str,
        previous: dict[str, Any] | None,
    ) -> DeployOutcome:
        contract_address = receipt["contractAddress"]
        if contract_address is None:
            raise DeploymentError(f"receipt of {name}'s deployment has no contract address")
        address = to_checksum_address(contract_address)
        deployed_code = self.tx.chain.w3.eth.get_code(address)
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        record = {
            "address": address,
            "abi": artifact["abi"],
            "transactionHash": tx_hash,
            "receipt": {
                "from": receipt["from"],
                "contractAddress": address,
                "transactionHash": tx_hash,
                "blockNumber": receipt["blockNumber"],
                "blockHash": HexBytes(receipt["blockHash"]).to_0x_hex(),
                "gasUsed": receipt["gasUsed"],
                "status": receipt["status"],
            },
            "args": args,
            "numDeployments": (previous or {}).get("numDeployments", 0) + 1,
            "solcInputHash": artifact.get("buildInfo", "").removesuffix(".json"),
            "bytecode": artifact["bytecode"],
            "deployedBytecode": artifact["deployedBytecode"],
            "chainId": self.store.chain_id,
            "blockNumber": receipt["blockNumber"],
            "deployer": receipt["from"],
            "bytecodeHash": code_hash(artifact["bytecode"]),
            "deployedCodeHash": code_hash(deployed_code),
            "compiler": artifact.get("compiler"),
            "devdoc": artifact.get("devdoc", {}),
            "userdoc": artifact.get("userdoc", {}),
            "storageLayout": artifact.get("storageLayout", {}),
        }
        self.store.put(name, record)
        self.store.journal(action, contract=name, address=address, txHash=tx_hash,
                           block=receipt["blockNumber"])
        return DeployOutcome(name, address, action, tx_hash)


def require_p256verify(w3: Any) -> None:
    """Refuse a chain without P256VERIFY at 0x100 (EIP-7951): EquipmentLease verifies P-256 device keys (TPMs,
    secure elements) there, and OpenZeppelin's Solidity fallback costs ~200,000 gas a report."""
    from millchain.p256_precompile import has_p256verify

    if not has_p256verify(w3):
        raise DeploymentError(
            "this chain has no P256VERIFY precompile at 0x100 (EIP-7951, Osaka; RIP-7212 on rollups): EquipmentLease "
            "needs it to verify P-256 device keys. Use a chain with Osaka-era precompiles (anvil >= 1.x, Besu with "
            "Osaka, the embedded chain)."
        )
