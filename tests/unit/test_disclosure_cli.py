"""`millchain commit | disclose | verify-disclosure` as a regulator would use them: the true field verifies; a
wrong value, a wrong salt and a proof for another field are all rejected (exit 1, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import run_cli


def test_disclose_and_verify_one_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fields = tmp_path / "report.json"
    fields.write_text(json.dumps({"lot": "L-42", "sample": 200, "defect-rate": "3 %", "customer": "secret"}))
    code, out, err = run_cli(capsys, monkeypatch, "commit", str(fields), "--out", str(tmp_path / "opened.json"),
                             "--json")
    assert code == 0, err
    root = json.loads(out)["root"]
    code, _, err = run_cli(capsys, monkeypatch, "disclose", str(tmp_path / "opened.json"), "defect-rate",
                           "--out", str(tmp_path / "rate.json"))
    assert code == 0, err
    disclosed = json.loads((tmp_path / "rate.json").read_text())
    assert "secret" not in (tmp_path / "rate.json").read_text()
    code, out, err = run_cli(capsys, monkeypatch, "verify-disclosure", str(tmp_path / "rate.json"), "--root", root)
    assert code == 0, err
    assert "defect-rate = '3 %'" in out

    other = json.loads(run_cli(capsys, monkeypatch, "disclose", str(tmp_path / "opened.json"), "lot")[1])
    tampered = {
        "wrong value": {**disclosed, "value": "0x" + b"1 %".hex()},
        "wrong salt": {**disclosed, "salt": "0x" + "00" * 32},
        "another field's proof": {**disclosed, "proof": other["proof"]},
    }
    for what, body in tampered.items():
        path = tmp_path / "tampered.json"
        path.write_text(json.dumps(body))
        code, _, err = run_cli(capsys, monkeypatch, "verify-disclosure", str(path), "--root", root)
        assert code == 1, what
        assert err.startswith("error: defect-rate = ") and "does not match" in err, what


def test_bad_files_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    code, _, err = run_cli(capsys, monkeypatch, "verify-disclosure", str(junk))
    assert code == 1 and "is not a disclosure file" in err
    code, _, err = run_cli(capsys, monkeypatch, "commit", str(junk), "--out", str(tmp_path / "x.json"))
    assert code == 1 and "must hold a JSON object" in err
