"""How long the `millchain` console script takes to answer, as a user waits for it: wall time of a fresh process,
repeated (hyperfine-style: warm-up runs, then N timed runs; min, median, mean, max).

    python -m scripts.bench_cli [--runs 15] [--update]

Commands timed: `millchain --version`, `millchain --help`, and four read-only commands against an anvil started
here with the suite deployed, one machine registered and one lease offered (`status`, `lease show`,
`lease statement`, `machine show`). Targets (issue 13): --help and
--version <= 0.3 s, a read-only command against anvil <= 0.8 s, judged on the median (a shared machine's load
shows in the mean and max). The snapshot (scripts/bench_cli.json) records the last accepted run; a median more
than 25 % slower than it, or over its target, fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.snapshots import conclude, load

SNAPSHOT = Path(__file__).with_name("bench_cli.json")
TARGETS = {"version": 0.3, "help": 0.3, "status": 0.8, "lease_show": 0.8, "lease_statement": 0.8, "machine_show": 0.8}
REGRESSION = 0.25


def time_command(argv: list[str], *, runs: int, warmup: int, env: dict[str, str]) -> dict[str, float]:
    """Wall seconds of ``argv`` as a new process; a non-zero exit aborts (a failing command is not fast)."""
    samples = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
        if i >= warmup:
            samples.append(elapsed)
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "max": max(samples),
        "runs": runs,
    }


def prepare(work: Path, url: str) -> str:
    """Deploy the suite on the node and offer one lease; returns its id (what `lease show` reads)."""
    from millchain.chain import connect
    from millchain.identity import MachineRegistryClient
    from millchain.leasing import LeaseClient, LeaseTerms
    from millchain.project import find_project
    from millchain.session import Session
    from millchain.types import machine_id

    session = Session(connect("anvil", rpc_url=url), project=find_project(), deployments_dir=work / "deployments")
    session.compile()
    session.deploy()
    MachineRegistryClient(session, 1).register(machine_id("bench-press"), session.chain.account(5).address)
    terms = LeaseTerms(
        token=session.address("SettlementToken"),
        price_per_unit=10**5,
        max_rate_per_hour=600,
        ends_at=session.chain.now() + 86400,
        heartbeat=3600,
        grace_period=600,
    )
    return hex(LeaseClient(session, 1).offer(machine_id("bench-press"), terms))


def compare(results: dict[str, dict[str, float]], snapshot: dict[str, dict[str, float]]) -> list[str]:
    problems = []
    for name, figures in results.items():
        if figures["median"] > TARGETS[name]:
            problems.append(f"{name}: median {figures['median']:.3f} s is over its {TARGETS[name]} s target")
        before = snapshot.get(name, {}).get("median")
        if before and figures["median"] > before * (1 + REGRESSION):
            problems.append(
                f"{name}: median {figures['median']:.3f} s regressed more than "
                f"{REGRESSION:.0%} from the snapshot's {before:.3f} s"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench_cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--update", action="store_true", help="record these figures as the new snapshot")
    parser.add_argument(
        "--script",
        type=Path,
        default=None,
        help="time another install's console script (e.g. another checkout's .venv/bin/millchain), "
        "for a side-by-side; nothing is compared or recorded then",
    )
    args = parser.parse_args()

    from millchain.node import AnvilNode
    from millchain.project import find_project

    script = str(args.script or Path(sys.executable).with_name("millchain"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, AnvilNode(find_project()) as node:
        work = Path(tmp)
        lease = prepare(work, node.url)
        # MILLCHAIN_DEPLOYMENTS_DIR too: releases before --deployments read only that (for --script)
        env = {
            **os.environ,
            "MILLCHAIN_NETWORK": "anvil",
            "MILLCHAIN_RPC": node.url,
            "MILLCHAIN_DEPLOYMENTS": str(work / "deployments"),
            "MILLCHAIN_DEPLOYMENTS_DIR": str(work / "deployments"),
        }
        commands = {
            "version": [script, "--version"],
            "help": [script, "--help"],
            "status": [script, "status"],
            "lease_show": [script, "lease", "show", lease],
            "lease_statement": [script, "lease", "statement", lease],
            "machine_show": [script, "machine", "show", "bench-press"],
        }
        results = {}
        for name, argv in commands.items():
            results[name] = time_command(argv, runs=args.runs, warmup=args.warmup, env=env)
            figures = results[name]
            print(
                f"{' '.join(argv[1:3]) if name.startswith('lease') else ' '.join(argv[1:]):<18} median "
                f"{figures['median']:.3f} s  min {figures['min']:.3f}  mean {figures['mean']:.3f}  max "
                f"{figures['max']:.3f}  (target {TARGETS[name]} s)",
                flush=True,
            )
    record = {
        **results,
        "_context": {
            "runs": args.runs,
            "cpus": os.cpu_count() or 0,
            "load_average_1m_start": round(load_before, 2),
            "load_average_1m_end": round(os.getloadavg()[0], 2),
        },
    }
    if args.script is not None:
        return
    conclude(SNAPSHOT, record, compare(results, load(SNAPSHOT)), update=args.update)


if __name__ == "__main__":
    main()
