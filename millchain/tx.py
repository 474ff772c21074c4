"""Build, sign, send and confirm transactions from a local account; surface reverts as ContractRevert.

Transactions are signed here and sent raw, so the same code path serves the embedded chain, anvil and any
JSON-RPC node, and callers that must journal a transaction before it leaves (deployments, the oracle) can
hold the signed bytes and hash in hand first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from hexbytes import HexBytes

from millchain.calls import explain_failure
from millchain.chain import RECEIPT_POLL_SECONDS, Chain
from millchain.errors import ChainError, ContractRevert, TransactionFailed
from millchain.reverts import RevertDecoder

if TYPE_CHECKING:  # web3 and eth-account: imported where used (a read-only command never does, see millchain.rpc)
    from eth_account.signers.local import LocalAccount
    from web3.contract.contract import ContractFunction
    from web3.types import TxReceipt

GAS_MARGIN_PERCENT = 20
"""Headroom over eth_estimateGas: storage refunds and warm/cold access can shift the real figure a little."""
DEFAULT_TIP_WEI = 10**9


@dataclass(frozen=True)
class SignedTx:
    nonce: int
    tx_hash: str
    raw: str  # 0x-hex of the signed RLP: safe to persist, it holds a signature, not a key


class Transactor:
    """Sends transactions for one account on one chain."""

    def __init__(self, chain: Chain, account: LocalAccount, decoder: RevertDecoder) -> None:
        self.chain = chain
        self.account = account
        self.decoder = decoder

    @property
    def address(self) -> str:
        return str(self.account.address)

    # ------------------------------------------------------------------ reverts

    def explain(self, exc: BaseException) -> Exception:
        """The ContractRevert hidden in a provider exception, or a ChainError saying what happened."""
        return explain_failure(self.decoder, exc)

    def call(self, fn: ContractFunction, *, block: int | str = "latest") -> Any:
        try:
            return fn.call({"from": self.account.address}, block_identifier=cast(Any, block))
        except ContractRevert:
            raise
        except Exception as exc:
            raise self.explain(exc) from exc

    # ------------------------------------------------------------------ building

    def fee_caps(self, latest: Any = None, *, tip_floor: int = 0, max_floor: int = 0) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas): twice the base fee of `latest` (fetched unless given) plus the
        node's suggested tip, raised to the floors a replacement transaction must outbid."""
        w3 = self.chain.w3
        base = int((latest or w3.eth.get_block("latest")).get("baseFeePerGas") or 0)
        try:
            tip = int(w3.eth.max_priority_fee)
        except Exception:  # not every node implements eth_maxPriorityFeePerGas
            tip = DEFAULT_TIP_WEI
        tip = max(tip, tip_floor)
        return max(2 * base + tip, max_floor), tip

    def fees(self) -> dict[str, int]:
        max_fee, tip = self.fee_caps()
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}

    def build(self, tx: dict[str, Any], *, nonce: int | None = None, gas: int | None = None) -> dict[str, Any]:
        """Fill chainId, nonce (from the chain's pending count unless given), fees and gas."""
        w3 = self.chain.w3
        full: dict[str, Any] = {"from": self.address, "value": 0, **tx, "chainId": self.chain.chain_id}
        full["nonce"] = nonce if nonce is not None else w3.eth.get_transaction_count(self.account.address, "pending")
        full.update(self.fees())
        if gas is None:
            try:
                estimate = w3.eth.estimate_gas(cast(Any, {k: v for k, v in full.items() if k != "nonce"}))
            except Exception as exc:
                raise self.explain(exc) from exc
            gas = estimate * (100 + GAS_MARGIN_PERCENT) // 100
        full["gas"] = gas
        return full

    def sign(self, tx: dict[str, Any]) -> SignedTx:
        signed = self.account.sign_transaction({k: v for k, v in tx.items() if k != "from"})
        return SignedTx(nonce=int(tx["nonce"]), tx_hash=HexBytes(signed.hash).to_0x_hex(),
                        raw=HexBytes(signed.raw_transaction).to_0x_hex())

    # ------------------------------------------------------------------ sending

    def broadcast(self, signed: SignedTx) -> None:
        """Send raw bytes; a node that already holds them is not an error (re-broadcast after a crash)."""
        try:
            self.chain.w3.eth.send_raw_transaction(HexBytes(signed.raw))
        except Exception as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return
            raise self.explain(exc) from exc

    def wait(self, tx_hash: str, *, timeout: float = 120.0) -> TxReceipt:
        try:
            receipt = self.chain.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=timeout, poll_latency=RECEIPT_POLL_SECONDS
            )
        except Exception as exc:
            raise ChainError(f"no receipt for {tx_hash} within {timeout:.0f} s: {exc}") from exc
        return receipt

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt if the transaction is mined, else None."""
        try:
            return self.chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except Exception:  # web3 raises TransactionNotFound; eth-tester its own type
            return None

    def check(self, receipt: TxReceipt, tx: dict[str, Any]) -> TxReceipt:
        """Raise the decoded revert if ``receipt`` failed, by replaying the call at its block."""
        if receipt["status"] == 1:
            return receipt
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            self.chain.w3.eth.call(replay, receipt["blockNumber"])  # type: ignore[arg-type]
        except Exception as exc:
            explained = self.explain(exc)
            if isinstance(explained, ContractRevert):
                raise explained from exc
        raise TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted (no reason given)")

    def send(self, tx: dict[str, Any], *, gas: int | None = None) -> TxReceipt:
        full = self.build(tx, gas=gas)
        signed = self.sign(full)
        self.broadcast(signed)
        return self.check(self.wait(signed.tx_hash), full)

    def send_many(self, txs: list[dict[str, Any]], *, gas: int) -> list[TxReceipt]:
        """Sign ``txs`` with consecutive nonces, broadcast them all, then wait for every receipt: bulk setup
        (a fleet of machines) at the node's pace instead of one round trip per transaction."""
        nonce = self.chain.w3.eth.get_transaction_count(self.account.address, "pending")
        fees = self.fees()
        built = [{"from": self.address, "value": 0, **tx, "chainId": self.chain.chain_id, "nonce": nonce + i,
                  "gas": gas, **fees} for i, tx in enumerate(txs)]
        signed = [self.sign(tx) for tx in built]
        for item in signed:
            self.broadcast(item)
        return [self.check(self.wait(item.tx_hash), tx) for item, tx in zip(signed, built, strict=True)]

    def call_data(self, fn: ContractFunction) -> dict[str, Any]:
        """``{"to", "data"}`` of a contract call, for :meth:`send_many`."""
        return {"to": fn.address, "data": fn._encode_transaction_data()}

    def transact(self, fn: ContractFunction, *, gas: int | None = None, value: int = 0) -> TxReceipt:
        """Send a contract call; a revert raises ContractRevert naming the custom error."""
        try:
            tx = fn.build_transaction(cast(Any, {"from": self.address, "value": value, "gas": 1, "nonce": 0,
                                                 "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}))
        except Exception as exc:
            raise self.explain(exc) from exc
        return self.send({"to": tx["to"], "data": tx["data"], "value": value}, gas=gas)
