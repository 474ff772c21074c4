"""Start-up preflight: the facts an operator must know before trusting the oracle, checked against the chain and
said loudly (warning / error in the log, listed in /healthz and in `oracle status`).

- each gateway machine's configured device key against the signer the MachineRegistry holds for it;
- the relayer's balance against the gas the next hour can need;
- the chain's clock against this box's and the devices' (a device behind the chain has its readings refused as
  stale);
- each lease's anchor: no lease, a lease not anchored yet, or a chain counter above what the outbox has seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from web3.contract import Contract

from millchain.chain import Chain
from oracle.config import OracleSettings
from oracle.outbox import Outbox
from oracle.submitter import CARRY_MAX_S, ChainLease, Submitter
from oracle.watcher import LeaseDirectory

log = logging.getLogger("oracle.preflight")

HOUR_GAS_PER_BATCH = 30_000
"""Measured steady-state cost of a batch transaction beyond its reports (intrinsic gas, calldata head, loop)."""
HOUR_GAS_PER_REPORT = 20_000
"""Measured steady-state cost of one report in a batch (19.3k, rounded up)."""
CLOCK_AHEAD_WARN_S = 5
"""The chain's latest block this far ahead of this box's clock is worth a warning."""


@dataclass(frozen=True)
class Finding:
    check: str
    level: str  # "warning" or "error"
    message: str


def hour_gas(settings: OracleSettings) -> int:
    """Gas the next hour can need at most: a batch every batch window (at most one a second), each as full as
    the fleet allows."""
    batches = 3600 / max(settings.batch_window_ms / 1000, 1.0)
    reports = min(len(settings.machines), settings.max_batch)
    return int(batches * (HOUR_GAS_PER_BATCH + HOUR_GAS_PER_REPORT * reports))


def run_preflight(
    settings: OracleSettings,
    chain: Chain,
    relayer: str,
    registry: Contract,
    directory: LeaseDirectory,
    submitter: Submitter,
    outbox: Outbox,
    device_keys: Mapping[str, str],
    now: float | None = None,
) -> list[Finding]:
    """Every check against the chain (the node must answer); each finding is logged at its level."""
    findings: list[Finding] = []
    now = time.time() if now is None else now
    w3 = chain.w3
    for machine in settings.machines:
        registered = str(registry.functions.getMachine(machine.machine_bytes).call()[1])
        held = device_keys.get(machine.name)
        if machine.signing == "gateway" and held is not None and held != registered:
            findings.append(
                Finding(
                    "device_key",
                    "error",
                    f"machine {machine.name}: the configured device key "
                    f"{held} is not the signer the registry holds ({registered}); the chain will "
                    "refuse every reading as invalid_signer",
                )
            )
    balance = int(w3.eth.get_balance(w3.to_checksum_address(relayer)))
    latest = w3.eth.get_block("latest")
    price = int(latest.get("baseFeePerGas", 0) or 0) * 2 + int(w3.eth.max_priority_fee or 0)
    need = hour_gas(settings) * max(price, 1)
    if balance < need:
        findings.append(
            Finding(
                "relayer_balance",
                "error" if balance == 0 else "warning",
                f"relayer {relayer} holds {balance} wei; the next hour can need up to {need} wei "
                f"({hour_gas(settings)} gas at {price} wei): fund it or readings stop settling",
            )
        )
    ahead = int(latest["timestamp"]) - now
    if ahead > CLOCK_AHEAD_WARN_S:
        findings.append(
            Finding(
                "chain_clock",
                "warning",
                f"the chain's clock is {ahead:.0f} s ahead of this box's: "
                "readings timestamped before the chain's last report of a lease are refused as "
                "stale; sync the clocks (NTP)",
            )
        )
    leases = {name: info for name, info in directory.snapshot().items() if info is not None}
    views: dict[int, ChainLease] = submitter.chain_leases(info.lease_id for info in leases.values())
    chain_now = submitter.chain_time()
    for machine in settings.machines:
        info = leases.get(machine.name)
        if info is None:
            findings.append(
                Finding(
                    "lease_anchor",
                    "warning",
                    f"machine {machine.name}: no active lease; its "
                    "readings are refused (no_lease) and it is kept locked",
                )
            )
            continue
        view = views[info.lease_id]
        state = outbox.machine_state(machine.name)
        seen = None if state.last_counter is None else state.last_counter + state.counter_offset
        if state.last_timestamp is not None and view.last_timestamp - state.last_timestamp > CARRY_MAX_S:
            findings.append(
                Finding(
                    "device_clock",
                    "warning",
                    f"machine {machine.name}: its last reading "
                    f"({state.last_timestamp}) is {view.last_timestamp - state.last_timestamp} s "
                    "behind the chain's last report of its lease: the device clock is behind the "
                    "chain's, its readings are refused as stale until it catches up",
                )
            )
        # Against the time a batch sent now would be stored at (the submitter's chain time: an idle anvil's latest
        # block can be minutes old while its pending block keeps the node's clock), else every quiet spell on an
        # automining node would read as a device clock running ahead, and stay in /healthz.
        device_ahead = None if state.last_timestamp is None else state.last_timestamp - chain_now
        if device_ahead is not None and device_ahead > CLOCK_AHEAD_WARN_S:
            findings.append(
                Finding(
                    "device_clock",
                    "warning",
                    f"machine {machine.name}: its last reading ({state.last_timestamp}) is {device_ahead} s "
                    "ahead of the chain's clock: each reading waits that long (awaiting_chain_time) before it "
                    "is sent, since the lease judges its rate on the chain's time; sync the clocks (NTP)",
                )
            )
        if not view.anchored:
            continue  # the lease's first reading anchors it: nothing to compare yet
        if seen is not None and seen < view.last_counter:
            findings.append(
                Finding(
                    "lease_anchor",
                    "warning",
                    f"machine {machine.name}: the chain's counter "
                    f"{view.last_counter} is above the last one this outbox saw ({seen}); readings "
                    "below it are stale on chain (another oracle, or an outbox restored from an "
                    "old copy)",
                )
            )
    for finding in findings:
        log.log(
            logging.ERROR if finding.level == "error" else logging.WARNING,
            "preflight %s: %s",
            finding.check,
            finding.message,
        )
    return findings
