"""Compiler: sources and imports, cache, errors with file:line:column, missing compiler, build-info shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from millchain import compiler
from millchain.compiler import collect_sources, compile_project, find_native, select_backend
from millchain.errors import CompilationError, CompilerNotFound
from millchain.project import SOLC_VERSION, Project

GOOD = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "./lib/Math2.sol";
contract Widget { function twice(uint256 x) external pure returns (uint256) { return Math2.twice(x); } }
"""
LIB = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
library Math2 { function twice(uint256 x) internal pure returns (uint256) { return 2 * x; } }
"""
BROKEN = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Broken {
    function f() external pure returns (uint256) {
        return undefinedThing;
    }
}
"""


def make_project(tmp_path: Path, real: Project, files: dict[str, str]) -> Project:
    for name, text in files.items():
        path = tmp_path / "contracts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "node_modules").symlink_to(real.node_modules)
    return Project(tmp_path)


def test_sources_include_relative_and_package_imports(tmp_path: Path, project: Project) -> None:
    tiny = make_project(tmp_path, project, {"Widget.sol": GOOD, "lib/Math2.sol": LIB})
    sources = collect_sources(tiny)
    assert set(sources) == {
        "contracts/Widget.sol",
        "contracts/lib/Math2.sol",
        "@openzeppelin/contracts/token/ERC20/IERC20.sol",
    }


def test_second_compile_with_nothing_changed_calls_no_compiler(
    tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = make_project(tmp_path, project, {"Widget.sol": GOOD, "lib/Math2.sol": LIB})
    first = compile_project(tiny)
    assert not first.cached
    assert "Widget" in first.artifacts

    def no_compiler(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the compiler was called although nothing changed")

    monkeypatch.setattr(compiler, "select_backend", no_compiler)
    second = compile_project(tiny)
    assert second.cached
    assert second.seconds < 1.0
    assert second.artifacts == first.artifacts


def test_a_changed_source_misses_the_cache(tmp_path: Path, project: Project) -> None:
    tiny = make_project(tmp_path, project, {"Widget.sol": GOOD, "lib/Math2.sol": LIB})
    compile_project(tiny)
    (tmp_path / "contracts" / "lib" / "Math2.sol").write_text(LIB.replace("2 * x", "x + x"))
    assert not compile_project(tiny).cached


def test_artifact_and_build_info_have_the_shapes_tools_expect(tmp_path: Path, project: Project) -> None:
    tiny = make_project(tmp_path, project, {"Widget.sol": GOOD, "lib/Math2.sol": LIB})
    result = compile_project(tiny)
    artifact = json.loads((tmp_path / "build" / "contracts" / "Widget.json").read_text())
    for key in ("abi", "bytecode", "deployedBytecode", "storageLayout", "userdoc", "devdoc"):
        assert key in artifact
    assert artifact["bytecode"].startswith("0x60")
    info = json.loads(result.build_info.read_text())
    assert info["_format"] == "hh-sol-build-info-1"
    assert info["solcVersion"] == SOLC_VERSION
    assert info["solcLongVersion"].startswith(SOLC_VERSION + "+commit.")
    assert set(info["input"]["sources"]) == set(collect_sources(tiny))
    assert all("content" in s for s in info["input"]["sources"].values())
    assert "contracts/Widget.sol" in info["output"]["sources"]
    assert "ast" in info["output"]["sources"]["contracts/Widget.sol"]


def test_compile_error_names_file_line_and_column(tmp_path: Path, project: Project) -> None:
    tiny = make_project(tmp_path, project, {"Broken.sol": BROKEN})
    with pytest.raises(CompilationError) as caught:
        compile_project(tiny)
    [line] = caught.value.diagnostics
    assert line.startswith("contracts/Broken.sol:5:16: DeclarationError: Undeclared identifier")


def test_cli_compile_error_prints_location_and_exits_nonzero(tmp_path: Path, project: Project) -> None:
    make_project(tmp_path, project, {"Broken.sol": BROKEN})
    proc = subprocess.run([sys.executable, "-m", "millchain", "compile"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "contracts/Broken.sol:5:16: DeclarationError" in proc.stderr


def test_no_compiler_anywhere_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "package.json").write_text("{}")
    monkeypatch.setenv("SOLC_BINARY", str(tmp_path / "nope"))
    monkeypatch.setattr(compiler, "_native_candidates", lambda: [tmp_path / "nope"])
    with pytest.raises(CompilerNotFound) as caught:
        select_backend(Project(tmp_path))
    message = str(caught.value)
    assert f"solc {SOLC_VERSION}" in message
    assert "npm ci" in message
    assert "install_solc" in message
    assert "SOLC_BINARY" in message


def test_a_native_solc_of_another_version_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "solc"
    fake.write_text("#!/bin/sh\necho 'solc, the solidity compiler\nVersion: 0.8.19+commit.7dd6d404.Linux.g++'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(compiler, "_native_candidates", lambda: [fake])
    assert find_native() is None


@pytest.mark.skipif(find_native() is None, reason=f"no native solc {SOLC_VERSION} on this machine")
def test_native_and_npm_compilers_produce_the_same_bytecode(tmp_path: Path, project: Project) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project.contracts_dir, copy / "contracts")
    (copy / "package.json").write_text("{}")
    (copy / "node_modules").symlink_to(project.node_modules)
    tiny = Project(copy)
    native = compile_project(tiny, force=True, prefer="native")
    native_code = {n: json.loads((copy / "build/contracts" / f"{n}.json").read_text())["deployedBytecode"]
                   for n in native.artifacts}
    compile_project(tiny, force=True, prefer="solcjs")
    npm_code = {n: json.loads((copy / "build/contracts" / f"{n}.json").read_text())["deployedBytecode"]
                for n in native.artifacts}
    assert native_code == npm_code


def test_py_solcx_path_through_a_solc_wrapper_gives_the_same_bytecode(
    tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native backend (py-solc-x) driven through a solc-compatible wrapper of the npm compiler: proves
    the py-solc-x code path end to end on a machine that cannot download solc."""
    tiny = make_project(tmp_path, project, {"Widget.sol": GOOD, "lib/Math2.sol": LIB})
    wrapper = compiler.write_solc_wrapper(tiny)
    monkeypatch.setenv("SOLC_BINARY", str(wrapper))
    assert find_native() is not None
    via_solcx = compile_project(tiny, force=True, prefer="native")
    assert via_solcx.backend == "native"
    solcx_code = json.loads((tmp_path / "build/contracts/Widget.json").read_text())["deployedBytecode"]
    via_node = compile_project(tiny, force=True, prefer="solcjs")
    assert via_node.backend == "solcjs"
    node_code = json.loads((tmp_path / "build/contracts/Widget.json").read_text())["deployedBytecode"]
    assert solcx_code == node_code


def test_py_solcx_path_reports_compile_errors_with_location(
    tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = make_project(tmp_path, project, {"Broken.sol": BROKEN})
    monkeypatch.setenv("SOLC_BINARY", str(compiler.write_solc_wrapper(tiny)))
    with pytest.raises(CompilationError) as caught:
        compile_project(tiny, prefer="native")
    assert caught.value.diagnostics[0].startswith("contracts/Broken.sol:5:16: DeclarationError")
