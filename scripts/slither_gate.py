"""Slither over the compile step's build: zero high or medium findings in contracts/ (OpenZeppelin and the
test-only contracts excluded); low findings are listed for triage in docs/security.md.

    python -m scripts.slither_gate [--json OUT]

Slither reads the Standard JSON input of build/build-info through crytic-compile's solc-json platform; the
solc it calls is the project's wrapper around the pinned npm compiler (this machine cannot download solc).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from millchain.compiler import compile_project, write_solc_wrapper
from millchain.project import Project, find_project

EXCLUDED_PATHS = "node_modules|@openzeppelin|contracts/test"
BLOCKING = {"High", "Medium"}


def run_slither(project: Project) -> list[dict[str, Any]]:
    result = compile_project(project)
    build_info = json.loads(result.build_info.read_text())
    wrapper = write_solc_wrapper(project)
    with tempfile.TemporaryDirectory() as tmp:
        standard_input = Path(tmp) / "input.json"
        standard_input.write_text(json.dumps(build_info["input"]))
        report = Path(tmp) / "slither.json"
        env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        slither = Path(sys.executable).with_name("slither")
        proc = subprocess.run(
            [str(slither), str(standard_input), "--compile-force-framework", "solc-json",
             "--filter-paths", EXCLUDED_PATHS, "--exclude-informational", "--exclude-optimization",
             "--json", str(report)],
            cwd=project.root, env=env, capture_output=True, text=True)
        if not report.is_file():
            raise SystemExit(f"slither did not run:\n{proc.stderr[-3000:]}")
        data = json.loads(report.read_text())
    if not data.get("success"):
        raise SystemExit(f"slither failed: {data.get('error')}")
    findings: list[dict[str, Any]] = data.get("results", {}).get("detectors", [])
    return findings


def location(finding: dict[str, Any]) -> str:
    first = finding["description"].strip().splitlines()[0]
    return first[:200]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.slither_gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None, help="also write the findings here")
    args = parser.parse_args()
    findings = run_slither(find_project())
    counts = Counter((f["impact"], f["check"]) for f in findings)
    for (impact, check), n in sorted(counts.items()):
        print(f"{impact:<8} {check:<28} {n}")
    if args.json:
        args.json.write_text(json.dumps(findings, indent=1))
    blocking = [f for f in findings if f["impact"] in BLOCKING]
    for finding in blocking:
        print(f"BLOCKING {finding['impact']} {finding['check']}: {location(finding)}", file=sys.stderr)
    sys.exit(1 if blocking else 0)


if __name__ == "__main__":
    main()
