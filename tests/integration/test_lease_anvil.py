"""EquipmentLease on a real anvil: the same end-to-end scenario as on the embedded chain (tests/contracts/
lease_helpers.py: lease_scenario), through the SDK's normal path (eth_estimateGas, raw transactions, receipts),
with time moved by anvil's evm_increaseTime / evm_mine; and a report batch at its practical size limit.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from millchain.session import Session
from tests.contracts.lease_helpers import (
    MACHINES,
    LeaseHarness,
    deploy_lease_suite,
    lease_scenario,
)

pytestmark = pytest.mark.integration


class AnvilLeaseHarness(LeaseHarness):
    """The lease harness on anvil: transactions go through Transactor.transact unchanged (gas estimated, so a
    revert surfaces as ContractRevert from eth_estimateGas) and time moves with evm_increaseTime + evm_mine."""

    def rpc(self, method: str, params: list[Any]) -> Any:
        response = self.session.chain.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]

    def now(self) -> int:
        return self.latest_time() + 1

    def next_block_at(self, timestamp: int) -> None:
        raise NotImplementedError("anvil blocks follow the wall clock: use advance()")

    def advance(self, seconds: int) -> None:
        before = self.latest_time()
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])
        assert self.latest_time() >= before + seconds

    def transact(self, call: ContractFunction, *, by: int, gas: int | None = None,
                 dry_run: bool = True) -> TxReceipt:
        return self.tx(by).transact(call, gas=gas)

    def dry_run_options(self, by: int = 0, gas: int | None = None) -> Any:
        options: dict[str, Any] = {"from": self.address(by)}
        if gas:
            options["gas"] = gas
        return options


@pytest.fixture
def h(anvil_session: Session) -> AnvilLeaseHarness:
    anvil_session.deploy()
    return AnvilLeaseHarness(deploy_lease_suite(anvil_session))


def test_lease_scenario_end_to_end_on_anvil(h: AnvilLeaseHarness) -> None:
    assert h.chain_id == 31337
    lease_scenario(h)


def test_batch_at_its_practical_size_limit_settles_every_report_on_anvil(h: AnvilLeaseHarness) -> None:
    """480 reports for 8 leases: ~108 KB of calldata, under the 128 KB a node's transaction pool accepts (gas,
    ~20k a report, would allow about 1,400 in a 30M block)."""
    leases = [h.opened(machine=m) for m in MACHINES]
    h.advance(120)
    t = h.latest_time() - 60  # every reading after its lease opened, none from the future
    assert t > max(lease.opened_at for lease in leases)
    per_lease = 60
    reports = [h.report(lease, 5 * step, step, t + step) for step in range(per_lease) for lease in leases]
    calldata = h.lease.encode_abi("submitUsageBatch", [[r.as_tuple() for r in reports]])
    assert 100 * 1024 < len(calldata) // 2 < 128 * 1024
    receipt = h.batch(reports)
    events = h.events(receipt)
    assert len(events) == 480
    assert {name for name, _ in events} == {"UsageSettled"}
    units = 5 * (per_lease - 1)
    for lease in leases:
        state = h.get(lease.lease_id)
        assert (state["lastCounter"], state["earnings"]) == (units, lease.terms.bill(units, per_lease - 1, 0))
