"""The transaction manager: pending readings -> submitUsageBatch transactions -> confirmed outcomes.

It owns the relayer's nonces: read from the chain at start and whenever the chain is ahead of us (another
sender used the key), never assumed. Each batch is persisted with its signed bytes before broadcast; a batch
not mined after ``stuck_blocks`` is replaced at the same nonce with fees bumped by at least 12.5 %; a
receipt is trusted only after ``confirmations`` blocks and only while its block is still canonical, so a reorg
that drops it sends the batch again. A batch whose nonce another transaction took goes back to pending.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract import Contract

from millchain.calls import FunctionCall
from millchain.chain import Chain
from millchain.events import LogDecoder, Receipt, block_hash, fetch_receipt
from millchain.leasing import SkipReason, UsageBatchEncoder, decode_lease_id
from millchain.reverts import RevertDecoder
from millchain.tx import Transactor
from millchain.typed_data import DeviceSigner, UsageReport
from oracle.metrics import Metrics
from oracle.outbox import UNSIGNED, Attempt, Batch, Outbox, Outcome, PendingReading
from oracle.p256 import MixedBatchEncoder, P256ReportSigner

log = logging.getLogger("oracle.submitter")

BATCH_BASE_GAS = 100_000
PER_REPORT_GAS = 60_000
"""Gas limit per report: three times the measured steady-state cost (19.3k), covering the first report of a
lease and skipped reports that emit an anomaly with the whole report in it."""
TRACK_EVERY_S = 1.0
"""How often batches in flight are looked at while the chain's head stands still."""
PASSING_SKIPS = {SkipReason.REPORT_FROM_FUTURE}
"""Skips that pass with time (the device clock ahead of the chain's): the reading is sent again later, however
often; never quarantined for it."""
AWAITING_CHAIN_TIME = "awaiting_chain_time"
"""Reason of a reading dated after the chain's time: held back until a block can reach its timestamp. The lease
judges a report's rate on its time clamped to its block's (IEquipmentLease, "Time"): sent early, device seconds
the chain has not seen yet would be squeezed into the block's and the report could be an anomaly."""
IMPLAUSIBLE_ON_CHAIN = "implausible_on_chain"
"""Reason of a reading the lease would flag as an anomaly against its last settled report (the contract's own
formula, on the chain's time): not sent; a newer reading of the machine supersedes it and carries its units."""
AWAITING_NEWER = "awaiting_newer_reading"
"""Reason of a device-signed reading the chain skipped as stale within a second it already holds: it cannot be
re-dated (the oracle holds no key for it), so it waits, pending, for the machine's next reading to carry it."""
SKIP_MEANING = {
    SkipReason.MALFORMED_REPORT: "a field has bits above its type (uint64 counter, uint32 runtime, uint40 time)",
    SkipReason.ANCHOR_NOT_BY_CURRENT_KEY: (
        "a lease's first report must be signed by the machine's current key (rotated or revoked since?)"
    ),
    SkipReason.INVALID_SIGNER: "not signed by the machine's key valid at its timestamp",
    SkipReason.INVALID_SIGNATURE: "the signature does not recover",
    SkipReason.COUNTER_BACKWARDS: "below the lease's counter on chain",
    SkipReason.RUNTIME_BACKWARDS: "below the lease's runtime on chain",
}
"""What each lasting skip means, in a quarantined reading's reason (the skip's name comes first)."""
CHAIN_TIME_RECHECK_S = 2.0
"""Longest wait before a reading held for the chain's time is looked at again: the chain's clock can jump (a node
catching up, a test chain's time moved on), so the estimate from a second a second is capped."""
VIEW_TTL_S = 30.0
"""How long a lease's state read from the chain stands for it before a reading is judged against it anew."""
HOLD_RECHECK_S = 30.0
"""How often a reading held for a reason only a newer reading resolves is looked at again (no transaction)."""
RETRY_AFTER_S = 2.0
"""How long a reading the chain skipped for a passing reason waits before it is sent again."""
CARRY_MAX_S = 2
"""A gateway-signed reading at most this many seconds older than the chain's last report is carried to the next
second: the same second (a newer counter within it), or a device clock a moment behind. Further behind, carrying
would squeeze real elapsed time into a second and turn later reports into anomalies."""
NONCE_TAKEN_AFTER_S = 2.0
"""How long a batch's nonce must look mined without its receipt before another transaction is blamed."""
MAX_TRIES = 30
"""Sends of one reading before a passing reason is treated as lasting (the reading is quarantined)."""


def _implausible(reading: PendingReading, base: ChainLease, chain_time: int) -> str | None:
    """Why the lease would flag ``reading`` as an anomaly against ``base``, or None: the contract's plausibility
    rule (units <= maxRatePerHour x elapsed / 3600, rounded down; runtime delta <= elapsed + 1) on the time it
    would store, min(timestamp, chain time). Only for an anchored lease and a reading it would not refuse for
    another reason (stale, backwards: left to the contract, whose skip names them). The lease's one second of
    runtime slack is not visible from outside, so the runtime bound is the loosest one: the contract may still
    flag a reading this passes, never the other way round."""
    stored = min(reading.timestamp, chain_time)
    if not base.anchored or stored <= base.last_timestamp:
        return None
    if reading.counter < base.last_counter or reading.runtime < base.last_runtime:
        return None
    elapsed = stored - base.last_timestamp
    rate = decode_lease_id(reading.lease_id)["max_rate_per_hour"]
    units, max_units = reading.counter - base.last_counter, rate * elapsed // 3600
    if units > max_units:
        return (
            f"{units} units in {elapsed} s since the chain's report at {base.last_timestamp} exceed the rated "
            f"{rate}/h (at most {max_units}); a newer reading carries them"
        )
    runtime = reading.runtime - base.last_runtime
    if runtime > elapsed + 1:
        return (
            f"runtime +{runtime} s in {elapsed} s since the chain's report at {base.last_timestamp} (at most "
            f"{elapsed + 1}); a newer reading carries it"
        )
    return None


@dataclass(frozen=True)
class ChainLease:
    """What the lease contract holds for a lease: the truth a reading is settled against."""

    anchored: bool
    last_counter: int
    last_timestamp: int
    last_runtime: int = 0


class Submitter:
    def __init__(
        self,
        chain: Chain,
        relayer: LocalAccount,
        lease: Contract,
        outbox: Outbox,
        metrics: Metrics,
        decoder: RevertDecoder,
        signers: Mapping[str, DeviceSigner | P256ReportSigner],
        *,
        max_batch: int,
        confirmations: int,
        stuck_blocks: int,
        fee_bump_percent: float,
        max_inflight: int = 4,
    ) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.tx = Transactor(chain, relayer, decoder)
        self.lease = lease
        self.signers = signers
        self.encoder = UsageBatchEncoder(lease.abi)
        self.mixed_encoder = MixedBatchEncoder(lease.abi)
        self.p256_keys: Mapping[str, bytes] = {}
        """Machines whose key is P-256 (name -> x ‖ y; set by the service): a batch with any of their readings
        goes as submitUsageBatchMixed."""
        self.events = LogDecoder(lease)
        self.outbox = outbox
        self.metrics = metrics
        self.max_batch = max_batch
        self.confirmations = confirmations
        self.stuck_blocks = stuck_blocks
        self.bump = 1 + fee_bump_percent / 100
        self.max_inflight = max_inflight
        self._get_lease = FunctionCall(lease.abi, "getLease")
        self._multicall_fn = FunctionCall(lease.abi, "multicall")
        self._backoff_until = 0.0
        self._tick_lock = threading.Lock()
        self._tracked_head = -1
        self._tracked_at = 0.0
        self._waiting_since: float | None = None
        self._nonce_gone_since: dict[int, float] = {}
        self._hole_since: float | None = None
        self._hole_checked_at = 0.0
        self._views_lost = False
        """Set by resend_lost (the reconciliation's thread): the chain went back, the views are dropped before use."""
        self._views: dict[int, tuple[float, ChainLease]] = {}
        """Each lease as the chain held it at the last receipt that touched it (or the last look), with when: what
        a reading about to be sent is judged against, without a call per batch."""

    # ------------------------------------------------------------------ one step

    def tick(self, gather_s: float = 0.0) -> int:
        """Track the batches in flight, then send new ones if readings wait. Returns readings sent.

        Readings not enough for a full batch wait up to ``gather_s`` from the tick that first saw them, so a
        loop that ticks often (to see receipts soon) still sends full batches; 0 sends whatever waits. One tick
        at a time: at shutdown a cancelled loop's thread may still be in one when the flush starts."""
        with self._tick_lock:
            return self._tick(gather_s)

    def _tick(self, gather_s: float) -> int:
        head = self.w3.eth.block_number
        now = time.monotonic()
        inflight = self.outbox.inflight()
        if inflight and now - self._hole_checked_at >= TRACK_EVERY_S:
            self._hole_checked_at = now
            if self._nonces_lost(inflight):
                inflight = self.outbox.inflight()
        # Receipts can only have changed with a new block; a look every TRACK_EVERY_S regardless catches what a
        # head that stands still hides (a node that lost a transaction on a chain mining only on demand).
        if inflight and (head != self._tracked_head or now - self._tracked_at >= TRACK_EVERY_S):
            for batch in inflight:
                self._track(batch, head)
            self._tracked_head, self._tracked_at = head, now
            inflight = self.outbox.inflight()
        sent = 0
        # Pipelined: up to max_inflight batches with consecutive nonces, each sent without waiting for the last.
        while len(inflight) < self.max_inflight and now >= self._backoff_until:
            waiting = self.outbox.count_pending(self.max_batch)
            if not waiting:
                self._waiting_since = None
                break
            if self._waiting_since is None:
                self._waiting_since = now
            if waiting < self.max_batch and now - self._waiting_since < gather_s:
                break  # a batch is still forming
            ready = self._ready(self.outbox.pending(self.max_batch))
            if not ready:
                continue  # every one was held back: look at what else waits
            count = self._send_batch(ready, head)
            if not count:
                break
            sent += count
            inflight = self.outbox.inflight()
        return sent

    def chain_time(self) -> int:
        """The earliest timestamp a block holding a batch sent now can have: the node's pending block's (anvil and
        geth build it at the node's clock, so it moves on while no block is mined), never below the latest
        block's. Readings dated after it are held back."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        try:
            pending = int(self.w3.eth.get_block("pending")["timestamp"])
        except Exception:  # a node without a pending block: its latest block is the chain's time
            return latest
        return max(latest, pending)

    def _ready(self, readings: list[PendingReading]) -> list[PendingReading]:
        """The readings that may be sent now; the others stay pending with a named reason and a time to look again.

        Held: a reading dated after the chain's time (until a block can reach it), and one the lease would flag as
        an anomaly, judged as the contract judges it (IEquipmentLease, plausibility): against the lease's last
        settled counters (or the newest reading of the lease in flight or earlier in this batch), on the time the
        report would be stored at, min(timestamp, block time)."""
        if not readings:
            return []
        chain_time = self.chain_time()
        now = time.time()
        ahead = [r for r in readings if r.timestamp > chain_time]
        if ahead:
            # The chain's clock moves at a second a second: look again when it should have reached the reading.
            self.outbox.hold(
                [
                    (
                        r.id,
                        f"{AWAITING_CHAIN_TIME}: dated {r.timestamp}, chain time {chain_time}",
                        now + min(max(r.timestamp - chain_time, 1), CHAIN_TIME_RECHECK_S),
                    )
                    for r in ahead
                ]
            )
            self.metrics.held.labels(AWAITING_CHAIN_TIME).inc(len(ahead))
        due = [r for r in readings if r.timestamp <= chain_time]
        if not due:
            return []
        bases = self._bases({r.lease_id for r in due})
        ready: list[PendingReading] = []
        implausible: list[tuple[int, str, float]] = []
        for reading in due:
            base = bases.get(reading.lease_id)
            if (
                base is not None
                and base.anchored
                and reading.machine not in self.signers
                and 0 <= base.last_timestamp - reading.timestamp <= CARRY_MAX_S
            ):
                # Device-signed and within a second the lease already holds: refused as stale if sent, and only
                # the device can date it anew. Not sent; the machine's next reading supersedes it.
                implausible.append(
                    (
                        reading.id,
                        f"{AWAITING_NEWER}: dated {reading.timestamp}, the lease holds a report at "
                        f"{base.last_timestamp}; a device-signed reading cannot be re-dated",
                        now + HOLD_RECHECK_S,
                    )
                )
                continue
            why = None if base is None else _implausible(reading, base, chain_time)
            if why is not None:
                implausible.append((reading.id, f"{IMPLAUSIBLE_ON_CHAIN}: {why}", now + HOLD_RECHECK_S))
                continue
            ready.append(reading)
            # Assumed settled (the anchor too): what the next reading of the lease in this batch is judged against.
            bases[reading.lease_id] = ChainLease(
                True, reading.counter, min(reading.timestamp, chain_time), reading.runtime
            )
        if implausible:
            self.outbox.hold(implausible)
            for code in {why.split(":")[0] for _, why, _ in implausible}:
                self.metrics.held.labels(code).inc(sum(1 for _, why, _ in implausible if why.startswith(code)))
            log.info("%d readings held, the lease would refuse them: %s", len(implausible), implausible[0][1])
        return ready

    def _bases(self, lease_ids: set[int]) -> dict[int, ChainLease]:
        """What each lease's next report is judged against: the newest reading of it in flight (assumed to settle),
        else the lease's state on chain."""
        now = time.monotonic()
        if self._views_lost:
            self._views_lost = False
            self._views.clear()
        # Another sender (the lessor's re-anchor, a second oracle) can move a lease: a view is trusted VIEW_TTL_S.
        stale = {i for i in lease_ids if now - self._views.get(i, (-VIEW_TTL_S, None))[0] >= VIEW_TTL_S}
        if stale:
            self._views.update((i, (now, view)) for i, view in self.chain_leases(stale).items())
        bases = {i: self._views[i][1] for i in lease_ids}
        inflight = self.outbox.readings([rid for batch in self.outbox.inflight() for rid in batch.reading_ids])
        for reading in inflight:  # in id order: the newest last
            if reading.lease_id in bases:
                bases[reading.lease_id] = ChainLease(True, reading.counter, reading.timestamp, reading.runtime)
        return bases

    def idle(self) -> bool:
        return not self.outbox.inflight() and not self.outbox.count_pending(1)

    # ------------------------------------------------------------------ sending

    def _calldata(self, readings: list[PendingReading]) -> str:
        if any(r.machine in self.p256_keys for r in readings):
            return self.mixed_encoder.calldata(readings, self.p256_keys)
        return self.encoder.calldata(
            [((r.lease_id, r.machine_id, r.counter, r.runtime, r.timestamp), r.r, r.vs) for r in readings]
        )

    def _next_nonce(self) -> int:
        chain_nonce = self.w3.eth.get_transaction_count(self.tx.account.address, "pending")
        ours = [b.nonce for b in self.outbox.inflight()]
        return max([chain_nonce, *(n + 1 for n in ours)])

    def _sign(self, data: str, nonce: int, gas: int, max_fee: int, tip: int, batch_id: int, head: int) -> Attempt:
        signed = self.tx.sign(
            {
                "to": self.lease.address,
                "data": data,
                "value": 0,
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
                "chainId": self.chain.chain_id,
                "from": self.tx.address,
            }
        )
        return Attempt(
            tx_hash=signed.tx_hash,
            batch_id=batch_id,
            raw=signed.raw,
            max_fee=max_fee,
            tip=tip,
            gas=gas,
            sent_block=head,
        )

    def _signed(self, readings: list[PendingReading]) -> list[PendingReading]:
        """Sign the gateway-signed readings about to be sent (the intake leaves them unsigned: most are
        superseded before they are sent). A reading whose machine has no key any more is quarantined."""
        signed, keyless = [], []
        for reading in readings:
            if reading.r != UNSIGNED:
                signed.append(reading)
                continue
            signer = self.signers.get(reading.machine)
            if signer is None:
                keyless.append(reading.id)
                continue
            report = signer.sign(
                UsageReport(
                    lease_id=reading.lease_id,
                    machine_id=reading.machine_id,
                    counter=reading.counter,
                    runtime_seconds=reading.runtime,
                    timestamp=reading.timestamp,
                )
            )
            signed.append(dataclasses.replace(reading, r=report.r, vs=report.vs))
        if keyless:
            log.warning(
                "%d readings have no device key to be signed with (machine removed from the config or "
                "switched to device signing); quarantined",
                len(keyless),
            )
            self.outbox.quarantine_pending(keyless, "no device key to sign with")
            self.metrics.rejected.labels("no_device_key").inc(len(keyless))
        self.metrics.signed.inc(len(signed) - sum(1 for r in readings if r.r != UNSIGNED))
        return signed

    def _send_batch(self, readings: list[PendingReading], head: int) -> int:
        readings = self._signed(readings)
        if not readings:
            return 0
        data = self._calldata(readings)
        # A computed limit instead of eth_estimateGas, which would execute the whole batch once more before it
        # is sent: a batch never reverts for a bad report (it skips it), and a revert for any other reason
        # (paused contract) comes back as a failed receipt, which puts the readings back and backs off.
        latest = self.w3.eth.get_block("latest")
        gas = min(BATCH_BASE_GAS + PER_REPORT_GAS * len(readings), int(latest["gasLimit"]) * 9 // 10)
        max_fee, tip = self.tx.fee_caps(latest)
        nonce = self._next_nonce()
        attempt = self._sign(data, nonce, gas, max_fee, tip, 0, head)
        batch = self.outbox.open_batch(nonce, readings, attempt)  # durable before the bytes leave
        self._broadcast(attempt)
        self.metrics.submitted.inc(len(readings))
        self.metrics.transactions.labels("sent").inc()
        log.debug("batch %d: %d readings, nonce %d, tx %s", batch.id, len(readings), nonce, attempt.tx_hash)
        return len(readings)

    def _broadcast(self, attempt: Attempt) -> None:
        try:
            self.w3.eth.send_raw_transaction(HexBytes(attempt.raw))
        except Exception as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return
            # nonce too low / underpriced / node down: the next tick finds out what happened and acts.
            log.info("broadcast of %s failed: %s", attempt.tx_hash, exc)

    # ------------------------------------------------------------------ tracking

    def _receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt, or None when the node says the transaction is not mined. A node that cannot answer
        (restarting, busy past the timeout) raises: not knowing is never read as "not mined", which would
        send a mined batch again as if another transaction had taken its nonce."""
        return fetch_receipt(self.w3, tx_hash)

    def _canonical(self, receipt: Receipt) -> bool:
        try:
            return block_hash(self.w3, receipt.block_number) == receipt.block_hash
        except Exception:
            return False

    def _track(self, batch: Batch, head: int) -> None:
        attempts = self.outbox.attempts(batch.id)
        for attempt in attempts:
            receipt = self._receipt(attempt.tx_hash)
            if receipt is None:
                continue
            if head - receipt.block_number + 1 < self.confirmations:
                return  # mined, not yet confirmed: wait
            if not self._canonical(receipt):
                log.warning("receipt of %s left the canonical chain (reorg); sending again", attempt.tx_hash)
                self.metrics.transactions.labels("reorged").inc()
                self._broadcast(attempts[-1])
                return
            if receipt.status != 1:
                log.warning("batch %d reverted in %s; its readings go back to pending", batch.id, attempt.tx_hash)
                self.metrics.transactions.labels("reverted").inc()
                self.outbox.drop_batch(batch, "transaction reverted")
                self._backoff_until = time.monotonic() + 5
                return
            self._finish(batch, receipt)
            return

        mined_nonce = self.w3.eth.get_transaction_count(self.tx.account.address, "latest")
        if mined_nonce > batch.nonce:
            if any(self._receipt(a.tx_hash) is not None for a in attempts):
                return  # mined between our two looks: the next tick records it
            # A node can count a nonce as mined a moment before it serves the receipt (a big batch's block):
            # conclude only when it still looks so NONCE_TAKEN_AFTER_S later.
            first_seen = self._nonce_gone_since.setdefault(batch.id, time.monotonic())
            if time.monotonic() - first_seen < NONCE_TAKEN_AFTER_S:
                return
            self._nonce_gone_since.pop(batch.id, None)
            log.warning(
                "nonce %d was used by another transaction; batch %d goes back to pending", batch.nonce, batch.id
            )
            self.metrics.transactions.labels("nonce_taken").inc()
            self.outbox.drop_batch(batch, "nonce used by another transaction")
            return
        last = attempts[-1]
        if head - last.sent_block >= self.stuck_blocks:
            self._replace(batch, last, head)
        elif not self._known(last.tx_hash):
            self._broadcast(last)  # the node lost it (restart, outage): the same bytes again

    def _nonces_lost(self, inflight: list[Batch]) -> bool:
        """A node restored from an older state (or a reorg deeper than the confirmations) forgets mined
        transactions: the relayer's nonce on chain falls below our lowest batch in flight, and nothing in the
        node's pool fills the hole, so those batches can never be mined. After NONCE_TAKEN_AFTER_S of that, every
        batch in flight goes back to pending and is sent again from the chain's nonce. (If an old transaction is
        mined after all, its reports are only refused as already held: billing is per counter, never twice.)"""
        lowest = min(b.nonce for b in inflight)
        address = self.tx.account.address
        if self.w3.eth.get_transaction_count(address, "pending") >= lowest:
            self._hole_since = None
            return False
        if self._hole_since is None:
            self._hole_since = time.monotonic()
        if time.monotonic() - self._hole_since < NONCE_TAKEN_AFTER_S:
            return False
        self._hole_since = None
        mined = self.w3.eth.get_transaction_count(address, "latest")
        log.warning(
            "the node lost the relayer's transactions from nonce %d (its state is older than ours: restored, or a "
            "deep reorg); %d batches in flight go back to pending and are sent again from nonce %d",
            mined,
            len(inflight),
            mined,
        )
        self.metrics.transactions.labels("nonce_hole").inc()
        for batch in inflight:
            self.outbox.drop_batch(batch, f"resent: the node lost nonces {mined}..{lowest - 1}")
        self._views.clear()
        return True

    def resend_lost(self) -> int:
        """Readings the outbox holds as settled that the chain no longer holds (a node restored from an older
        state, a reorg deeper than the confirmations) go back to pending: "settled" stays true of the chain.
        A lease whose anchor is gone too gets its anchor reading again first, so the units between it and the
        newest reading are billed rather than skipped as a new anchor. A lease the lessor re-anchored holds a
        report newer than the reading: nothing is lost there. Returns the readings sent again."""
        heads = self.outbox.settled_heads()  # before the chain's view: a reading settled meanwhile is in both
        if not heads:
            return 0
        chain = self.chain_leases(heads)
        reopen: list[int] = []
        for lease_id, head in heads.items():
            view = chain[lease_id]
            if view.anchored and (view.last_counter >= head.counter or view.last_timestamp >= head.timestamp):
                continue
            if not view.anchored and head.anchor_id is not None and head.anchor_id != head.id:
                reopen.append(head.anchor_id)
            reopen.append(head.id)
        if reopen:
            log.warning(
                "the chain no longer holds %d readings the outbox had settled (node restored from an older state, "
                "or a deep reorg); sent again",
                len(reopen),
            )
            self.outbox.reopen(reopen, "chain_lost: the block that settled it is gone; sent again")
            self.metrics.reopened.inc(len(reopen))
            self._views_lost = True  # this runs beside the submit loop's thread: it drops its views itself
        return len(reopen)

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
            return True
        except Exception:
            return False

    def _replace(self, batch: Batch, last: Attempt, head: int) -> None:
        tip_floor = math.ceil(last.tip * self.bump)
        max_floor = math.ceil(last.max_fee * self.bump)
        max_fee, tip = self.tx.fee_caps(tip_floor=tip_floor, max_floor=max_floor)
        data = self._calldata(self.outbox.readings(batch.reading_ids))
        attempt = self._sign(data, batch.nonce, last.gas, max_fee, tip, batch.id, head)
        self.outbox.add_attempt(attempt)
        self._broadcast(attempt)
        self.metrics.transactions.labels("replaced").inc()
        log.info(
            "batch %d stuck for %d blocks: replaced %s by %s (tip %d -> %d wei)",
            batch.id,
            head - last.sent_block,
            last.tx_hash,
            attempt.tx_hash,
            last.tip,
            tip,
        )

    def chain_leases(self, lease_ids: Iterable[int], block: int | None = None) -> dict[int, ChainLease]:
        """The lease contract's view of ``lease_ids`` (one multicall)."""
        ids = sorted(set(lease_ids))
        if not ids:
            return {}
        data = HexBytes(self._multicall_fn.encode([self._get_lease.encode(i) for i in ids]))
        answer = self.w3.eth.call({"to": self.lease.address, "data": data}, "latest" if block is None else block)
        out = {}
        for lease_id, raw in zip(ids, self._multicall_fn.decode_output(bytes(answer))[0], strict=True):
            record = self._get_lease.decode_output(raw)[0]
            out[lease_id] = ChainLease(
                anchored=bool(record[5]),
                last_counter=int(record[7]),
                last_timestamp=int(record[9]),
                last_runtime=int(record[8]),
            )
        return out

    def _finish(self, batch: Batch, receipt: Receipt) -> None:
        """Each reading's outcome. Settled only when the lease's counter on chain reached the reading's counter:
        the receipt's events say why one did not, never whether one counts as billed."""
        self._nonce_gone_since.pop(batch.id, None)
        readings = self.outbox.readings(batch.reading_ids)
        # Events come in the order of the reports; a (lease, counter) can occur twice in one batch (a lease's
        # anchor and a reading with no new units), so each event takes the first reading it fits not yet told.
        waiting: dict[tuple[int, int], deque[PendingReading]] = defaultdict(deque)
        for reading in readings:
            waiting[(reading.lease_id, reading.counter)].append(reading)
        told: dict[int, tuple[str, SkipReason | None]] = {}
        for event, args in self.events.decode(receipt):
            if event == "UsageSettled":
                key, what, skip = (args["leaseId"], args["counter"]), "settled", None
            elif event == "UsageReportSkipped":
                key, what, skip = (args["leaseId"], args["counter"]), "skipped", SkipReason(args["reason"])
            elif event == "UsageAnomalyDetected":
                (lease_id, _, counter, _, _), _, _ = args["report"]  # IEquipmentLease.SignedUsageReport
                key, what, skip = (lease_id, counter), "anomaly", None
            else:
                continue
            queue = waiting.get(key)
            if queue:
                told[queue.popleft().id] = (what, skip)
        chain = self.chain_leases((r.lease_id for r in readings), receipt.block_number)
        seen_at = time.monotonic()
        self._views.update((lease_id, (seen_at, view)) for lease_id, view in chain.items())
        tries = self.outbox.tries([r.id for r in readings])
        outcomes: dict[int, Outcome] = {}
        now = time.time()
        for reading in readings:
            view = chain[reading.lease_id]
            if view.anchored and view.last_counter >= reading.counter:
                outcomes[reading.id] = Outcome("settled")
                self.metrics.latency.observe(max(now - reading.received_at, 0))
                continue
            what, skip = told.get(reading.id, ("none", None))
            outcomes[reading.id] = self._not_settled(reading, view, what, skip, tries.get(reading.id, 0), now)
        self.outbox.finish_batch(batch, outcomes)
        for rid, outcome in outcomes.items():
            if outcome.state == "settled":
                self.metrics.confirmed.labels("settled").inc()
                continue
            label = (outcome.reason or "unknown").split(":")[0]
            quarantined = outcome.state == "quarantined"
            self.metrics.rejected.labels(f"chain_{label}" if quarantined else f"chain_retry_{label}").inc()
            log.log(
                logging.WARNING if quarantined else logging.INFO,
                "reading %d not settled on chain (%s): %s",
                rid,
                outcome.state,
                outcome.reason,
            )
        self.metrics.transactions.labels("confirmed").inc()

    def _not_settled(
        self, reading: PendingReading, view: ChainLease, what: str, skip: SkipReason | None, tries: int, now: float
    ) -> Outcome:
        """Pending again (with when and why) or quarantined (with why) for a reading the chain did not reach."""
        if what == "anomaly":
            return Outcome(
                "quarantined",
                "anomaly: above the lease's plausible rate since the last settled report; "
                "the lessee may accept it or a later reading bills the interval",
            )
        if skip is SkipReason.STALE_REPORT:
            behind = view.last_timestamp - reading.timestamp
            if behind <= CARRY_MAX_S and reading.machine in self.signers:
                # A newer counter within the second the chain already has: carried into the next second (the
                # gateway signs it again with that timestamp), never dropped. Held back until the chain's time
                # reaches that second (the hold-back in _ready), so it never runs ahead of the chain: by then the
                # machine's next reading, if any, has superseded it and carries the units itself.
                carried = view.last_timestamp + 1
                return Outcome(
                    "pending",
                    f"stale_report: carried to {carried} (chain at {view.last_timestamp})",
                    timestamp=carried,
                    not_before=now,
                    counted=False,
                )
            if behind <= CARRY_MAX_S:
                # Device-signed: it cannot be re-dated, and sending it again is refused again. It waits, pending
                # (never called settled, never quarantined), for the machine's next reading to supersede it.
                return Outcome(
                    "pending",
                    f"{AWAITING_NEWER}: stale_report within the second the chain holds ({view.last_timestamp}); "
                    "a device-signed reading cannot be re-dated, the machine's next reading carries its units",
                    not_before=now + HOLD_RECHECK_S,
                    counted=False,
                )
            return Outcome(
                "quarantined",
                f"stale_report: the chain has a report at {view.last_timestamp}, this "
                f"reading is {behind} s older (device clock behind the chain): a newer reading carries its units",
            )
        if skip in PASSING_SKIPS:
            # Too early, never delivered: the chain's block was behind the reading's time. Held back by _ready
            # until the chain's time reaches it, however many times that takes.
            return Outcome(
                "pending",
                f"{skip.name.lower()}: the block was behind the reading's time; sent again once the chain reaches it",
                not_before=now + RETRY_AFTER_S,
                counted=False,
            )
        if tries >= MAX_TRIES:
            last = skip.name.lower() if skip else what
            return Outcome("quarantined", f"not_settled: still refused after {tries} sends (last: {last})")
        if what == "none":
            return Outcome("pending", "no outcome in the receipt: sent again", not_before=now + RETRY_AFTER_S)
        reason = skip.name.lower() if skip else what
        meaning = SKIP_MEANING.get(skip, "the contract refused it") if skip else "the contract refused it"
        return Outcome("quarantined", f"{reason}: {meaning}")
