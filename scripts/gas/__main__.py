"""python -m scripts.gas [--update] [--network local|anvil] [--rpc URL]"""

from __future__ import annotations

import argparse
import json
import sys

from millchain.chain import connect
from millchain.session import Session
from scripts.gas import SNAPSHOT, load_snapshot, measure_all, over_target, regressions, scenario


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.gas", description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite the committed snapshot")
    parser.add_argument("--network", default="local")
    parser.add_argument("--rpc", default=None)
    args = parser.parse_args()

    def new_session() -> Session:
        session = Session(connect(args.network, rpc_url=args.rpc))
        session.compile()  # the compiler runs for the first scenario at most; the others hit its cache
        return session

    current = measure_all(new_session)
    snapshot = load_snapshot()
    print(f"{'operation':<44}{'gas':>10}{'snapshot':>10}{'target':>10}")
    for group, figures in current.items():
        targets = scenario(group)[1]
        for op, gas in figures.items():
            before = snapshot.get(group, {}).get(op, "-")
            print(f"{group + '.' + op:<44}{gas:>10}{before!s:>10}{targets.get(op, '-')!s:>10}")
    if args.update:
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        print(f"snapshot written: {SNAPSHOT}")
        return
    problems = regressions(current, snapshot) + over_target(current)
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
