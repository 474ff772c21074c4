"""What the SDK's clients hold: a session, the account they sign with, and (multi-party clients) an optional fixed
gas limit, or (single-contract clients) their contract built on first use."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Self

from millchain.session import Session

if TYPE_CHECKING:  # web3: imported where used (a read-only command never does, see millchain.rpc)
    from web3.contract import Contract

    from millchain.calls import ContractReader
    from millchain.tx import Transactor


class ContractClient:
    """A client of one deployed contract (``CONTRACT``). Its web3 contract, its reader and its signer are built on
    first use: a command that only reads goes through ``reader`` and never imports web3."""

    CONTRACT: ClassVar[str]

    def __init__(self, session: Session, account_index: int | None = None) -> None:
        self.session = session
        self.account_index = account_index

    @cached_property
    def contract(self) -> Contract:
        return self.session.contract(self.CONTRACT)

    @cached_property
    def reader(self) -> ContractReader:
        return self.session.reader(self.CONTRACT)

    @cached_property
    def tx(self) -> Transactor:
        return self.session.transactor(self.account_index)


class AccountClient:
    """The plumbing QualityClient and SettlementClient share; subclasses name the contract whose deployment block
    starts their event queries (``DEPLOYED_AS``)."""

    DEPLOYED_AS: ClassVar[str]

    def __init__(self, session: Session, account_index: int | None = None, *, gas: int | None = None) -> None:
        """``gas``: a fixed gas limit for every transaction instead of estimating each one (estimation executes
        the transaction; scripts that know their transactions succeed save that); a revert is still decoded by
        replaying the call."""
        self.session = session
        self.account_index = session.account_index if account_index is None else account_index
        self.gas = gas
        self.tx = session.transactor(self.account_index)

    def as_account(self, index: int) -> Self:
        """The same client signing with another account."""
        return type(self)(self.session, index, gas=self.gas)

    @property
    def address(self) -> str:
        return self.tx.address

    @property
    def start_block(self) -> int:
        """Where the contract's events begin: its deployment block (0 when there is no record)."""
        record = self.session.store.get(self.DEPLOYED_AS)
        return int(record.get("blockNumber") or 0) if record else 0
