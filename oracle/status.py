"""`oracle status`: the outbox's view of each machine beside the chain's, with every difference flagged.

The outbox says what the oracle saw, sent and believes settled; the lease contract says what is billed. They
must agree: a reading the outbox calls settled above the chain's counter is the alarm this view exists for.
"""

from __future__ import annotations

import json
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from millchain.calls import FunctionCall
from millchain.project import find_project
from oracle.config import OracleSettings
from oracle.outbox import Outbox

RPC_TIMEOUT_S = 3.0


def chain_view(settings: OracleSettings) -> dict[str, dict[str, Any]]:
    """Per machine: its active (or pinned) lease and what the lease contract holds for it. Raises when the node
    cannot be asked."""
    from oracle.service import _record, _rpc  # the service's own reading of the config, not a second one

    url, network = _rpc(settings)
    folder = settings.chain.deployments or find_project().deployments_dir / network
    record = _record(folder, "EquipmentLease")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_S}, exception_retry_configuration=None))
    address = to_checksum_address(settings.chain.lease_contract or record["address"])
    multicall = FunctionCall(record["abi"], "multicall")
    active = FunctionCall(record["abi"], "activeLeaseOf")
    get_lease = FunctionCall(record["abi"], "getLease")

    def call(calls: list[bytes]) -> list[bytes]:
        if not calls:
            return []
        answer = w3.eth.call({"to": address, "data": HexBytes(multicall.encode(calls))})
        return list(multicall.decode_output(bytes(answer))[0])

    machines = settings.machines
    ids = [int(m.lease_id, 16) if m.lease_id else None for m in machines]
    looked_up = iter(call([active.encode(m.machine_bytes) for m, i in zip(machines, ids, strict=True) if i is None]))
    ids = [i if i is not None else int.from_bytes(next(looked_up), "big") for i in ids]
    records = iter(call([get_lease.encode(i) for i in ids if i]))
    view: dict[str, dict[str, Any]] = {}
    for machine, lease_id in zip(machines, ids, strict=True):
        if not lease_id:
            view[machine.name] = {"lease": None, "on_chain": None, "anchored": False}
            continue
        raw = get_lease.decode_output(next(records))[0]
        view[machine.name] = {
            "lease": hex(lease_id),
            "on_chain": int(raw[7]),
            "anchored": bool(raw[5]),
            "chain_timestamp": int(raw[9]),
        }
    return view


def flags(row: dict[str, Any]) -> list[str]:
    """What differs between the outbox's view and the chain's, worst first."""
    out = []
    settled, on_chain, seen = row.get("last_settled"), row.get("on_chain"), row.get("last_seen")
    if on_chain is None:
        return ["chain view unavailable"] if row.get("chain_error") else []
    if settled is not None and settled > on_chain:
        out.append(f"ALARM: outbox says {settled} settled, chain holds {on_chain}")
    if seen is not None and seen > on_chain:
        gap = seen - on_chain
        waiting = row.get("waiting_reasons") or []
        out.append(
            f"{gap} units seen, not billed yet"
            + ("" if row.get("pending") else " and none pending")
            + (f" (waiting: {', '.join(waiting)})" if waiting else "")
        )
    if seen is not None and seen < on_chain:
        out.append(f"chain counter {on_chain} above the last seen {seen}")
    if row.get("machine_quarantined"):
        out.append("machine quarantined")
    return out


def collect(settings: OracleSettings) -> dict[str, Any]:
    outbox = Outbox(settings.outbox)
    try:
        rows = outbox.status()
        depth = outbox.depth()
        preflight = outbox.preflight()
    finally:
        outbox.close()
    by_name = {str(row["machine"]): dict(row) for row in rows}
    for machine in settings.machines:
        by_name.setdefault(
            machine.name,
            {
                "machine": machine.name,
                "last_seen": None,
                "last_settled": None,
                "pending": 0,
                "waiting_reasons": [],
                "quarantined_readings": 0,
                "quarantine_reasons": [],
                "machine_quarantined": None,
                "lock": None,
            },
        )
    chain_error = None
    try:
        view = chain_view(settings)
    except Exception as exc:  # node down: the outbox's view alone, said plainly
        chain_error, view = str(exc)[:200], {}
    for name, row in by_name.items():
        row.update(view.get(name, {"lease": None, "on_chain": None}))
        row["chain_error"] = chain_error
        row["flags"] = flags(row)
    return {
        "outbox": str(settings.outbox),
        "outbox_depth": depth,
        "chain_error": chain_error,
        "machines": [by_name[k] for k in sorted(by_name)],
        "preflight": preflight,
    }


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)
