"""Shared by the index and console tests: a leased fleet that reports on a real anvil, a PostgreSQL server
started for the test run (Debian's postgresql refuses to run as root: it runs as an unprivileged user), and a
dump of an index for comparing it with a rebuild."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from millchain.fleet import LeasedMachine, lease_fleet
from millchain.index.store import IndexStore
from millchain.leasing import LeaseClient
from millchain.node import free_port
from millchain.session import Session
from millchain.typed_data import DeviceSigner, UsageReport, UsageReportHasher, lease_domain

PG_USER = "millchain-pg"


@dataclass
class ReportingFleet:
    """Leased machines whose device keys sign cumulative counters; ``report`` settles one round."""

    session: Session
    machines: list[LeasedMachine]
    counters: dict[str, int] = field(default_factory=dict)
    last_time: int = 0
    rounds: int = 0

    @classmethod
    def lease(cls, session: Session, count: int, prefix: str = "idx") -> ReportingFleet:
        machines = lease_fleet(
            session,
            [f"{prefix}-{i:02d}" for i in range(count)],
            escrow=10**15,
            price_per_unit=3,
            max_rate_per_hour=3_600_000,
        )
        return cls(session, machines)

    def report(self, units: int = 7, relayer: int = 3) -> None:
        """One report per machine in one batch transaction, each counter ``units`` further."""
        client = LeaseClient(self.session, relayer)
        hasher = UsageReportHasher(lease_domain(self.session.chain.chain_id, client.contract.address))
        # After the lease opened (a report stamped at the opening block's time is stale), and never twice the same.
        # anvil mines several blocks in one wall-clock second, and the lease refuses a report dated after its block
        # (it would be clamped to a time already settled): the batch's block is set to the report's second.
        now = max(self.session.chain.now() + 1, self.last_time + 1)
        self.last_time = now
        answer = self.session.chain.w3.provider.make_request("evm_setNextBlockTimestamp", [now])  # type: ignore[arg-type]
        assert "error" not in answer, answer
        self.rounds += 1  # runtime: one second per round, never more than the time elapsed
        signed = []
        for machine in self.machines:
            counter = self.counters.get(machine.name, 0) + units
            self.counters[machine.name] = counter
            signed.append(
                DeviceSigner(machine.device_key, hasher).sign(
                    UsageReport(
                        lease_id=machine.lease_id,
                        machine_id=machine.machine_id,
                        counter=counter,
                        runtime_seconds=self.rounds,
                        timestamp=now,
                    )
                )
            )
        client.submit_batch(signed)


def dump(store: IndexStore) -> dict[str, Any]:
    """Everything the index derived from the chain (rows and cursor), comparable between two indexes."""
    return {
        "events": [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in store.query("SELECT * FROM events ORDER BY id")
        ],
        # Lease keys are the index's own numbering (first seen, first numbered): compared by the ids they stand for.
        "usage": [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in store.query(
                "SELECT u.id, l.lease_id, u.block_number, u.log_index, u.block_hash, u.tx_hash, u.counter, u.units, "
                "u.amount FROM usage u JOIN leases l ON l.key = u.lease ORDER BY u.id"
            )
        ],
        "cursor": (store.meta("cursor_number"), store.meta("cursor_hash")),
    }


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or (
        [shutil.which(name)] if shutil.which(name) else []
    )
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: scripts/dev installs Debian's postgresql")
    return str(found[-1])


@dataclass
class PostgresServer:
    port: int
    user: str

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')  # a name the tests make up, never user input
        return self.dsn(name)


def postgres_server() -> Iterator[PostgresServer]:
    """initdb in a temporary folder and pg_ctl start on a free port on 127.0.0.1; stopped and removed after.
    As root, both run as the unprivileged PG_USER (created if missing) through runuser."""
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True
            )
        user = PG_USER
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    folder = Path(tempfile.mkdtemp(prefix="millchain-pg-"))
    if as_root:
        shutil.chown(folder, user)
    data, port = folder / "data", free_port()

    def run(*cmd: str) -> None:
        full = ["runuser", "-u", user, "--", *cmd] if as_root else list(cmd)
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8")
    run(
        _bin("pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "log"),
        "-w",
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        "start",
    )
    try:
        yield PostgresServer(port, user)
    finally:
        run(_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
