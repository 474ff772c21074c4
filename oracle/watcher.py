"""Which lease each machine is under, and the lock / unlock commands that follow the leases' state.

A machine is unlocked while its lease is Active and locked otherwise (Suspended: escrow exhausted; Closed or
none: nothing pays for its use). The watcher follows LeaseOpened / LeaseSuspended / LeaseResumed /
LeaseClosed events, recomputes the wanted state from the chain (not from the event alone, so a missed or
replayed event cannot leave a machine in the wrong state), and sends a command only when the wanted state
differs from what was last delivered. After a restart it sends every machine's state once more: commands
are idempotent (MQTT retained, an OPC UA boolean write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from hexbytes import HexBytes
from web3.contract import Contract

from millchain.calls import FunctionCall
from millchain.leasing import LeaseStatus, decode_lease_id
from oracle.config import MachineSettings
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.sources import Command, Commander

log = logging.getLogger("oracle.watcher")

WATCHED_EVENTS = ("LeaseOpened", "LeaseSuspended", "LeaseResumed", "LeaseClosed")


@dataclass(frozen=True)
class LeaseInfo:
    lease_id: int
    status: LeaseStatus
    max_rate_per_hour: int
    anchored: bool


class LeaseDirectory:
    """Each configured machine's current lease (pinned in config, or its active lease on chain)."""

    def __init__(self, lease: Contract, machines: list[MachineSettings]) -> None:
        self.lease = lease
        self.machines = {m.name: m for m in machines}
        self.by_machine_id = {m.machine_bytes: m.name for m in machines}
        self._current: dict[str, LeaseInfo | None] = {}
        # Encoded directly: through web3 a thousand calls cost seconds of a core at start (measured).
        self._active_lease_of = FunctionCall(lease.abi, "activeLeaseOf")
        self._get_lease = FunctionCall(lease.abi, "getLease")
        self._multicall_fn = FunctionCall(lease.abi, "multicall")

    def refresh(self, name: str) -> LeaseInfo | None:
        self._refresh([name])
        return self._current[name]

    def refresh_all(self, chunk: int = 200) -> None:
        """Every machine's lease in a few calls: EquipmentLease is an OpenZeppelin Multicall, so a thousand
        machines cost ten eth_calls instead of two thousand."""
        names = list(self.machines)
        for start in range(0, len(names), chunk):
            self._refresh(names[start : start + chunk])

    def _refresh(self, names: list[str]) -> None:
        """The leases of `names` in two multicalls: active lease ids (where the config pins none), then records."""
        ids = []
        for name in names:
            pinned = self.machines[name].lease_id
            ids.append(int(pinned, 16) if pinned is not None else None)
        lookups = [
            self._active_lease_of.encode(self.machines[n].machine_bytes)
            for n, pinned in zip(names, ids, strict=True)
            if pinned is None
        ]
        answers = iter(self._multicall(lookups))
        ids = [pinned if pinned is not None else int.from_bytes(next(answers), "big") for pinned in ids]
        leased = [lease_id for lease_id in ids if lease_id]
        records = iter(self._multicall([self._get_lease.encode(i) for i in leased]))
        for name, lease_id in zip(names, ids, strict=True):
            if not lease_id:
                self._current[name] = None
                continue
            raw = self._get_lease.decode_output(next(records))[0]
            self._current[name] = LeaseInfo(
                lease_id, LeaseStatus(raw[4]), decode_lease_id(lease_id)["max_rate_per_hour"], anchored=bool(raw[5])
            )

    def _multicall(self, calls: list[bytes]) -> list[bytes]:
        if not calls:
            return []
        answer = self.lease.w3.eth.call({"to": self.lease.address, "data": HexBytes(self._multicall_fn.encode(calls))})
        return list(self._multicall_fn.decode_output(bytes(answer))[0])

    def current(self, name: str) -> LeaseInfo | None:
        if name not in self._current:
            return self.refresh(name)
        return self._current[name]

    def known(self, name: str) -> LeaseInfo | None:
        """The lease last read from the chain (or restored from the outbox), without asking the chain: the
        intake's view, so a slow node never holds a reading up."""
        return self._current.get(name)

    def snapshot(self) -> dict[str, LeaseInfo | None]:
        return dict(self._current)

    def restore(self, leases: Mapping[str, LeaseInfo | None]) -> None:
        """Leases known from an earlier run (the node is not reachable yet); the chain's view replaces them."""
        for name, info in leases.items():
            if name in self.machines and name not in self._current:
                self._current[name] = info

    def machine_for_lease(self, lease_id: int) -> str | None:
        for name, info in self._current.items():
            if info is not None and info.lease_id == lease_id:
                return name
        return None


def wanted_command(info: LeaseInfo | None) -> tuple[str, str]:
    if info is None:
        return "lock", "no active lease"
    if info.status is LeaseStatus.ACTIVE:
        return "unlock", "lease active"
    if info.status is LeaseStatus.SUSPENDED:
        return "lock", "lease suspended: escrow exhausted"
    return "lock", f"lease {info.status.name.lower()}"


class LeaseWatcher:
    def __init__(
        self,
        lease: Contract,
        directory: LeaseDirectory,
        commanders: Mapping[str, Commander],
        outbox: Outbox,
        metrics: Metrics,
    ) -> None:
        self.lease = lease
        self.directory = directory
        self.commanders = commanders
        self.outbox = outbox
        self.metrics = metrics
        self._force = True  # after a (re)start, every machine's state is sent once again

    def _changed_machines(self, from_block: int, to_block: int) -> set[str]:
        touched: set[str] = set()
        for name in WATCHED_EVENTS:
            for log_entry in getattr(self.lease.events, name)().get_logs(from_block=from_block, to_block=to_block):
                args = log_entry["args"]
                machine = None
                if "machineId" in args:
                    machine = self.directory.by_machine_id.get(bytes(args["machineId"]))
                if machine is None:
                    machine = self.directory.machine_for_lease(int(args["leaseId"]))
                if machine is not None:
                    touched.add(machine)
        return touched

    def poll_chain(self) -> set[str]:
        """Blocking part (run in a thread): machines whose lease changed since the cursor."""
        head = int(self.lease.w3.eth.block_number)
        cursor = self.outbox.cursor("watcher")
        if cursor is None or self._force:
            self.directory.refresh_all()
            self._save(set(self.directory.machines))
            self.outbox.set_cursor("watcher", head)
            return set(self.directory.machines)
        if head <= cursor:
            return set()
        touched = self._changed_machines(cursor + 1, head)
        for name in touched:
            self.directory.refresh(name)
        self._save(touched)
        self.outbox.set_cursor("watcher", head)
        return touched

    def _save(self, names: set[str]) -> None:
        known = self.directory.snapshot()
        rows = [
            (name, None, 0, 0, False)
            if info is None
            else (name, info.lease_id, int(info.status), info.max_rate_per_hour, info.anchored)
            for name, info in known.items()
            if name in names
        ]
        self.outbox.save_leases(rows)

    def restore(self) -> int:
        """The leases saved at the last run, for a start while the node is down; returns how many machines."""
        leases = {
            name: None if lease_id is None else LeaseInfo(lease_id, LeaseStatus(status), rate, anchored)
            for name, lease_id, status, rate, anchored in self.outbox.load_leases()
        }
        self.directory.restore(leases)
        return len(leases)

    async def resend_known(self) -> None:
        """Send every machine the command last delivered to it (the node is down: the chain cannot say what it
        should be, and a machine that restarted with the oracle must not stay in a default state)."""
        names = sorted(self.directory.machines)
        delivered = await asyncio.to_thread(self.outbox.lock_states, names)
        for name in names:
            command, commander = delivered.get(name), self.commanders.get(name)
            if command not in ("lock", "unlock") or commander is None:
                continue
            info = self.directory.known(name)
            known: Command = "lock" if command == "lock" else "unlock"
            try:
                await commander.send(name, known, info.lease_id if info else 0, "last known state (node unreachable)")
            except Exception as exc:
                log.warning("could not resend %s to %s (%s)", command, name, exc)

    async def step(self, touched: set[str] | None = None) -> None:
        """Poll the chain (unless ``touched`` comes from a poll the caller just made) and bring every touched
        machine to its wanted state. The states delivered are recorded in one outbox transaction at the end:
        a crash before it only repeats idempotent commands, which a restart sends again anyway."""
        if touched is None:
            touched = await asyncio.to_thread(self.poll_chain)
        delivered = await asyncio.to_thread(self.outbox.lock_states, sorted(touched))
        force, self._force = self._force, False
        sent: list[tuple[str, str, int]] = []
        for name in sorted(touched):
            outcome = await self._apply(name, delivered.get(name), force=force)
            if outcome is not None:
                sent.append(outcome)
        if sent:
            await asyncio.to_thread(self.outbox.set_lock_states, sent)

    async def _apply(self, name: str, delivered: str | None, *, force: bool) -> tuple[str, str, int] | None:
        info = self.directory.current(name)
        command, reason = wanted_command(info)
        lease_id = info.lease_id if info else 0
        if delivered == command and not force:
            return None
        commander = self.commanders.get(name)
        if commander is None:
            return None
        try:
            await commander.send(name, command, lease_id, reason)  # type: ignore[arg-type]
        except Exception as exc:
            log.warning("could not send %s to %s (%s); will retry", command, name, exc)
            self._force = True  # retry everything on the next step
            return None
        self.metrics.commands.labels(command).inc()
        log.info("%s %s: %s", command, name, reason)
        return name, command, lease_id
