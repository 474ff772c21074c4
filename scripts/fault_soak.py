"""The fault-injection soak: the kill scenario of tests/fault/test_kill.py with many more SIGKILLs.

    python -m scripts.fault_soak [--kills 25] [--seed 20261205] [--machines 3] [--output scripts/fault_soak.json]

A real anvil (--block-time 1, so batches can be caught in flight) and a real Mosquitto on free ports; machines
leased through the SDK; the oracle run as `python -m oracle --config …`; SIGKILL at seeded moments (random,
with a batch broadcast and not mined, right after the broker acknowledged a machine's reading), one more just
before the machines publish their final readings, a restart; then the chain is audited: every lease billed
(final counter - anchor) x price, each unit once. The result (figures and every problem found) goes to the
output file; the exit code is 1 when the audit found a problem.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from millchain.chain import connect
from millchain.node import AnvilNode
from millchain.project import find_project
from millchain.session import Session

RESULT = Path(__file__).with_name("fault_soak.json")


def soak(kills: int, seed: int, machines: int) -> dict[str, Any]:
    # The scenario lives with the suite that runs it in CI; the soak only runs it longer.
    from tests.fault.conftest import make_rig
    from tests.fault.test_kill import run_kills
    from tests.oracle_fixtures import running_mosquitto

    project = find_project()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as tmp:
        workdir = Path(tmp)
        node = AnvilNode(project, state=workdir / "anvil-state.json", extra=["--block-time", "1"]).start()
        try:
            with running_mosquitto(workdir / "mosquitto") as broker:
                session = Session(
                    connect("anvil", rpc_url=node.url), project=project, deployments_dir=workdir / "deployments"
                )
                rig = make_rig(session, node, broker, workdir, machines)
                result: dict[str, Any] = {"kills_requested": kills, "seed": seed, "machines": machines}
                try:
                    result.update(run_kills(rig, kills, seed))
                    result["problems"] = []
                except AssertionError as exc:  # the audit's account of what is wrong, lease by lease
                    result["problems"] = str(exc).splitlines()[:20]
                finally:
                    if rig.oracle.alive():
                        rig.oracle.terminate(15)
                    rig.devices.close()
                    result["oracle_starts"] = rig.oracle.starts
        finally:
            node.stop()
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["passed"] = not result["problems"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.fault_soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "command": "python -m scripts.fault_soak " + " ".join(sys.argv[1:]),
        "commit": commit,
        "host": f"{platform.machine()}, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **soak(args.kills, args.seed, args.machines),
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    raise SystemExit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
