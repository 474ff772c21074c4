"""The SDK's own submitUsageBatch encoding gives the bytes web3 gives."""

from __future__ import annotations

import json
import os

from web3 import Web3

from millchain.leasing import UsageBatchEncoder, UsageReportTuple
from millchain.project import Project


def test_usage_batch_calldata_equals_web3_encoding(compiled: Project) -> None:
    abi = json.loads((compiled.build_dir / "contracts" / "EquipmentLease.json").read_text())["abi"]
    lease = Web3().eth.contract(address="0x5FbDB2315678afecb367f032d93F642f64180aa3", abi=abi)
    reports: list[UsageReportTuple] = [
        (
            ((i + 1) << 200 | i, os.urandom(32), 2**64 - 1 - i, 2**32 - 1 - i, 2**40 - 1 - i),
            os.urandom(32),
            os.urandom(32),
        )
        for i in range(3)
    ]
    encoder = UsageBatchEncoder(abi)
    for batch in ([], reports[:1], reports):
        assert encoder.calldata(batch) == lease.encode_abi("submitUsageBatch", args=[batch])
