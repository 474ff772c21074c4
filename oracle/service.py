"""The oracle service: startup -> loop -> shutdown.

    sources --Telemetry--> intake (validate, sign or verify) --group commit--> outbox
    outbox --> submitter (batches, nonces, fee bumps, confirmations) --> EquipmentLease
    EquipmentLease events --> watcher --> lock / unlock commands --> machines

SIGTERM / SIGINT stop the intake, flush what is pending within ``shutdown_timeout_s`` and exit 0. A SIGKILL
loses nothing: every reading was committed to the outbox before it was acknowledged, every transaction
before it was broadcast, and the next start reconciles both with the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract import Contract

from millchain.chain import Chain, connect, load_keystore
from millchain.errors import ConfigError
from millchain.project import find_project
from millchain.reverts import RevertDecoder
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
)
from oracle.config import MachineSettings, OracleSettings
from oracle.metrics import Metrics, MetricsServer
from oracle.outbox import UNSIGNED, AcceptedReading, Outbox
from oracle.sources import Commander, CommandRouter, LogThrottle, Source, Telemetry
from oracle.submitter import Submitter
from oracle.telemetry import InvalidTelemetry, MachineState, check_against_history, parse_payload
from oracle.watcher import LeaseDirectory, LeaseWatcher

log = logging.getLogger("oracle.service")

INTAKE_QUEUE = 50_000
"""Readings buffered between the sources and the outbox; beyond it sources apply their own backpressure."""
INTAKE_GROUP = 2_000
"""Readings committed to the outbox in one transaction (one fsync)."""
SUBMIT_POLL_S = 0.02
"""How often the submitter looks at the chain while batches form or are in flight: one eth_blockNumber."""
RELAYER_PASSWORD_ENV = "ORACLE_RELAYER_PASSWORD"
DEVICE_PASSWORD_ENV = "ORACLE_DEVICE_PASSWORD"
QUARANTINING = ("counter_backwards", "runtime_backwards")
"""Rejections that quarantine the machine: its counters went back, which a reset or a false reading explains."""


def _record(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"no deployment record {path}: deploy the suite (`millchain deploy`) "
                          "or set chain.deployments")
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


@dataclass(frozen=True)
class Embedding:
    """The oracle inside another program (the demo): an open chain connection and deployment records
    instead of the config's node and folder, device keys handed over in memory, and that program's clock."""

    chain: Chain
    records: Mapping[str, dict[str, Any]]
    device_password: str
    clock: Callable[[], float] = time.time


class OracleService:
    def __init__(self, settings: OracleSettings, *, sources: list[Source] | None = None,
                 commanders: Mapping[str, Commander] | None = None, embedding: Embedding | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.clock = embedding.clock if embedding else time.time
        if embedding is None:
            self.chain, self.relayer = self._connect()
            folder = settings.chain.deployments or find_project().deployments_dir / self.chain.network
            lease_record = _record(folder, "EquipmentLease")
            registry_record = _record(folder, "MachineRegistry")
        else:
            self.chain = embedding.chain
            self.relayer = self.chain.account(settings.chain.relayer_dev_account or 0)
            lease_record, registry_record = embedding.records["EquipmentLease"], embedding.records["MachineRegistry"]
        if lease_record.get("chainId") != self.chain.chain_id:
            raise ConfigError(f"the EquipmentLease record is for chainId {lease_record.get('chainId')}, "
                              f"the node is chainId {self.chain.chain_id}")
        w3 = self.chain.w3
        lease_address = to_checksum_address(settings.chain.lease_contract or lease_record["address"])
        self.lease: Contract = w3.eth.contract(address=lease_address, abi=lease_record["abi"])
        self.registry: Contract = w3.eth.contract(address=to_checksum_address(registry_record["address"]),
                                                  abi=registry_record["abi"])
        self.decoder = RevertDecoder([lease_record["abi"], registry_record["abi"]])
        self.hasher = UsageReportHasher(lease_domain(self.chain.chain_id, self.lease.address))
        self.outbox = Outbox(settings.outbox)
        self.directory = LeaseDirectory(self.lease, settings.machines)
        self.machines: dict[str, MachineSettings] = {m.name: m for m in settings.machines}
        self.signers = self._device_signers(embedding.device_password if embedding else
                                            os.environ.get(DEVICE_PASSWORD_ENV))
        self.submitter = Submitter(
            self.chain, self.relayer, self.lease, self.outbox, self.metrics, self.decoder, self.signers,
            max_batch=settings.max_batch, confirmations=settings.chain.confirmations,
            stuck_blocks=settings.chain.stuck_blocks, fee_bump_percent=settings.chain.fee_bump_percent)
        self.sources = sources if sources is not None else []
        self.commanders = dict(commanders or {})
        self.watcher = LeaseWatcher(self.lease, self.directory, self.commanders, self.outbox, self.metrics)
        self.queue: asyncio.Queue[Telemetry] = asyncio.Queue(INTAKE_QUEUE)
        self._throttle = LogThrottle(logging.getLogger("oracle.intake"))
        self._device_keys: dict[str, str] = {}
        self._states: dict[str, MachineState] = {}
        """Per machine, what the outbox holds (the service is its only writer while running); quarantined
        machines are always read from the outbox, where `oracle rebaseline` lifts the quarantine."""
        self._stop = asyncio.Event()
        self._intake_open = True
        self._ingesting: asyncio.Future[int] | None = None

    # ------------------------------------------------------------------ startup

    def _connect(self) -> tuple[Chain, LocalAccount]:
        chain_settings = self.settings.chain
        chain = connect(chain_settings.network, rpc_url=chain_settings.rpc_url)
        if chain_settings.relayer_keystore is not None:
            relayer = load_keystore(chain_settings.relayer_keystore, os.environ.get(RELAYER_PASSWORD_ENV))
        else:
            assert chain_settings.relayer_dev_account is not None
            if not chain.accounts:
                raise ConfigError("chain.relayer_dev_account only works on local development chains; "
                                  "use chain.relayer_keystore")
            relayer = chain.account(chain_settings.relayer_dev_account)
        self.metrics.chain_ok = True
        return chain, relayer

    def _device_signers(self, password: str | None) -> dict[str, DeviceSigner]:
        signers = {}
        for machine in self.settings.machines:
            if machine.signing != "gateway":
                continue
            assert machine.device_keystore is not None
            key = load_keystore(machine.device_keystore, password)
            if key.address == self.relayer.address:
                raise ConfigError(f"machine {machine.name}: the device key must not be the relayer key")
            signers[machine.name] = DeviceSigner(bytes(key.key), self.hasher)
        return signers

    # ------------------------------------------------------------------ intake

    async def emit(self, telemetry: Telemetry) -> None:
        """What sources call for every message; blocks (backpressure) when the queue is full."""
        if self._intake_open:
            await self.queue.put(telemetry)

    def _device_key(self, name: str, refresh: bool = False) -> str:
        if refresh or name not in self._device_keys:
            record = self.registry.functions.getMachine(self.machines[name].machine_bytes).call()
            self._device_keys[name] = str(record[1])
        return self._device_keys[name]

    def validate(self, telemetry: Telemetry, now: float, state: MachineState | None = None) -> AcceptedReading:
        """One message -> a signed reading ready for the outbox, or InvalidTelemetry with the reason."""
        machine = self.machines.get(telemetry.machine)
        if machine is None:
            raise InvalidTelemetry("unknown_machine", f"no machine {telemetry.machine!r} in the oracle config")
        raw = parse_payload(telemetry.payload)
        lease = self.directory.current(machine.name)
        if lease is None:
            raise InvalidTelemetry("no_lease", f"machine {machine.name} has no active lease")
        if machine.signing == "device" and raw.lease_id is not None and raw.lease_id != lease.lease_id:
            raise InvalidTelemetry("wrong_lease", f"signed for lease {hex(raw.lease_id)}, active is "
                                   f"{hex(lease.lease_id)}")
        if state is None or state.quarantined:
            state = self.outbox.machine_state(machine.name)
        try:
            checked = check_against_history(raw, state, now=now, max_skew=self.settings.max_clock_skew_s,
                                            max_rate_per_hour=lease.max_rate_per_hour)
        except InvalidTelemetry as exc:
            if exc.reason in QUARANTINING:
                self.outbox.quarantine_machine(machine.name, f"{exc.reason}: {exc.detail}; if the machine "
                                               f"restarted, run `millchain oracle rebaseline {machine.name}`")
            raise
        counter, runtime = checked.counter, checked.runtime
        report = UsageReport(lease_id=lease.lease_id, machine_id=machine.machine_bytes, counter=counter,
                             runtime_seconds=runtime, timestamp=raw.timestamp)
        if machine.signing == "gateway":
            # Signed by the submitter when it sends the reading: a newer reading supersedes most of them first.
            signed = SignedUsageReport(report=report, r=UNSIGNED, vs=UNSIGNED)
        else:
            if raw.signature is None:
                raise InvalidTelemetry("bad_signature", "device-signed machine sent no signature")
            signed = SignedUsageReport(report=report, r=raw.signature[0], vs=raw.signature[1])
            try:
                signer = recover_signer(self.hasher, signed)
            except Exception as exc:  # coincurve rejects malformed signatures with several types
                raise InvalidTelemetry("bad_signature", f"signature does not recover: {exc}") from exc
            if signer != self._device_key(machine.name) and signer != self._device_key(machine.name, refresh=True):
                raise InvalidTelemetry("bad_signature", f"signed by {signer}, not the machine's key")
        return AcceptedReading(machine=machine.name, machine_id=machine.machine_bytes, lease_id=lease.lease_id,
                               counter=counter, runtime=runtime, timestamp=raw.timestamp, r=signed.r, vs=signed.vs,
                               device_counter=raw.counter, device_runtime=raw.runtime,
                               received_at=telemetry.received_at,
                               anchor=not lease.anchored and not self.outbox.has_readings(lease.lease_id),
                               state=checked.state)

    def ingest(self, group: list[Telemetry]) -> int:
        """Validate a group of messages and commit the good ones in one outbox transaction; returns how many
        were accepted. The intake loop calls it from a worker thread; an embedding program may call it."""
        accepted: list[AcceptedReading] = []
        states = self._states  # accepted readings are the history the next ones are checked against
        anchors: set[int] = set()
        now = self.clock()
        for telemetry in group:
            self.metrics.received.labels(telemetry.machine if telemetry.machine in self.machines else "_unknown").inc()
            try:
                reading = self.validate(telemetry, now, states.get(telemetry.machine))
            except InvalidTelemetry as exc:
                self.metrics.rejected.labels(exc.reason).inc()
                if exc.reason == "duplicate":  # a redelivery: expected with QoS 1, nothing to warn about
                    continue
                self._throttle.log(logging.WARNING, f"{telemetry.machine}:{exc.reason}", "rejected %s from %s: %s",
                                   exc.reason, telemetry.machine[:64], exc.detail[:200])
                if exc.reason in QUARANTINING:
                    states.pop(telemetry.machine, None)  # quarantined in the outbox: read it from there
                continue
            except Exception as exc:  # a bug or a chain hiccup must not stall the other machines
                self.metrics.rejected.labels("internal_error").inc()
                self._throttle.log(logging.ERROR, f"{telemetry.machine}:internal", "could not process a reading "
                                   "from %s: %s", telemetry.machine[:64], exc, exc_info=True)
                continue
            if reading.anchor and reading.lease_id in anchors:
                reading = dataclasses.replace(reading, anchor=False)  # one anchor per lease
            if reading.anchor:
                anchors.add(reading.lease_id)
            assert reading.state is not None
            states[reading.machine] = reading.state
            accepted.append(reading)
        if accepted:
            self.outbox.accept_many(accepted)
            self.metrics.signed.inc(sum(1 for reading in accepted if reading.r != UNSIGNED))  # verified
        return len(accepted)

    async def _intake(self) -> None:
        while True:
            group = [await self.queue.get()]
            while len(group) < INTAKE_GROUP and not self.queue.empty():
                group.append(self.queue.get_nowait())
            # Shielded: cancelling this loop at shutdown must not abandon a group half way through the worker
            # thread; the shutdown waits for it before closing the outbox.
            self._ingesting = asyncio.ensure_future(asyncio.to_thread(self.ingest, group))
            try:
                await asyncio.shield(self._ingesting)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the outbox's disk full: the intake must live on and try the next group
                self.metrics.rejected.labels("internal_error").inc(len(group))
                self._throttle.log(logging.ERROR, "intake", "could not ingest %d readings: %s", len(group), exc,
                                   exc_info=True)

    # ------------------------------------------------------------------ loops

    async def _submit_loop(self) -> None:
        window = self.settings.batch_window_ms / 1000
        while True:
            delay = window
            try:
                await asyncio.to_thread(self.submitter.tick, window)
                self.metrics.chain_ok = True
                if not self.submitter.idle():
                    # Batches forming or in flight: look again soon, so a receipt is seen as soon as it is mined
                    # (the tick polls the head, not the receipts, until a block arrives) and a batch leaves as
                    # soon as it is full or its window is over.
                    delay = min(window, SUBMIT_POLL_S)
            except Exception as exc:  # node down: keep everything in the outbox and try again
                self.metrics.chain_ok = False
                self._throttle.log(logging.WARNING, "submit", "chain unreachable or refusing (%s); retrying", exc)
            self.metrics.outbox_depth.set(self.outbox.depth())
            self.metrics.last_loop = time.time()
            await asyncio.sleep(delay)

    async def _watch_loop(self, touched: set[str] | None) -> None:
        while True:
            try:
                await self.watcher.step(touched)
                touched = None
            except Exception as exc:
                self._throttle.log(logging.WARNING, "watch", "lease watcher could not poll the chain (%s)", exc)
            await asyncio.sleep(self.settings.chain.poll_interval_s)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread (tests)
                loop.add_signal_handler(sig, self.stop)
        server = None
        if self.settings.metrics_port:
            server = MetricsServer(self.metrics, self.settings.metrics_host, self.settings.metrics_port).start()
            log.info("metrics on http://%s:%d/metrics", self.settings.metrics_host, server.port)
        self.metrics_port = server.port if server else None
        # Know every machine's lease before the first reading arrives (one multicall per 200 machines); the
        # watcher's first step sends every machine its state from this same look.
        touched = await asyncio.to_thread(self.watcher.poll_chain)
        intake = asyncio.create_task(self._intake(), name="intake")
        submit = asyncio.create_task(self._submit_loop(), name="submitter")
        watch = asyncio.create_task(self._watch_loop(touched), name="watcher")
        sources = [asyncio.create_task(s.run(self.emit), name=f"source-{i}") for i, s in enumerate(self.sources)]
        log.info("oracle running: %d machines, relayer %s, lease contract %s", len(self.machines),
                 self.relayer.address, self.lease.address)
        await self._stop.wait()

        log.info("stopping: intake closed, flushing within %.0f s", self.settings.shutdown_timeout_s)
        self._intake_open = False
        for task in sources:
            task.cancel()
        await asyncio.gather(*sources, return_exceptions=True)
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        while not self.queue.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        intake.cancel()
        submit.cancel()
        watch.cancel()
        await asyncio.gather(intake, submit, watch, return_exceptions=True)
        if self._ingesting is not None:
            await asyncio.wait([self._ingesting], timeout=max(deadline - time.monotonic(), 0.1))
        while time.monotonic() < deadline and not self.submitter.idle():
            try:
                await asyncio.to_thread(self.submitter.tick)
            except Exception as exc:
                log.warning("flush: %s", exc)
            await asyncio.sleep(0.05)
        if not self.submitter.idle():
            log.warning("shutdown timeout: %d readings stay in the outbox for the next start", self.outbox.depth())
        await CommandRouter(self.commanders).close()
        if server is not None:
            server.stop()
        self.outbox.close()
        log.info("stopped")
        return 0
