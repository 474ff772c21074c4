"""Index benchmark: backfill speed and query times at a million UsageSettled events, SQLite and PostgreSQL.

    python -m scripts.bench_index [--machines 1000] [--events 1000000] [--update] [--no-postgres]

1. A chain holding the events: anvil with the suite, N leased machines, then rounds of one signed report per
   machine, pre-signed submitUsageBatch transactions (400 reports each), one block per round a minute apart.
   The chain is cached under .millchain/bench-index/ (anvil --dump-state; reruns load it in seconds).
2. Backfill: the indexer (the code behind `millchain index backfill`) from the deployment block to the head
   into a fresh SQLite file, then into a fresh PostgreSQL database; events/s = rows written / wall time.
3. Queries at that size: one lease's statement (queries.statement_lines: every report of the lease, ~1,000 rows)
   and the fleet (queries.fleet: every lease with its last report and today's units); the median of 20 runs.

Targets (issue 15): >= 20,000 events/s into SQLite; statement and fleet <= 50 ms. The snapshot
(scripts/bench_index.json) records the last accepted run; a regression of more than 20 % fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from millchain.chain import connect
from millchain.fleet import lease_fleet
from millchain.index.indexer import open_indexer
from millchain.index.queries import fleet, statement_lines
from millchain.index.store import open_store
from millchain.leasing import UsageBatchEncoder
from millchain.node import anvil_binary, free_port
from millchain.project import Project, find_project
from millchain.session import Session
from millchain.typed_data import DeviceSigner, UsageReport, UsageReportHasher, lease_domain
from scripts.snapshots import conclude, judge, load

SNAPSHOT = Path(__file__).with_name("bench_index.json")
TARGETS = {"sqlite_events_per_s": 20_000, "sqlite_statement_ms": 50.0, "sqlite_fleet_ms": 50.0}
LOWER_IS_BETTER = {"sqlite_statement_ms", "sqlite_fleet_ms", "postgres_statement_ms", "postgres_fleet_ms"}
BATCH = 400
"""Reports per submitUsageBatch: well under the 2**24 gas a transaction may use since Osaka (EIP-7825)."""
BATCH_GAS = 12_000_000
ROUND_SECONDS = 60
RELAYER = 3


@contextmanager
def anvil(project: Project, state: Path, *, load: bool) -> Iterator[str]:
    port = free_port()
    cmd = [
        str(anvil_binary(project)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--silent",
        "--gas-limit",
        "100000000",
    ]
    # Dumped once, after generating; a run that loads the cache leaves the file as it is.
    cmd += ["--load-state", str(state)] if load else ["--dump-state", str(state)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                connect("anvil", rpc_url=url)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"anvil did not start ({' '.join(cmd)})") from None
                time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # anvil writes --dump-state (when generating) on the way out
        process.wait(600)


def rpc(session: Session, method: str, *params: Any) -> Any:
    answer = session.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer["result"]


def generate(session: Session, machines: int, events: int) -> None:
    """Lease ``machines`` and settle ``events`` reports, one block per round of one report per machine."""
    started = time.perf_counter()
    names = [f"bench-{i:05d}" for i in range(machines)]
    fleet_ = lease_fleet(session, names, escrow=10**24, price_per_unit=1, max_rate_per_hour=3_600_000)
    print(f"  leased {machines} machines in {time.perf_counter() - started:.0f} s", flush=True)
    lease = session.contract("EquipmentLease")
    hasher = UsageReportHasher(lease_domain(session.chain.chain_id, lease.address))
    signers = [DeviceSigner(m.device_key, hasher) for m in fleet_]
    encoder = UsageBatchEncoder(lease.abi)
    relayer = session.chain.account(RELAYER)
    nonce = session.chain.w3.eth.get_transaction_count(relayer.address)
    base_time = session.chain.now() + ROUND_SECONDS
    rounds = -(-events // machines)
    rpc(session, "evm_setAutomine", False)
    started = time.perf_counter()
    for k in range(1, rounds + 1):
        when = base_time + k * ROUND_SECONDS
        reports = [
            signer.sign(
                UsageReport(
                    lease_id=m.lease_id, machine_id=m.machine_id, counter=10 * k, runtime_seconds=30 * k, timestamp=when
                )
            ).as_tuple()
            for m, signer in zip(fleet_, signers, strict=True)
        ]
        raw = []
        for first in range(0, len(reports), BATCH):
            tx = {
                "to": lease.address,
                "data": encoder.calldata(reports[first : first + BATCH]),
                "value": 0,
                "gas": BATCH_GAS,
                "maxFeePerGas": 100 * 10**9,
                "maxPriorityFeePerGas": 0,
                "nonce": nonce,
                "chainId": session.chain.chain_id,
                "type": 2,
            }
            raw.append("0x" + bytes(relayer.sign_transaction(tx).raw_transaction).hex())
            nonce += 1
        for payload in raw:
            rpc(session, "eth_sendRawTransaction", payload)
        rpc(session, "evm_mine", {"timestamp": when, "blocks": 1})
        if k % 100 == 0:
            print(
                f"  round {k}/{rounds}: {k * machines:,} reports in {time.perf_counter() - started:.0f} s", flush=True
            )
    rpc(session, "evm_setAutomine", True)


def timed_ms(fn: Callable[[], Any], runs: int = 20) -> float:
    fn()  # warm the caches a long-running console would have warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_backend(session: Session, target: str, prefix: str) -> dict[str, float]:
    with open_store(target) as store:
        indexer = open_indexer(session, store, rebuild=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        rows = indexer.backfill()
        seconds = time.perf_counter() - started
        # CPU seconds of this process (all its threads): what the rate would be with a core to itself.
        cpu = time.process_time() - cpu_started
        usage = store.one("SELECT COUNT(*) FROM usage")
        lease_row = store.one(
            "SELECT l.lease_id FROM usage u JOIN leases l ON l.key = u.lease ORDER BY u.id DESC LIMIT 1"
        )
        assert usage is not None and lease_row is not None
        lease_id = int.from_bytes(bytes(lease_row[0]), "big")
        head_time = session.chain.now()
        day_start = head_time - head_time % 86400
        lines = statement_lines(store, lease_id)
        leases = fleet(store, day_start=day_start)
        results = {
            f"{prefix}_events_per_s": rows / seconds,
            f"{prefix}_backfill_s": seconds,
            f"{prefix}_backfill_cpu_s": cpu,
            f"{prefix}_events_per_cpu_s": rows / cpu,
            f"{prefix}_rows": rows,
            f"{prefix}_usage_rows": int(usage[0]),
            f"{prefix}_statement_ms": timed_ms(lambda: statement_lines(store, lease_id)),
            f"{prefix}_statement_lines": len(lines),
            f"{prefix}_fleet_ms": timed_ms(lambda: fleet(store, day_start=day_start)),
            f"{prefix}_fleet_leases": len(leases),
        }
    print(
        f"{prefix}: {rows:,} rows in {seconds:.1f} s = {results[f'{prefix}_events_per_s']:,.0f} events/s "
        f"({rows / cpu:,.0f} per CPU second of the indexer); "
        f"statement ({len(lines)} lines) {results[f'{prefix}_statement_ms']:.1f} ms; "
        f"fleet ({len(leases)} leases) {results[f'{prefix}_fleet_ms']:.1f} ms",
        flush=True,
    )
    return results


def compare(results: dict[str, float], snapshot: dict[str, float]) -> list[str]:
    return [
        problem
        for key, value in results.items()
        if key.endswith(("_per_s", "_per_cpu_s", "_ms"))
        for problem in judge(
            key, value, target=TARGETS.get(key), before=snapshot.get(key), lower_is_better=key in LOWER_IS_BETTER
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench_index", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--update", action="store_true", help="record these figures as the new snapshot")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres", metavar="DSN", help="use this server instead of starting one")
    args = parser.parse_args()

    project = find_project()
    cache = project.root / ".millchain" / "bench-index" / f"{args.machines}x{args.events}"
    cache.mkdir(parents=True, exist_ok=True)
    state, deployments = cache / "anvil-state.json", cache / "deployments"
    cached = state.is_file() and (deployments / "anvil").is_dir()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with anvil(project, state, load=cached) as url:
        session = Session(connect("anvil", rpc_url=url), project=project, deployments_dir=deployments)
        if not cached:
            shutil.rmtree(deployments, ignore_errors=True)
            session.compile()
            session.deploy()
            started = time.perf_counter()
            generate(session, args.machines, args.events)
            results["generate_s"] = round(time.perf_counter() - started, 1)
        print(
            f"chain: head {session.chain.w3.eth.block_number} ({'loaded from' if cached else 'saved to'} {state})",
            flush=True,
        )
        with tempfile.TemporaryDirectory() as tmp:
            results.update(bench_backend(session, str(Path(tmp) / "index.sqlite"), "sqlite"))
        if not args.no_postgres:
            if args.postgres:
                results.update(bench_backend(session, args.postgres, "postgres"))
            else:
                sys.path.insert(0, str(project.root))
                from tests.integration.index_support import postgres_server

                server_ = postgres_server()
                server = next(server_)
                try:
                    results.update(bench_backend(session, server.create_database("bench"), "postgres"))
                finally:
                    server_.close()
    results.update(
        {
            "machines": args.machines,
            "events_asked": args.events,
            "load_average_1m_start": round(load_before, 2),
            "load_average_1m_end": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count() or 0,
        }
    )
    print(json.dumps(results, indent=2))
    conclude(SNAPSHOT, results, compare(results, load(SNAPSHOT)), update=args.update)


if __name__ == "__main__":
    main()
