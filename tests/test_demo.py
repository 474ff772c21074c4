"""The README's first command, as a user runs it: the factory day on the embedded chain, checked by its
numbers rather than its prose."""

from __future__ import annotations

import json

import pytest

from millchain.project import Project
from tests.cli_runner import run_cli


def test_the_factory_day_bills_exactly_and_locks_and_unlocks_the_dry_machine(
    compiled: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "demo", "--json")
    assert code == 0, err
    report = json.loads(out)
    leasing = report["parts"]["leasing"]
    for name, machine in leasing["summary"].items():
        assert machine["units"] == machine["counter"] - machine["anchor"], name  # nothing lost, nothing twice
        assert machine["anchor"] == 0, name  # billing started with the lease
    press = [command for machine, command, _lease, _reason in leasing["commands"] if machine == "press-01"]
    assert press[:3] == ["unlock", "lock", "unlock"]  # active, escrow dry, topped up
    assert leasing["refund"] > 0
    quality = report["parts"]["quality"]
    assert quality["downstream_lots"] and "regulator" in quality["affected"]
    assert sorted(quality["acknowledged_by"]) == sorted(quality["affected"])
    assert quality["disclosed_field"]["verified_on_chain"] is True
    assert quality["claim"]["paid"] == quality["claim"]["amount"] == quality["claim"]["received_by_plant"] > 0
    assert report["report"].endswith("demo-report.html")
    settlement = report["parts"]["settlement"]
    assert settlement["mismatches"]  # the wrong invoice moved nothing …
    assert settlement["paid"] + settlement["retained"] == settlement["settled_quantity"] * settlement["unit_price"]
    assert settlement["paid"] + settlement["retained"] + settlement["escrow_left"] == (
        settlement["quantity"] * settlement["unit_price"])  # … and every unit of money is accounted for
