"""Run the `millchain` console script in-process, as a user would from a shell, and capture what it prints."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from millchain.cli.main import main
from millchain.project import Project
from millchain.session import Session


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["millchain", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_cli_on(
    shared: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``run(*args)``: the console script on `shared`'s chain and deployments instead of the fresh chain a real
    ``--network local`` invocation starts, so a test can mix SDK set-up and CLI steps; ``--account`` still
    chooses who signs."""

    def open_on_shared(
        network: str = "local",
        *,
        rpc_url: str | None = None,
        keystore: Path | None = None,
        account_index: int = 0,
        project: Project | None = None,
        deployments: str | None = None,
    ) -> Session:
        session = Session(shared.chain, project=shared.project, account_index=account_index)
        session.compiled = shared.compiled
        session.__dict__["store"] = shared.store
        session.__dict__["decoder"] = shared.decoder
        return session

    monkeypatch.setattr(Session, "open", staticmethod(open_on_shared))
    return lambda *args: run_cli(capsys, monkeypatch, *args)
