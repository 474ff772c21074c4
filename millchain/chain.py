"""Networks, accounts and the connection to them.

``local`` is an in-process chain (eth-tester on py-evm): fresh every run, no server. ``anvil`` is a real node
on 127.0.0.1:8545 (``millchain node`` starts one). Anything else is a JSON-RPC URL. Both local chains fund
the same well-known development accounts, so a script behaves the same on either.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from millchain.errors import ChainError, ConfigError

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
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"{DEV_HD_PATH}/{i}").key)
        for i in range(DEV_ACCOUNT_COUNT)
    )


def dev_accounts() -> list[LocalAccount]:
    return [Account.from_key(k) for k in dev_keys()]


def load_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Unlock an eth-account keyfile; the password comes from the argument, $MILLCHAIN_KEYSTORE_PASSWORD
    or a prompt, in that order. The decrypted key only ever lives in memory."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    encrypted = Account.encrypt(account.key, password)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle)


@dataclass
class Chain:
    """A connection plus the accounts this process may sign with."""

    w3: Web3
    network: str
    accounts: list[LocalAccount]
    tester: Any | None = None  # the EthereumTester of the embedded chain, for snapshots
    chain_id: int = field(init=False)

    def __post_init__(self) -> None:
        try:
            self.chain_id = int(self.w3.eth.chain_id)
        except Exception as exc:  # requests' and web3's connection errors have no common base
            hint = " (start one with `millchain node`)" if self.network == "anvil" else ""
            raise ChainError(f"cannot reach the {self.network} node{hint}: {exc}") from exc

    @property
    def embedded(self) -> bool:
        return self.tester is not None

    @property
    def records_network(self) -> str | None:
        """The folder name under deployments/ for this chain, or None when nothing is recorded."""
        return None if self.embedded else self.network

    def now(self) -> int:
        """The latest block's timestamp: the contracts' clock."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

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

    def account(self, index: int = 0) -> LocalAccount:
        if not 0 <= index < len(self.accounts):
            raise ConfigError(
                f"account index {index} out of range: {self.network} has {len(self.accounts)} account(s)"
            )
        return self.accounts[index]


def _embedded_chain() -> Chain:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    from millchain import embedded_gas, p256_precompile

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
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    dev = network == "anvil" and keystore is None
    if keystore is not None:
        accounts = [load_keystore(keystore, password)]
    elif dev:
        accounts = dev_accounts()
    else:
        accounts = []
    name = network if network not in ("local", "rpc") else _network_name(url)
    return Chain(w3=w3, network=name, accounts=accounts)
