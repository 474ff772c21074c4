"""One object that ties a project, a chain, an account and the deployed suite together.

Every CLI command and script starts from a :class:`Session`. On the embedded chain (fresh every run, nothing
recorded) asking for a contract deploys the suite first, so any command works there on its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from millchain.calls import ContractReader
from millchain.chain import Chain, connect
from millchain.compiler import CompileResult, all_abis, compile_project, load_artifact, packaged_result
from millchain.deployments import (
    ContractSpec,
    Deployer,
    DeploymentStore,
    DeployOutcome,
    RemoteDeploymentStore,
    is_url,
    records_folder,
)
from millchain.errors import ConfigError, DeploymentError
from millchain.project import Project, find_project
from millchain.reverts import RevertDecoder
from millchain.tx import Transactor

if TYPE_CHECKING:  # web3 and eth-account: imported where used (a read-only command never does, see millchain.rpc)
    from web3.contract import Contract

QUALITY_WITHDRAWAL_DELAY = 7 * 24 * 3600
"""Seconds a quality bond's withdrawals and terms changes wait (QualityBonds' WITHDRAWAL_DELAY)."""


def settlement_token(done: dict[str, str]) -> str:
    """The token bonds and payments settle in: the dev suite's SettlementToken, else $MILLCHAIN_SETTLEMENT_TOKEN."""
    address = done.get("SettlementToken") or os.environ.get("MILLCHAIN_SETTLEMENT_TOKEN")
    if not address:
        raise ConfigError("no settlement token on this network: set MILLCHAIN_SETTLEMENT_TOKEN to its address")
    return to_checksum_address(address)


DEV_SUITE: tuple[ContractSpec, ...] = (
    ContractSpec("SettlementToken", lambda done, deployer: [deployer]),
    ContractSpec("MachineRegistry", lambda done, deployer: [deployer]),
    ContractSpec("EquipmentLease", lambda done, deployer: [deployer, done["MachineRegistry"]]),
    ContractSpec("QualityLedger", lambda done, deployer: [deployer]),
    ContractSpec("QualityBonds", lambda done, deployer: [
        deployer, done["QualityLedger"], settlement_token(done), QUALITY_WITHDRAWAL_DELAY]),
    ContractSpec("SupplyChainSettlement", lambda done, deployer: [
        deployer, done["QualityLedger"], done["QualityBonds"]]),
)
"""The contracts ``millchain deploy`` puts on a development chain, in dependency order."""

DEV_FUNDING = 10_000 * 10**6
"""Settlement tokens (mUSD, 6 decimals) each development account gets when the dev suite is deployed."""

PRODUCTION_SUITE: tuple[ContractSpec, ...] = tuple(s for s in DEV_SUITE if s.name != "SettlementToken")
"""Real networks settle in an existing token named in config; the test token is never deployed there."""


class Session:
    def __init__(
        self,
        chain: Chain,
        *,
        project: Project | None = None,
        account_index: int = 0,
        deployments_dir: Path | None = None,
        deployments: str | None = None,
    ) -> None:
        self.chain = chain
        self.project = project or find_project()
        self.account_index = account_index
        self._deployments_dir = deployments_dir
        self._deployments = deployments
        self.compiled: CompileResult | None = None

    @classmethod
    def open(
        cls,
        network: str = "local",
        *,
        rpc_url: str | None = None,
        keystore: Path | None = None,
        account_index: int = 0,
        project: Project | None = None,
        deployments: str | None = None,
    ) -> Session:
        """``deployments``: where the records are — a folder (a network's own, or one holding ``<network>/``) or
        an http(s) URL of a network's folder [default: ./deployments of the project or working directory].
        ``--network anvil`` without ``rpc_url`` means the node ``millchain node`` last started, if it runs."""
        project = project or find_project()
        if network == "anvil" and rpc_url is None:
            from millchain.node import recorded_node_url

            rpc_url = recorded_node_url(project)
        return cls(connect(network, rpc_url=rpc_url, keystore=keystore), project=project,
                   account_index=account_index, deployments=deployments)

    # ------------------------------------------------------------------ plumbing

    def compile(self, *, force: bool = False) -> CompileResult:
        """Compile in a checkout; an installed millchain uses the contracts compiled into the package."""
        self.compiled = compile_project(self.project, force=force) if self.project.checkout else packaged_result()
        return self.compiled

    def artifact(self, name: str) -> dict[str, Any]:
        if self.compiled is None:
            self.compile()
        return load_artifact(self.project, name)

    @cached_property
    def decoder(self) -> RevertDecoder:
        if self.compiled is None:
            self.compile()
        return RevertDecoder(all_abis(self.project).values())

    def transactor(self, account_index: int | None = None) -> Transactor:
        index = self.account_index if account_index is None else account_index
        if not self.chain.accounts:
            raise ConfigError(
                f"no account to sign with on {self.chain.network}: pass --keystore PATH "
                "(create one with `millchain account new`)"
            )
        return Transactor(self.chain, self.chain.account(index), self.decoder)

    @cached_property
    def tx(self) -> Transactor:
        return self.transactor()

    @cached_property
    def store(self) -> DeploymentStore:
        folder = self.chain.records_network
        if folder is None:
            return DeploymentStore(None, self.chain.chain_id)
        if self._deployments is not None:
            if is_url(self._deployments):
                return RemoteDeploymentStore(self._deployments, self.chain.chain_id, [s.name for s in DEV_SUITE])
            return DeploymentStore(records_folder(Path(self._deployments), folder), self.chain.chain_id)
        override = os.environ.get("MILLCHAIN_DEPLOYMENTS_DIR")
        base = self._deployments_dir or (Path(override) if override else self.project.deployments_dir)
        return DeploymentStore(base / folder, self.chain.chain_id)

    @property
    def dev_chain(self) -> bool:
        """The embedded chain or anvil: the published dev accounts, the test token, a clock that can move."""
        return self.chain.embedded or self.chain.network == "anvil"

    @property
    def suite(self) -> Sequence[ContractSpec]:
        return DEV_SUITE if self.dev_chain else PRODUCTION_SUITE

    def require_dev_chain(self, what: str) -> None:
        if not self.dev_chain:
            raise ConfigError(f"{what} works on development chains only (--network local or anvil); "
                              f"{self.chain.network} is a real network")

    def mint(self, to: str, amount: int) -> Any:
        """Mint test SettlementTokens (dev chains: the deployer, account 0, holds the minter role)."""
        self.require_dev_chain("minting test tokens")
        token = self.contract("SettlementToken")
        return self.transactor(0).transact(token.functions.mint(to_checksum_address(to), amount))

    def fund_dev_accounts(self, amount: int = DEV_FUNDING) -> list[str]:
        """Mint ``amount`` to every development account holding no SettlementToken, so each can open leases, post
        bonds and pay orders straight after deploy; returns the funded addresses. Rerunning funds only the
        accounts still empty, so a deploy interrupted while funding finishes the job when run again."""
        self.require_dev_chain("funding the development accounts")
        token = self.contract("SettlementToken")
        funded: list[str] = [account.address for account in self.chain.accounts
                             if int(token.functions.balanceOf(account.address).call()) == 0]
        if not funded:
            return []
        minter = self.transactor(0)
        calls = [token.functions.mint(address, amount) for address in funded]
        # One estimate for all: each mint to an empty balance costs the same; a margin for the first-write cases.
        gas = int(calls[0].estimate_gas({"from": minter.address}) * 1.2)
        minter.send_many([minter.call_data(call) for call in calls], gas=gas)
        return funded

    def deployer(self, **kwargs: Any) -> Deployer:
        return Deployer(self.tx, self.store, self.artifact, **kwargs)

    def deploy(self, *, reset: bool = False) -> list[DeployOutcome]:
        outcomes = self.deployer().deploy_suite(self.suite, reset=reset)
        addresses = {outcome.name: outcome.address for outcome in outcomes}
        if "MachineRegistry" in addresses and "EquipmentLease" in addresses:
            self.subscribe_to_key_changes(addresses["MachineRegistry"], addresses["EquipmentLease"])
        return outcomes

    def subscribe_to_key_changes(self, registry_address: str, listener: str) -> None:
        """Makes ``listener`` (an EquipmentLease) a key listener of the registry, unless it is one: it offers
        leases only then (it must hear of every key rotation and revocation). Sent by this session's account, which
        must hold the registry's admin role (the deployer of the suite does)."""
        registry = self.contract("MachineRegistry", registry_address)
        if not self.tx.call(registry.functions.isKeyListener(listener)):
            self.tx.transact(registry.functions.addKeyListener(listener))

    # ------------------------------------------------------------------ contracts

    def address(self, name: str) -> str:
        record = self.store.get(name)
        if record is None and self.chain.embedded:
            self.deploy()
            record = self.store.get(name)
        if record is None:
            where = self.store.folder or "this chain"
            raise DeploymentError(f"{name} is not deployed on {where}: run `millchain deploy` first")
        return to_checksum_address(record["address"])

    def contract(self, name: str, address: str | None = None) -> Contract:
        abi = self.artifact(name)["abi"]
        return self.chain.w3.eth.contract(address=to_checksum_address(address or self.address(name)), abi=abi)

    def reader(self, name: str, address: str | None = None) -> ContractReader:
        """View calls to the deployed ``name`` (or ``address`` with its ABI) without web3: what read-only
        commands use, so they never import it (see :mod:`millchain.rpc`)."""
        abi = self.artifact(name)["abi"]
        return ContractReader(self.chain, to_checksum_address(address or self.address(name)), abi, self.decoder)
