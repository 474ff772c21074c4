"""What every benchmark script does with its figures: judge each against its target and the committed snapshot,
then print, record (``--update``) and exit with the verdict. One place, so every benchmark fails the same way."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

ALLOWANCE = 0.2
"""How much worse than the snapshot a figure may be before it counts as a regression."""


def load(path: Path) -> dict[str, Any]:
    """The committed snapshot, or nothing when there is none yet."""
    found: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return found


def judge(
    key: str, value: float, *, target: float | None = None, before: float | None = None, lower_is_better: bool = False
) -> list[str]:
    """What is wrong with ``value``: worse than its ``target``, or more than ALLOWANCE worse than ``before``."""
    problems = []
    if target is not None and (value > target if lower_is_better else value < target):
        problems.append(f"{key} = {value:.2f} misses the target {target}")
    if before and (value > before * (1 + ALLOWANCE) if lower_is_better else value < before / (1 + ALLOWANCE)):
        problems.append(f"{key} = {value:.2f} regressed more than {ALLOWANCE:.0%} from the snapshot {before:.2f}")
    return problems


def conclude(path: Path, record: dict[str, Any], problems: list[str], *, update: bool) -> NoReturn:
    """Record ``record`` as the new snapshot when asked, name each problem on stderr, and exit: 1 when something is
    wrong and the run was not an accepted update."""
    if update:
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"snapshot written: {path}")
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems and not update else 0)
