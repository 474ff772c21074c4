"""Run the `millchain` console script in-process, as a user would from a shell, and capture what it prints."""

from __future__ import annotations

import sys

import pytest

from millchain.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["millchain", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
