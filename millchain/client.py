"""What every multi-party client of the SDK holds: a session, the account it signs with, and an optional fixed
gas limit."""

from __future__ import annotations

from typing import ClassVar, Self

from millchain.session import Session


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
