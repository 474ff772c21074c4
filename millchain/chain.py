"""Networks, accounts and the connection to them.

``local`` is an in-process chain (eth-tester on py-evm): fresh every run, no server. ``anvil`` is a real node
on 127.0.0.1:8545 (``millchain node`` starts one). Anything else is a JSON-RPC URL. Both local chains fund
the same well-known development accounts, so a script behaves the same on either.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast, overload

from millchain.errors import ChainError, ConfigError
from millchain.rpc import JsonRpc

if TYPE_CHECKING:  # web3 and eth-account cost a process ~0.6 s to import: only where they are used (see rpc)
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""Anvil's (and Hardhat's) published development mnemonic: its keys are public, never use them for value."""
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_ACCOUNT_COUNT = 10
ANVIL_URL = "http://127.0.0.1:8545"
PASSWORD_ENV = "MILLCHAIN_KEYSTORE_PASSWORD"
RECEIPT_POLL_SECONDS = 0.01
"""web3's default receipt poll of 0.1 s would cap send-and-wait at ~10 tx/s."""


@cache
def dev_keys() -> tuple[bytes, ...]:
    from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

    # The BIP-39 seed once (PBKDF2, 2,048 rounds), then one cheap BIP-32 step per account: Account.from_mnemonic
    # per account redid the seed each time and cost every dev-chain command about a second.
    seed = seed_from_mnemonic(DEV_MNEMONIC, "")
    return tuple(key_from_seed(seed, f"{DEV_HD_PATH}/{i}") for i in range(DEV_ACCOUNT_COUNT))


def dev_accounts() -> list[LocalAccount]:
    from eth_account import Account

    return [Account.from_key(k) for k in dev_keys()]


def load_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Unlock an eth-account keyfile; the password comes from the argument, $MILLCHAIN_KEYSTORE_PASSWORD
    or a prompt, in that order. The decrypted key only ever lives in memory."""
    from eth_account import Account

    if not path.is_file():
        raise ConfigError(f"keystore {path} does not exist (create one with `millchain account new`)")
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"keystore {path} is not a JSON keyfile: {exc}") from exc
    secret = password if password is not None else os.environ.get(PASSWORD_ENV)
    if secret is None:
        secret = getpass.getpass(f"Password for {path}: ")
    try:
        unlocked: LocalAccount = Account.from_key(Account.decrypt(keyfile, secret))
        return unlocked
    except ValueError as exc:
        raise ConfigError(f"cannot unlock keystore {path}: {exc}") from exc


def write_keystore(path: Path, account: LocalAccount, password: str) -> None:
    """Write ``account`` encrypted (scrypt) to ``path``; refuses to overwrite an existing file."""
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite a keystore")
    from eth_account import Account

    path.parent.mkdir(parents=True, exist_ok=True)
    encrypted = Account.encrypt(account.key, password)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle)


T = TypeVar("T")


class _Deferred(Generic[T]):
    """A :class:`Chain` field that, unless given, is made on first read by the chain's ``_make_<name>()``: what
    only signing commands need (web3, the derived development keys) is never built by a command that reads."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"
        self._maker = f"_make_{name}"

    @overload
    def __get__(self, chain: None, owner: type) -> None: ...
    @overload
    def __get__(self, chain: Chain, owner: type) -> T: ...
    def __get__(self, chain: Chain | None, owner: type) -> T | None:
        if chain is None:
            return None  # the dataclass field's default: "not given"
        value: T | None = chain.__dict__.get(self._slot)
        if value is None:
            value = getattr(chain, self._maker)()
            chain.__dict__[self._slot] = value
        return value

    def __set__(self, chain: Chain, value: T | None) -> None:
        chain.__dict__[self._slot] = value


@dataclass(kw_only=True)
class Chain:
    """A connection plus the accounts this process may sign with.

    Give ``w3``, or ``rpc_url`` for a JSON-RPC node: then the chain id, code and view calls go over plain HTTP
    (:mod:`millchain.rpc`) and the Web3 object is built the first time something uses :attr:`w3`. ``accounts``
    not given are the development accounts when ``derive_dev_accounts``, else none."""

    w3: _Deferred[Web3] = _Deferred()
    network: str
    accounts: _Deferred[list[LocalAccount]] = _Deferred()
    tester: Any | None = None  # the EthereumTester of the embedded chain, for snapshots
    rpc_url: str | None = None
    timeout: float = 30.0
    derive_dev_accounts: bool = False
    chain_id: int = field(init=False)

    def __post_init__(self) -> None:
        try:
            if self._http is not None:
                self.chain_id = int(self._http.request("eth_chainId"), 16)
            else:
                self.chain_id = int(self.w3.eth.chain_id)
        except Exception as exc:  # requests' and web3's connection errors have no common base
            hint = " (start one with `millchain node`)" if self.network == "anvil" else ""
            raise ChainError(f"cannot reach the {self.network} node{hint}: {exc}") from exc

    def __repr__(self) -> str:
        # Not the dataclass's: it would build the Web3 and derive the keys just to print them.
        return f"Chain(network={self.network!r}, chain_id={getattr(self, 'chain_id', None)}, rpc_url={self.rpc_url!r})"

    @functools.cached_property
    def _http(self) -> JsonRpc | None:
        return JsonRpc(self.rpc_url, timeout=self.timeout) if self.rpc_url is not None else None

    def _make_w3(self) -> Web3:
        if self.rpc_url is None:
            raise ChainError(f"the {self.network} chain has neither a Web3 connection nor an RPC URL")
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": self.timeout}))

    def _make_accounts(self) -> list[LocalAccount]:
        return dev_accounts() if self.derive_dev_accounts else []

    # ------------------------------------------------------------------ reads (no web3 on an RPC chain)

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        """The runtime code at ``address`` (empty when there is none)."""
        if self._http is None:
            return bytes(self.w3.eth.get_code(cast(Any, address), block_identifier=cast(Any, block)))
        return _hex_bytes(self._http.request("eth_getCode", [address, _block_param(block)]))

    def block_number(self) -> int:
        if self._http is None:
            return int(self.w3.eth.block_number)
        return int(self._http.request("eth_blockNumber"), 16)

    def call(self, to: str, data: bytes, *, block: int | str = "latest") -> bytes:
        """eth_call of ``data`` at ``to``, for views that do not read msg.sender: over RPC it carries no sender;
        eth-tester runs a call as a transaction and needs a funded one, the first account. A revert raises the
        provider's error, whose revert bytes :func:`millchain.reverts.revert_data` finds."""
        if self._http is None:
            tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
            if self.accounts:
                tx["from"] = self.accounts[0].address
            return bytes(self.w3.eth.call(cast(Any, tx), block_identifier=cast(Any, block)))
        return _hex_bytes(self._http.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, _block_param(block)]))

    def logs(
        self, address: str, topics: Sequence[bytes | None], *, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[ChainLog]:
        """eth_getLogs of ``address`` whose topics match ``topics`` (None: any), in chain order."""
        query = {
            "address": address,
            "topics": [None if t is None else "0x" + t.hex() for t in topics],
            "fromBlock": _block_param(from_block),
            "toBlock": _block_param(to_block),
        }
        if self._http is None:
            found = [
                ChainLog(int(log["blockNumber"]), int(log["logIndex"]), bytes(log["transactionHash"]),
                         [bytes(t) for t in log["topics"]], bytes(log["data"]))
                for log in self.w3.eth.get_logs(cast(Any, query))
            ]  # fmt: skip
        else:
            found = [
                ChainLog(int(log["blockNumber"], 16), int(log["logIndex"], 16), _hex_bytes(log["transactionHash"]),
                         [_hex_bytes(t) for t in log["topics"]], _hex_bytes(log["data"]))
                for log in self._http.request("eth_getLogs", [query])
            ]  # fmt: skip
        return sorted(found, key=lambda log: (log.block_number, log.log_index))

    def block_timestamp(self, block: int | str = "latest") -> int:
        if self._http is None:
            return int(self.w3.eth.get_block(cast(Any, block))["timestamp"])
        return int(self._http.request("eth_getBlockByNumber", [_block_param(block), False])["timestamp"], 16)

    @property
    def embedded(self) -> bool:
        return self.tester is not None

    @property
    def records_network(self) -> str | None:
        """The folder name under deployments/ for this chain, or None when nothing is recorded."""
        return None if self.embedded else self.network

    def now(self) -> int:
        """The latest block's timestamp: the contracts' clock."""
        return self.block_timestamp("latest")

    def advance_time(self, seconds: int) -> int:
        """Move a development chain's clock forward and mine a block there; returns the new time."""
        target = self.now() + seconds
        if self.tester is not None:
            self.tester.time_travel(target)
            self.tester.mine_blocks(1)
        elif self.network == "anvil":
            # evm_increaseTime shifts the node's clock for good (pending blocks, gas estimates included);
            # evm_setNextBlockTimestamp would only stamp the next block.
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        else:
            raise ChainError(f"cannot move the clock of {self.network}: only local and anvil chains allow it")
        return self.now()

    def snapshot(self) -> Any:
        """Mark the state (clock included) to :meth:`revert` to: anvil's evm_snapshot, eth-tester's snapshot."""
        if self.tester is not None:
            return self.tester.take_snapshot()
        if self.network != "anvil":
            raise ChainError(f"cannot snapshot {self.network}: only local and anvil chains allow it")
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snapshot: Any) -> None:
        if self.tester is not None:
            self.tester.revert_to_snapshot(snapshot)
            return
        reply = self.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        if reply.get("result") is not True:
            raise ChainError(f"{self.network} could not revert to snapshot {snapshot}: {reply}")

    def account(self, index: int = 0) -> LocalAccount:
        if not 0 <= index < len(self.accounts):
            raise ConfigError(
                f"account index {index} out of range: {self.network} has {len(self.accounts)} account(s)"
            )
        return self.accounts[index]


class ChainLog(NamedTuple):
    """A log as eth_getLogs gives it, decoded from neither web3's nor the node's format."""

    block_number: int
    log_index: int
    tx_hash: bytes
    topics: list[bytes]
    data: bytes


def _block_param(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _hex_bytes(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainError(f"the node answered {value!r} where hex data was expected")
    return bytes.fromhex(value[2:])


def _embedded_chain() -> Chain:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    from millchain import embedded_gas, p256_precompile
    from millchain.speedups import use_c_keccak

    use_c_keccak()  # py-evm hashes every trie node and opcode's memory: the C keccak pays off at once
    backend = PyEVMBackend(mnemonic=DEV_MNEMONIC, hd_path=DEV_HD_PATH)
    embedded_gas.install(backend.chain)
    # py-evm stops at Prague; P256VERIFY (0x100, EIP-7951) makes the default chain verify P-256 like a current one.
    p256_precompile.install(backend.chain)
    tester = EthereumTester(backend)
    return Chain(w3=Web3(EthereumTesterProvider(tester)), network="local", accounts=dev_accounts(), tester=tester)


def _network_name(url: str) -> str:
    """A folder-safe name for an RPC URL: host and port."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return host.replace(":", "_").replace(".", "-") or "rpc"


def connect(
    network: str = "local",
    *,
    rpc_url: str | None = None,
    keystore: Path | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> Chain:
    """Connect to ``local``, ``anvil`` or (``rpc``) the node at ``rpc_url``.

    On local and anvil the development accounts sign; elsewhere ``keystore`` must name an encrypted key.
    ``network`` names the deployments/ folder for RPC chains (default: derived from the URL's host).
    """
    if network == "local" and rpc_url is None:
        return _embedded_chain()
    url = rpc_url or (ANVIL_URL if network == "anvil" else None)
    if url is None:
        raise ConfigError(
            f"unknown network {network!r}: use local, anvil, or give --rpc URL for any JSON-RPC endpoint"
        )
    # The keystore is unlocked now (a wrong password fails before anything is sent); the development keys are
    # derived only when something signs.
    accounts = [load_keystore(keystore, password)] if keystore is not None else None
    name = network if network not in ("local", "rpc") else _network_name(url)
    return Chain(
        network=name,
        accounts=accounts,
        rpc_url=url,
        timeout=timeout,
        derive_dev_accounts=network == "anvil" and keystore is None,
    )
