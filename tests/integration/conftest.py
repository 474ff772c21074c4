"""Fixtures for the integration tests that drive the console script against a real anvil."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from millchain.node import AnvilNode
from tests.cli_runner import run_cli


@pytest.fixture
def anvil_cli(
    anvil: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., str]:
    """``cli(*args, account=N)``: the console script on this test's anvil as account N, its deployment records
    under the test's tmp dir; a non-zero exit fails the test with what the command printed on stderr."""
    monkeypatch.setenv("MILLCHAIN_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    net = ["--network", "anvil", "--rpc", anvil.url]

    def cli(*args: str, account: int = 0) -> str:
        code, out, err = run_cli(capsys, monkeypatch, *args, *net, "--account", str(account))
        assert code == 0, err
        return out

    return cli
