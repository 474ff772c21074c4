"""CI gate: every contract's gas figures against the committed snapshot (+5 % fails) and the use cases'
targets. Gas is deterministic for a given build and chain, so this is not a timed test."""

from __future__ import annotations

import pytest

from millchain.chain import connect
from millchain.project import Project
from millchain.session import Session
from scripts.gas import SCENARIOS, load_snapshot, over_target, regressions, scenario


@pytest.mark.parametrize("group", SCENARIOS)
def test_gas_has_not_regressed_and_meets_targets(group: str, compiled: Project) -> None:
    session = Session(connect("local"), project=compiled)
    figures = {group: scenario(group)[0](session)}
    assert regressions(figures, load_snapshot()) == []
    assert over_target(figures) == []
