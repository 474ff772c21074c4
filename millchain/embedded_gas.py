"""Gas estimation for the embedded chain in two executions instead of a binary search.

py-evm estimates gas by bisecting between the intrinsic gas and the block gas limit: some thirteen executions of
the transaction. On the embedded chain, where one execution of a 100-report batch takes a good part of a second,
estimation dominated the run time of the tests and the demo. Here the transaction runs once at the block gas limit,
which gives the gas it uses; a limit of that plus 1/63 (what the 63/64 rule may withhold from nested calls) is then
checked by a second execution, and only if that one fails does py-evm's own bisection run. The estimate can be a
little above the exact minimum (a real node's estimate is too, and callers add a margin anyway); it is never below
what the transaction needs, since the second execution proves it.
"""

from __future__ import annotations

from typing import Any, cast

from eth.abc import SignedTransactionAPI, StateAPI
from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
from eth.vm.spoof import SpoofTransaction

_CALL_STIPEND_SLACK = 2_300
"""Covers a value transfer's stipend, which a nested call receives on top of the gas the caller passes."""


def _run(state: StateAPI, transaction: SignedTransactionAPI, **overrides: int) -> Any:
    """The computation of `transaction` with `overrides` (gas limit, price); the state is left as it was."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(cast(SignedTransactionAPI, SpoofTransaction(transaction, **overrides)))
    finally:
        state.revert(snapshot)


def estimate_gas(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas limit `transaction` needs; raises the transaction's error when it fails even at the block limit."""
    ceiling = int(state.gas_limit)
    # Free gas at the ceiling, as in py-evm's search: the sender need not afford a whole block of gas.
    computation = _run(state, transaction, gas=ceiling, gas_price=0)
    if computation.is_error:
        raise computation.error
    used = int(transaction.intrinsic_gas) + int(computation.get_gas_used())
    candidate = min(ceiling, used + used // 63 + _CALL_STIPEND_SLACK)
    if candidate == ceiling or not _run(state, transaction, gas=candidate).is_error:
        return candidate
    return int(binary_gas_search_intrinsic_tolerance(state, transaction))


def install(chain: Any) -> None:
    """Makes `chain` (a py-evm chain, as eth-tester's backend holds it) estimate with `estimate_gas`. Set on the
    object, which copied py-evm's default when it was built, and on its class, because eth-tester builds a new
    chain object of that class on every snapshot revert."""
    type(chain).gas_estimator = staticmethod(estimate_gas)
    chain.gas_estimator = estimate_gas
