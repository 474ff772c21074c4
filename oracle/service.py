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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from millchain.chain import ANVIL_URL, Chain, _network_name, dev_accounts, load_keystore
from millchain.errors import ConfigError
from millchain.project import find_project
from millchain.reverts import RevertDecoder
from millchain.signers import SignerError
from millchain.signers.config import open_signer
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
)
from oracle import keyvault
from oracle.config import MachineSettings, OracleSettings
from oracle.metrics import Metrics, MetricsServer
from oracle.outbox import UNSIGNED, AcceptedReading, Outbox
from oracle.p256 import P256ReportSigner, verify_p256_reading
from oracle.preflight import Finding, run_preflight
from oracle.sources import Commander, CommandRouter, LogThrottle, Source, Telemetry
from oracle.sources.mqtt import MqttSource
from oracle.submitter import Submitter
from oracle.telemetry import InvalidTelemetry, MachineState, check_against_history, parse_payload
from oracle.watcher import LeaseDirectory, LeaseWatcher

log = logging.getLogger("oracle.service")

INTAKE_QUEUE = 50_000
"""Readings buffered between the sources and the outbox; beyond it sources apply their own backpressure."""
INTAKE_GROUP = 2_000
"""Readings committed to the outbox in one transaction (one fsync)."""
KEY_REFRESH_S = 5.0
"""Least time between two registry look-ups of one machine's key after a signature by another key."""
SUBMIT_POLL_S = 0.02
"""How often the submitter looks at the chain while batches form or are in flight: one eth_blockNumber."""
RELAYER_PASSWORD_ENV = "ORACLE_RELAYER_PASSWORD"
DEVICE_PASSWORD_ENV = "ORACLE_DEVICE_PASSWORD"
QUARANTINING = ("counter_backwards", "runtime_backwards")
"""Rejections that quarantine the machine: its counters went back, which a reset or a false reading explains."""


RPC_TIMEOUT_S = 10.0
"""Every JSON-RPC call of the work (batches, receipts, multicalls) gives up after this long, unretried."""
PROBE_TIMEOUT_S = 2.0
"""The probe's own connection gives up sooner: a hung node shows as unreachable within seconds."""
PROBE_INTERVAL_S = 1.0
"""How often the node is asked for its head (the chain_reachable and head age metrics)."""
RECONCILE_INTERVAL_S = 5.0
"""How often each machine's counter seen is compared with its lease's counter on chain (metrics)."""
PRUNE_INTERVAL_S = 60.0
PREFLIGHT_DELAY_S = 3.0


@dataclass
class _RecordedChain(Chain):
    """A Chain whose id is taken from the deployment record instead of asked of the node at construction."""

    def __post_init__(self) -> None:
        return  # chain_id is set by the caller


def _rpc(settings: OracleSettings) -> tuple[str, str]:
    """The node's URL and the network name its deployment records are filed under."""
    chain = settings.chain
    url = chain.rpc_url or (ANVIL_URL if chain.network == "anvil" else None)
    if url is None:
        raise ConfigError(f"chain.rpc_url is required for network {chain.network!r}")
    if chain.network in ("local", "rpc"):
        return url, _network_name(url)  # where `millchain deploy --rpc URL` files its records
    return url, chain.network


def _record(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.json"
    if not path.is_file():
        raise ConfigError(
            f"no deployment record {path}: deploy the suite (`millchain deploy`) or set chain.deployments"
        )
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
    def __init__(
        self,
        settings: OracleSettings,
        *,
        sources: list[Source] | None = None,
        commanders: Mapping[str, Commander] | None = None,
        embedding: Embedding | None = None,
    ) -> None:
        self.settings = settings
        log.debug("starting: configuration read")
        self.metrics = Metrics()
        self.clock = embedding.clock if embedding else time.time
        if embedding is None:
            url, network = _rpc(settings)
            folder = settings.chain.deployments or find_project().deployments_dir / network
            lease_record = _record(folder, "EquipmentLease")
            registry_record = _record(folder, "MachineRegistry")
            self.chain, self.relayer = self._connect(url, network, int(lease_record.get("chainId") or 0))
            probe = Web3.HTTPProvider(
                url, request_kwargs={"timeout": PROBE_TIMEOUT_S}, exception_retry_configuration=None
            )
            self._probe_w3 = Web3(probe)
        else:
            self.chain = embedding.chain
            self._probe_w3 = self.chain.w3
            self.relayer = self.chain.account(settings.chain.relayer_dev_account or 0)
            lease_record, registry_record = embedding.records["EquipmentLease"], embedding.records["MachineRegistry"]
        self._record_chain_id = lease_record.get("chainId")
        if embedding is not None and self._record_chain_id != self.chain.chain_id:
            raise ConfigError(
                f"the EquipmentLease record is for chainId {self._record_chain_id}, "
                f"the node is chainId {self.chain.chain_id}"
            )
        w3 = self.chain.w3
        lease_address = to_checksum_address(settings.chain.lease_contract or lease_record["address"])
        self.lease: Contract = w3.eth.contract(address=lease_address, abi=lease_record["abi"])
        self.registry: Contract = w3.eth.contract(
            address=to_checksum_address(registry_record["address"]), abi=registry_record["abi"]
        )
        self.decoder = RevertDecoder([lease_record["abi"], registry_record["abi"]])
        self.hasher = UsageReportHasher(lease_domain(self.chain.chain_id, self.lease.address))
        self.outbox = Outbox(settings.outbox)
        log.debug("outbox open")
        self.directory = LeaseDirectory(self.lease, settings.machines)
        self.machines: dict[str, MachineSettings] = {m.name: m for m in settings.machines}
        password = embedding.device_password if embedding else os.environ.get(DEVICE_PASSWORD_ENV)
        self.signers: dict[str, DeviceSigner | P256ReportSigner] = {**self._device_signers(password)}
        self.p256_keys: dict[str, bytes] = {}
        """Machines whose current key is P-256 (name -> x ‖ y): gateway ones from their signer, device-signing ones
        from the registry (refresh_device_keys). Their readings go through submitUsageBatchMixed."""
        for name, p256_signer in self._p256_signers(password).items():
            self.signers[name] = p256_signer
            self.p256_keys[name] = p256_signer.public_key
        self.submitter = Submitter(
            self.chain,
            self.relayer,
            self.lease,
            self.outbox,
            self.metrics,
            self.decoder,
            self.signers,
            max_batch=settings.max_batch,
            confirmations=settings.chain.confirmations,
            stuck_blocks=settings.chain.stuck_blocks,
            fee_bump_percent=settings.chain.fee_bump_percent,
        )
        self.submitter.p256_keys = self.p256_keys  # the same dict: refresh_device_keys updates both
        self.sources = sources if sources is not None else []
        self.commanders = dict(commanders or {})
        self.watcher = LeaseWatcher(self.lease, self.directory, self.commanders, self.outbox, self.metrics)
        self.queue: asyncio.Queue[Telemetry] = asyncio.Queue(INTAKE_QUEUE)
        self._throttle = LogThrottle(logging.getLogger("oracle.intake"))
        self._device_keys: dict[str, str] = {}
        """Device-signing machines' registered keys, fetched off the intake path (refresh_device_keys)."""
        self._keys_wanted: set[str] = set()
        self._keys_fetched_at: dict[str, float] = {}
        self._states: dict[str, MachineState] = {}
        """Per machine, what the outbox holds (the service is its only writer while running); quarantined
        machines are always read from the outbox, where `oracle rebaseline` lifts the quarantine."""
        self._dropped: dict[str, int] = {}
        self._next_prune = 0.0
        self._waiting_codes: set[str] = set()
        self.preflight: list[Finding] = []
        self._stop = asyncio.Event()
        self._intake_open = True
        self._ingesting: asyncio.Future[int] | None = None

    # ------------------------------------------------------------------ startup

    def _connect(self, url: str, network: str, chain_id: int) -> tuple[Chain, LocalAccount]:
        """A connection that asks the node nothing: the oracle starts while its node is down (the chain id comes
        from the deployment record and is checked once the node answers). Every RPC times out after
        RPC_TIMEOUT_S and is not retried by web3, so a hung node is noticed in seconds, not minutes."""
        chain_settings = self.settings.chain
        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_S}, exception_retry_configuration=None)
        dev = network == "anvil" and chain_settings.relayer_keystore is None
        chain = _RecordedChain(w3=Web3(provider), network=network, accounts=dev_accounts() if dev else [])
        chain.chain_id = chain_id
        if chain_settings.relayer_keystore is not None:
            relayer = load_keystore(chain_settings.relayer_keystore, os.environ.get(RELAYER_PASSWORD_ENV))
        else:
            assert chain_settings.relayer_dev_account is not None
            if not chain.accounts:
                raise ConfigError(
                    "chain.relayer_dev_account only works on local development chains; use chain.relayer_keystore"
                )
            relayer = chain.account(chain_settings.relayer_dev_account)
        return chain, relayer

    def _device_signers(self, password: str | None) -> dict[str, DeviceSigner]:
        """The gateway machines' signers, unlocked through the key vault (one scrypt derivation per start)."""
        keystores = {
            m.name: m.device_keystore
            for m in self.settings.machines
            if m.signing == "gateway" and m.device_keystore is not None
        }
        keys = keyvault.unlock(self.settings.outbox.with_suffix(".keys"), keystores, password)
        signers = {}
        for name, key in keys.items():
            signer = DeviceSigner(key, self.hasher)
            if signer.address == self.relayer.address:
                raise ConfigError(f"machine {name}: the device key must not be the relayer key")
            signers[name] = signer
        return signers

    def _p256_signers(self, password: str | None) -> dict[str, P256ReportSigner]:
        """The gateway machines whose P-256 key a signer backend holds (device_signer: the gateway's TPM, a
        TPM-wrapped key file, or an encrypted PKCS#8 file). A TPM key needs no password; it never leaves the TPM."""
        signers = {}
        for m in self.settings.machines:
            if m.signing == "gateway" and m.device_signer is not None:
                try:
                    signers[m.name] = P256ReportSigner(open_signer(m.device_signer, password), self.hasher)
                except SignerError as exc:
                    raise ConfigError(f"machine {m.name}: cannot open its device_signer: {exc}") from exc
        return signers

    # ------------------------------------------------------------------ intake

    async def emit(self, telemetry: Telemetry) -> None:
        """What sources call for every message; blocks (backpressure) when the queue is full."""
        if self._intake_open:
            await self.queue.put(telemetry)

    def refresh_device_keys(self, names: Iterable[str] | None = None) -> None:
        """Blocking (chain): the registry's current key of device-signing machines (all, or ``names``). Run by the
        watcher loop, never by the intake, so a slow or hung node cannot hold a reading up."""
        now = time.monotonic()
        wanted = [m.name for m in self.settings.machines if m.signing == "device"] if names is None else list(names)
        for name in wanted:
            if names is not None and now - self._keys_fetched_at.get(name, -KEY_REFRESH_S) < KEY_REFRESH_S:
                continue  # a flood of bad signatures costs one look per machine every KEY_REFRESH_S
            self._keys_fetched_at[name] = now
            record = self.registry.functions.getMachine(self.machines[name].machine_bytes).call()
            self._device_keys[name] = str(record[1])
            qx, qy = self.registry.functions.p256KeyOf(record[1]).call()
            if any(qx) or any(qy):
                self.p256_keys[name] = bytes(qx) + bytes(qy)
            else:
                self.p256_keys.pop(name, None)
            self._keys_wanted.discard(name)

    def validate(self, telemetry: Telemetry, now: float, state: MachineState | None = None) -> AcceptedReading:
        """One message -> a signed reading ready for the outbox, or InvalidTelemetry with the reason."""
        machine = self.machines.get(telemetry.machine)
        if machine is None:
            raise InvalidTelemetry("unknown_machine", f"no machine {telemetry.machine!r} in the oracle config")
        raw = parse_payload(telemetry.payload)
        lease = self.directory.known(machine.name)
        if lease is None:
            raise InvalidTelemetry("no_lease", f"machine {machine.name} has no active lease")
        if machine.signing == "device" and raw.lease_id is not None and raw.lease_id != lease.lease_id:
            raise InvalidTelemetry(
                "wrong_lease", f"signed for lease {hex(raw.lease_id)}, active is {hex(lease.lease_id)}"
            )
        if state is None or state.quarantined:
            state = self.outbox.machine_state(machine.name)
        try:
            checked = check_against_history(
                raw, state, now=now, max_skew=self.settings.max_clock_skew_s, max_rate_per_hour=lease.max_rate_per_hour
            )
        except InvalidTelemetry as exc:
            if exc.reason in QUARANTINING:
                self.outbox.quarantine_machine(
                    machine.name,
                    f"{exc.reason}: {exc.detail}; if the machine "
                    f"restarted, run `millchain oracle rebaseline {machine.name}`",
                )
            raise
        counter, runtime = checked.counter, checked.runtime
        report = UsageReport(
            lease_id=lease.lease_id,
            machine_id=machine.machine_bytes,
            counter=counter,
            runtime_seconds=runtime,
            timestamp=raw.timestamp,
        )
        if machine.signing == "gateway":
            # Signed by the submitter when it sends the reading: a newer reading supersedes most of them first.
            signed = SignedUsageReport(report=report, r=UNSIGNED, vs=UNSIGNED)
        else:
            if raw.signature is None:
                raise InvalidTelemetry("bad_signature", "device-signed machine sent no signature")
            signed = SignedUsageReport(report=report, r=raw.signature[0], vs=raw.signature[1])
        if machine.signing == "device" and raw.p256:
            assert raw.signature is not None
            try:
                r, s = verify_p256_reading(
                    self.hasher, report, raw.signature[0], raw.signature[1], self.p256_keys.get(machine.name)
                )
            except InvalidTelemetry:
                self._keys_wanted.add(machine.name)  # rotated? looked up again off this path, as below
                raise
            signed = SignedUsageReport(report=report, r=r, vs=s)
        elif machine.signing == "device":
            try:
                signer = recover_signer(self.hasher, signed)
            except Exception as exc:  # coincurve rejects malformed signatures with several types
                raise InvalidTelemetry("bad_signature", f"signature does not recover: {exc}") from exc
            if signer != self._device_keys.get(machine.name):
                # The key may have been rotated: the watcher loop looks it up again (bounded), off this path.
                self._keys_wanted.add(machine.name)
                raise InvalidTelemetry("bad_signature", f"signed by {signer}, not the machine's registered key")
        return AcceptedReading(
            machine=machine.name,
            machine_id=machine.machine_bytes,
            lease_id=lease.lease_id,
            counter=counter,
            runtime=runtime,
            timestamp=raw.timestamp,
            r=signed.r,
            vs=signed.vs,
            device_counter=raw.counter,
            device_runtime=raw.runtime,
            received_at=telemetry.received_at,
            anchor=not lease.anchored and not self.outbox.has_readings(lease.lease_id),
            state=checked.state,
        )

    def ingest(self, group: list[Telemetry]) -> int:
        """Validate a group of messages and commit the good ones in one outbox transaction; returns how many
        were accepted. The intake loop calls it from a worker thread; an embedding program may call it."""
        accepted: list[AcceptedReading] = []
        states = self._states  # accepted readings are the history the next ones are checked against
        anchors: set[int] = set()
        now = self.clock()
        for telemetry in group:
            known = telemetry.machine in self.machines
            self.metrics.received.labels(telemetry.machine if known else "_unknown").inc()
            try:
                reading = self.validate(telemetry, now, states.get(telemetry.machine))
            except InvalidTelemetry as exc:
                self.metrics.rejected.labels(exc.reason).inc()
                if exc.reason == "duplicate":  # a redelivery: expected with QoS 1, nothing to warn about
                    continue
                # Unknown names share one throttle key: a flood of made-up names costs one log line a minute.
                key = f"{telemetry.machine if known else '_unknown'}:{exc.reason}"
                self._throttle.log(
                    logging.WARNING,
                    key,
                    "rejected %s from %s: %s",
                    exc.reason,
                    telemetry.machine[:64],
                    exc.detail[:200],
                )
                if exc.reason in QUARANTINING:
                    states.pop(telemetry.machine, None)  # quarantined in the outbox: read it from there
                continue
            except Exception as exc:  # a bug or a chain hiccup must not stall the other machines
                self.metrics.rejected.labels("internal_error").inc()
                self._throttle.log(
                    logging.ERROR,
                    f"{telemetry.machine if known else '_unknown'}:internal",
                    "could not process a reading from %s: %s",
                    telemetry.machine[:64],
                    exc,
                    exc_info=True,
                )
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
        # Committed (or refused for good): only now may the broker forget them. A crash before this line leaves
        # them unacknowledged, so a persistent session delivers them again and the intake sees duplicates.
        for telemetry in group:
            if telemetry.ack is not None:
                try:
                    telemetry.ack()
                except Exception as exc:  # the connection went: the broker redelivers, the intake drops the copy
                    self._throttle.log(logging.INFO, "ack", "could not acknowledge a message (%s)", exc)
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
                self._throttle.log(
                    logging.ERROR, "intake", "could not ingest %d readings: %s", len(group), exc, exc_info=True
                )

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
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_INTERVAL_S
                older = time.time() - self.settings.outbox_retention_hours * 3600
                with contextlib.suppress(Exception):  # a busy disk: the next round prunes
                    await asyncio.to_thread(self.outbox.prune, older)
            await asyncio.sleep(delay)

    async def _probe_loop(self) -> None:
        """Ask the node for its head every PROBE_INTERVAL_S (RPC_TIMEOUT_S at most): chain_reachable, head age,
        a log line when the node stops or starts answering; the preflight once it first answers; the
        reconciliation of counters seen with counters on chain."""
        down_since: float | None = None
        # Not in the first seconds: a thousand registry look-ups must not delay the first settlement after a
        # restart; the findings are logged a few seconds later instead.
        preflight_after = time.monotonic() + PREFLIGHT_DELAY_S
        next_reconcile = time.monotonic() + PREFLIGHT_DELAY_S
        preflight_done = False
        while True:
            try:
                head = await asyncio.to_thread(lambda: int(self._probe_w3.eth.block_number))
            except Exception as exc:
                self.metrics.chain_ok = False
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning(
                        "node %s does not answer (%s): readings wait in the outbox, /healthz is degraded",
                        self.settings.chain.rpc_url or "",
                        str(exc)[:200],
                    )
            else:
                self.metrics.chain_ok = True
                self.metrics.last_head_at = time.time()
                self.metrics.head.set(head)
                if down_since is not None:
                    log.warning("node answers again after %.0f s (head %d)", time.monotonic() - down_since, head)
                    down_since = None
                if not preflight_done and time.monotonic() >= preflight_after:
                    preflight_done = await self._preflight()
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + RECONCILE_INTERVAL_S
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.reconcile)
            if self.metrics.last_head_at is not None:
                self.metrics.head_age.set(time.time() - self.metrics.last_head_at)
            self.metrics.chain_reachable.set(int(self.metrics.chain_ok))
            self._watch_sources()
            with contextlib.suppress(Exception):  # a busy disk: the next round counts
                self._count_waiting()
            await asyncio.sleep(PROBE_INTERVAL_S)

    def _count_waiting(self) -> None:
        """Pending readings held back or to be sent again, by reason, into the oracle_readings_waiting gauge (a
        reason no reading has any more goes to 0)."""
        waiting = self.outbox.waiting()
        for code in self._waiting_codes - set(waiting):
            self.metrics.waiting.labels(code).set(0)
        for code, n in waiting.items():
            self.metrics.waiting.labels(code).set(n)
        self._waiting_codes |= set(waiting)

    def _watch_sources(self) -> None:
        """Broker connection and messages dropped by the sources, into metrics and /healthz."""
        connected = [s.connected for s in self.sources if isinstance(s, MqttSource)]
        broker_ok = all(connected) if connected else None
        if broker_ok is False and self.metrics.broker_ok is not False:
            log.warning("MQTT broker disconnected: no telemetry arrives until it is back")
        elif broker_ok and self.metrics.broker_ok is False:
            log.warning("MQTT broker connected again")
        self.metrics.broker_ok = broker_ok
        self.metrics.broker_connected.set(0 if broker_ok is False else 1)
        for i, source in enumerate(self.sources):
            dropped = int(getattr(source, "dropped", 0) or 0)
            name = f"{type(source).__name__.lower()}-{i}"
            if dropped > self._dropped.get(name, 0):
                self.metrics.dropped.labels(name).inc(dropped - self._dropped.get(name, 0))
                self._dropped[name] = dropped

    async def _preflight(self) -> bool:
        """Run the preflight (node reachable); True once done. Findings go to the log, /healthz and status."""
        try:
            chain_id = await asyncio.to_thread(lambda: int(self.chain.w3.eth.chain_id))
            findings = []
            if self._record_chain_id is not None and chain_id != self._record_chain_id:
                findings.append(
                    Finding(
                        "chain_id",
                        "error",
                        f"the node is chainId {chain_id}, the EquipmentLease "
                        f"record is for chainId {self._record_chain_id}: nothing can settle",
                    )
                )
                log.error("preflight chain_id: %s", findings[0].message)
            findings += await asyncio.to_thread(
                run_preflight,
                self.settings,
                self.chain,
                self.relayer.address,
                self.registry,
                self.directory,
                self.submitter,
                self.outbox,
                {name: signer.address for name, signer in self.signers.items()},
            )
        except Exception as exc:
            log.warning("preflight could not finish (%s); trying again", exc)
            return False
        self.preflight = findings
        self.metrics.problems = [f"{f.check}: {f.message}" for f in findings]
        for check in {f.check for f in findings}:
            self.metrics.preflight_findings.labels(check).set(sum(1 for f in findings if f.check == check))
        await asyncio.to_thread(self.outbox.save_preflight, [(f.check, f.level, f.message) for f in findings])
        if not findings:
            log.info("preflight: device keys, relayer balance, clocks and lease anchors are in order")
        return True

    def reconcile(self) -> None:
        """Blocking (chain): readings settled in the outbox that the chain lost are sent again; each machine's
        counter seen beside its lease's counter on chain, into metrics."""
        self.submitter.resend_lost()
        known = {name: info for name, info in self.directory.snapshot().items() if info is not None}
        views = self.submitter.chain_leases(info.lease_id for info in known.values())
        quarantined = 0
        for name in self.machines:
            state = self.outbox.machine_state(name)
            quarantined += bool(state.quarantined)
            info = known.get(name)
            if info is None or state.last_counter is None:
                continue
            seen = state.last_counter + state.counter_offset
            on_chain = views[info.lease_id].last_counter
            self.metrics.counter_seen.labels(name).set(seen)
            self.metrics.counter_on_chain.labels(name).set(on_chain)
            self.metrics.unbilled.labels(name).set(max(seen - on_chain, 0))
        self.metrics.quarantined.set(quarantined)
        settled_at = self.outbox.last_settled_at()
        if settled_at is not None:
            self.metrics.last_settlement.set(settled_at)

    async def _watch_loop(self, touched: set[str] | None) -> None:
        while True:
            try:
                await self.watcher.step(touched)
                touched = None
                if self._keys_wanted:
                    await asyncio.to_thread(self.refresh_device_keys, set(self._keys_wanted))
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
        starts = await asyncio.to_thread(self.outbox.count_start)
        self.metrics.restarts.set(starts - 1)
        # Know every machine's lease before the first reading arrives (one multicall per 200 machines); the
        # watcher's first step sends every machine its state from this same look.
        touched: set[str] | None
        try:
            log.debug("device keys unlocked; reading the leases")
            touched = await asyncio.to_thread(self.watcher.poll_chain)
            self.metrics.chain_ok = True
            await asyncio.to_thread(self.refresh_device_keys)
        except Exception as exc:
            # The node is down: start anyway. Readings are checked against the leases known at the last run and
            # wait in the outbox; machines get the command last delivered to them; the chain's view replaces
            # all of it as soon as the node answers.
            touched = None
            self.metrics.chain_ok = False
            restored = await asyncio.to_thread(self.watcher.restore)
            log.warning(
                "node %s unreachable at start (%s): working from %d leases known at the last run",
                self.settings.chain.rpc_url or "",
                str(exc)[:200],
                restored,
            )
            await self.watcher.resend_known()
        intake = asyncio.create_task(self._intake(), name="intake")
        submit = asyncio.create_task(self._submit_loop(), name="submitter")
        watch = asyncio.create_task(self._watch_loop(touched), name="watcher")
        probe = asyncio.create_task(self._probe_loop(), name="probe")
        sources = [asyncio.create_task(s.run(self.emit), name=f"source-{i}") for i, s in enumerate(self.sources)]
        log.info(
            "oracle running: %d machines, relayer %s, lease contract %s",
            len(self.machines),
            self.relayer.address,
            self.lease.address,
        )
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
        probe.cancel()
        await asyncio.gather(intake, submit, watch, probe, return_exceptions=True)
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
        for signer in self.signers.values():
            if isinstance(signer, P256ReportSigner):
                signer.close()  # a TPM signer's connection to the TPM (a software key has nothing to close)
        log.info("stopped")
        return 0
