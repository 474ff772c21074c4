"""Compile everything under contracts/ with the pinned solc through the Standard JSON interface.

Two backends produce the same bytecode from the same input: a native solc driven by py-solc-x (installed by
``solcx.install_solc``, named by ``SOLC_BINARY`` or found on PATH) and, where no native binary of the pinned
version exists, the npm ``solc`` package (the same compiler built to WebAssembly) run by node. The input
carries every source's content, imports resolved here, so both backends see exactly the same thing and the
build-info file alone is enough to reproduce or verify the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from millchain.errors import ArtifactNotFound, CompilationError, CompilerNotFound
from millchain.project import PACKAGED_ARTIFACTS, SOLC_VERSION, Project, source_checkout

BUILD_INFO_FORMAT = "hh-sol-build-info-1"
ARTIFACT_FORMAT = "hh-sol-artifact-1"

SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.bytecode.linkReferences",
                "evm.bytecode.sourceMap",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.sourceMap",
                "evm.deployedBytecode.linkReferences",
                "evm.deployedBytecode.immutableReferences",
                "evm.methodIdentifiers",
                "storageLayout",
                "userdoc",
                "devdoc",
                "metadata",
            ],
            # Slither and explorers need the AST of every source unit.
            "": ["ast"],
        }
    },
}

_IMPORT = re.compile(r"""^\s*import\s+(?:[^;"']*?\s+from\s+)?["']([^"']+)["'][^;]*;""", re.MULTILINE)


# --------------------------------------------------------------------------- sources


def _resolve_import(importer: str, target: str) -> str:
    if target.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def _read_source(project: Project, unit: str) -> str:
    for base in (project.root, project.node_modules):
        candidate = base / unit
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    hint = " (run `npm ci` to install OpenZeppelin)" if unit.startswith("@openzeppelin/") else ""
    raise CompilationError([f"{unit}: source not found in {project.root} or node_modules{hint}"])


def collect_sources(project: Project) -> dict[str, str]:
    """Every .sol under contracts/ plus everything it imports, keyed by source unit name."""
    roots = sorted(p.relative_to(project.root).as_posix() for p in project.contracts_dir.rglob("*.sol"))
    sources: dict[str, str] = {}
    pending = list(roots)
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = _read_source(project, unit)
        sources[unit] = text
        pending.extend(_resolve_import(unit, m.group(1)) for m in _IMPORT.finditer(text))
    return dict(sorted(sources.items()))


def standard_json_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": SETTINGS,
    }


# --------------------------------------------------------------------------- backends


class Backend(Protocol):
    name: str
    long_version: str

    def compile(self, standard_input: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class NativeSolc:
    """A solc binary, driven by py-solc-x."""

    binary: Path
    long_version: str
    name: str = "native"

    def compile(self, standard_input: dict[str, Any]) -> dict[str, Any]:
        import solcx

        try:
            result: dict[str, Any] = solcx.compile_standard(
                standard_input, solc_binary=self.binary, allow_empty=True
            )
        except solcx.exceptions.SolcError as exc:
            # py-solc-x raises when the output has errors; the errors are in the output it parsed.
            stdout = getattr(exc, "stdout_data", "") or ""
            try:
                parsed: dict[str, Any] = json.loads(stdout)
                return parsed
            except json.JSONDecodeError:
                raise CompilationError([str(exc)]) from exc
        return result


@dataclass
class SolcJs:
    """The npm ``solc`` package (WebAssembly build of the same compiler) run by node."""

    node: str
    node_modules: Path
    long_version: str
    name: str = "solcjs"

    def compile(self, standard_input: dict[str, Any]) -> dict[str, Any]:
        proc = subprocess.run(
            [self.node, str(_RUNNER), str(self.node_modules)],
            input=json.dumps(standard_input).encode(),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise CompilationError([f"solcjs failed: {proc.stderr.decode(errors='replace').strip()}"])
        result: dict[str, Any] = json.loads(proc.stdout)
        return result


_RUNNER = Path(__file__).with_name("solcjs_runner.js")


def _native_version(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Version:\s*(\S+)", out)
    return match.group(1) if match else None


def _native_candidates() -> list[Path]:
    found: list[Path] = []
    explicit = os.environ.get("SOLC_BINARY")
    if explicit:
        found.append(Path(explicit))
    try:
        import solcx

        found.append(Path(solcx.install.get_executable(SOLC_VERSION)))
    except Exception:
        pass  # not installed by py-solc-x: fine, try the next source
    on_path = shutil.which("solc")
    if on_path:
        found.append(Path(on_path))
    return found


def find_native() -> NativeSolc | None:
    for binary in _native_candidates():
        version = _native_version(binary)
        if version and version.split("+")[0] == SOLC_VERSION:
            return NativeSolc(binary=binary, long_version=version)
    return None


def _solcjs_available(project: Project) -> str | None:
    node = shutil.which("node")
    if node is None or not (project.node_modules / "solc" / "package.json").is_file():
        return None
    return node


def find_solcjs(project: Project) -> SolcJs | None:
    node = _solcjs_available(project)
    if node is None:
        return None
    proc = subprocess.run(
        [node, str(_RUNNER), str(project.node_modules), "--version"], capture_output=True, text=True
    )
    match = re.search(r"Version:\s*(\S+)", proc.stdout)
    if proc.returncode != 0 or match is None or match.group(1).split("+")[0] != SOLC_VERSION:
        return None
    return SolcJs(node=node, node_modules=project.node_modules, long_version=match.group(1))


def write_solc_wrapper(project: Project) -> Path:
    """An executable that answers like a native ``solc`` (``--version``, ``--standard-json``) by running the
    npm compiler: for tools that want a solc binary (py-solc-x, crytic-compile/Slither)."""
    node = _solcjs_available(project)
    if node is None:
        raise CompilerNotFound(f"the npm solc is not installed: run `npm ci` in {project.root}")
    wrapper = project.build_dir / "bin" / "solc"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec "{node}" "{_RUNNER}" "{project.node_modules}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def select_backend(project: Project, prefer: str | None = None) -> Backend:
    """The native compiler when one of the pinned version exists, else solcjs; ``prefer`` forces one."""
    backends: dict[str, Any] = {}
    if prefer in (None, "native"):
        backends["native"] = find_native()
    if prefer in (None, "solcjs"):
        backends["solcjs"] = find_solcjs(project)
    for backend in backends.values():
        if backend is not None:
            chosen: Backend = backend
            return chosen
    wanted = f"the {prefer} backend of " if prefer else ""
    raise CompilerNotFound(
        f"no {wanted}solc {SOLC_VERSION} found. Get one: `npm ci` in {project.root} (installs the npm "
        f"solc {SOLC_VERSION}, needs Node 20+), or `python -c \"import solcx; "
        f"solcx.install_solc('{SOLC_VERSION}')\"`, or set SOLC_BINARY to a solc {SOLC_VERSION} binary."
    )


# --------------------------------------------------------------------------- build


@dataclass
class CompileResult:
    artifacts: list[str]
    build_info: Path
    cached: bool
    backend: str
    seconds: float
    warnings: list[str] = field(default_factory=list)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text.encode("utf-8")[:offset].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def _diagnostic(error: dict[str, Any], sources: dict[str, str]) -> str:
    where = error.get("sourceLocation")
    kind = error.get("type", "Error")
    if where and where.get("file") in sources and where.get("start", -1) >= 0:
        line, col = _line_col(sources[where["file"]], where["start"])
        return f"{where['file']}:{line}:{col}: {kind}: {error['message']}"
    return f"{kind}: {error['message']}"


def cache_key(standard_input: dict[str, Any]) -> str:
    blob = json.dumps(standard_input, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(SOLC_VERSION.encode() + b"\0" + blob).hexdigest()


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    tmp.replace(path)


def compile_project(project: Project, *, force: bool = False, prefer: str | None = None) -> CompileResult:
    """Compile contracts/ into build/, skipping the compiler when sources and settings are unchanged. In the
    package's own checkout the artifacts shipped in the package (millchain/artifacts/) are refreshed too."""
    if not project.checkout:
        raise CompilerNotFound(
            f"compiling needs the millchain source checkout (contracts/, node_modules, a solc {SOLC_VERSION}) and "
            f"{project.root} is not one; this installed millchain uses the contracts compiled into the package")
    started = time.perf_counter()
    sources = collect_sources(project)
    standard_input = standard_json_input(sources)
    key = cache_key(standard_input)
    cache_file = project.build_dir / "cache.json"
    if not force and cache_file.is_file():
        cache = json.loads(cache_file.read_text())
        if cache.get("key") == key and all(
            (project.build_dir / "contracts" / f"{n}.json").is_file() for n in cache.get("artifacts", [])
        ):
            _export_if_own_checkout(project, key, project.build_dir / cache["buildInfo"])
            return CompileResult(
                artifacts=cache["artifacts"],
                build_info=project.build_dir / cache["buildInfo"],
                cached=True,
                backend=cache["backend"],
                seconds=time.perf_counter() - started,
            )

    backend = select_backend(project, prefer)
    output = backend.compile(standard_input)
    problems = output.get("errors", [])
    errors = [_diagnostic(e, sources) for e in problems if e.get("severity") == "error"]
    if errors:
        raise CompilationError(errors)
    warnings = [
        _diagnostic(e, sources)
        for e in problems
        if e.get("severity") == "warning" and e.get("sourceLocation", {}).get("file", "").startswith("contracts/")
    ]

    build_info = {
        "_format": BUILD_INFO_FORMAT,
        "id": key[:32],
        "solcVersion": SOLC_VERSION,
        "solcLongVersion": backend.long_version,
        "input": standard_input,
        "output": output,
    }
    info_dir = project.build_dir / "build-info"
    if info_dir.is_dir():
        shutil.rmtree(info_dir)  # one build at a time: Slither must not see a stale one
    info_path = info_dir / f"{key[:32]}.json"
    _write_json(info_path, build_info)

    names: list[str] = []
    contracts_out = project.build_dir / "contracts"
    if contracts_out.is_dir():
        shutil.rmtree(contracts_out)
    for unit, contracts in output.get("contracts", {}).items():
        if not unit.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            evm = data["evm"]
            _write_json(
                contracts_out / f"{name}.json",
                {
                    "_format": ARTIFACT_FORMAT,
                    "contractName": name,
                    "sourceName": unit,
                    "abi": data["abi"],
                    "bytecode": "0x" + evm["bytecode"]["object"],
                    "deployedBytecode": "0x" + evm["deployedBytecode"]["object"],
                    "linkReferences": evm["bytecode"]["linkReferences"],
                    "deployedLinkReferences": evm["deployedBytecode"]["linkReferences"],
                    "immutableReferences": evm["deployedBytecode"].get("immutableReferences", {}),
                    "methodIdentifiers": evm["methodIdentifiers"],
                    "storageLayout": data.get("storageLayout", {}),
                    "userdoc": data.get("userdoc", {}),
                    "devdoc": data.get("devdoc", {}),
                    "compiler": backend.long_version,
                    "buildInfo": info_path.name,
                },
            )
            names.append(name)
    names.sort()
    _write_json(
        cache_file,
        {"key": key, "artifacts": names, "buildInfo": f"build-info/{info_path.name}", "backend": backend.name},
    )
    _export_if_own_checkout(project, key, info_path)
    return CompileResult(
        artifacts=names,
        build_info=info_path,
        cached=False,
        backend=backend.name,
        seconds=time.perf_counter() - started,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- artifacts shipped in the package

PACKAGED_MANIFEST = "manifest.json"


def packaged_manifest(folder: Path = PACKAGED_ARTIFACTS) -> dict[str, Any] | None:
    path = folder / PACKAGED_MANIFEST
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def export_packaged(project: Project, key: str, build_info_path: Path, folder: Path = PACKAGED_ARTIFACTS) -> None:
    """Write what an installed millchain needs to deploy and call the suite: each artifact of contracts/ (not the
    test-only contracts/test/), and the build-info of this release: its Standard JSON input (which reproduces the
    build) and source ids, without the outputs the artifacts already hold or the ASTs (most of the 15 MB). The long
    compiler version is cut to ``0.8.28+commit.…`` so both
    backends, which give the same bytecode, write the same files."""
    info = json.loads(build_info_path.read_text(encoding="utf-8"))
    short_version = ".".join(info["solcLongVersion"].split(".")[:4])
    shipped: list[str] = []
    contracts_out = folder / "contracts"
    if contracts_out.is_dir():
        shutil.rmtree(contracts_out)
    for artifact_path in sorted((project.build_dir / "contracts").glob("*.json")):
        artifact = json.loads(artifact_path.read_text(encoding="utf-8"))
        if artifact["sourceName"].startswith("contracts/test/"):
            continue
        artifact["compiler"] = short_version
        artifact["buildInfo"] = "build-info.json"
        _write_compact(contracts_out / artifact_path.name, artifact)
        shipped.append(artifact_path.stem)
    # The Standard JSON input reproduces the build, and each contract's output (ABI, bytecode, metadata, NatSpec)
    # is its artifact beside this file: repeating the outputs here would double the package (2.9 MB, not 0.7 MB).
    _write_compact(folder / "build-info.json", {
        "_format": info["_format"], "id": info["id"], "solcVersion": info["solcVersion"],
        "solcLongVersion": short_version, "input": info["input"],
        "output": {"sources": {unit: {"id": src["id"]} for unit, src in info["output"].get("sources", {}).items()}},
    })
    _write_compact(folder / PACKAGED_MANIFEST, {"key": key, "solcVersion": SOLC_VERSION, "contracts": shipped,
                                               "buildInfo": "build-info.json"})


def _write_compact(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp.replace(path)


def _export_if_own_checkout(project: Project, key: str, build_info_path: Path) -> None:
    # Only the checkout the package runs from owns millchain/artifacts/; a test project elsewhere must not
    # overwrite the release's artifacts with its own.
    if source_checkout() != project.root:
        return
    manifest = packaged_manifest()
    if manifest is None or manifest.get("key") != key:
        export_packaged(project, key, build_info_path)


def packaged_artifacts_current(project: Project) -> bool:
    """True when the artifacts shipped in the package were compiled from ``project``'s sources as they are."""
    manifest = packaged_manifest()
    return manifest is not None and manifest.get("key") == cache_key(standard_json_input(collect_sources(project)))


def packaged_result() -> CompileResult:
    """What an installed millchain has instead of a compile: the artifacts shipped in the package."""
    manifest = packaged_manifest()
    if manifest is None:
        raise ArtifactNotFound(
            f"this millchain has no compiled contracts in {PACKAGED_ARTIFACTS} and no source checkout: reinstall a "
            "release wheel, or run inside a checkout (`millchain compile`)")
    return CompileResult(artifacts=list(manifest["contracts"]), build_info=PACKAGED_ARTIFACTS / manifest["buildInfo"],
                         cached=True, backend="packaged", seconds=0.0)


def artifacts_dir(project: Project) -> Path:
    """build/contracts/ of a checkout, else the package's own artifacts."""
    return project.build_dir / "contracts" if project.checkout else PACKAGED_ARTIFACTS / "contracts"


def load_artifact(project: Project, name: str) -> dict[str, Any]:
    path = artifacts_dir(project) / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.json"))
        hint = f" Built: {', '.join(available)}." if available else " Run `millchain compile` first."
        raise ArtifactNotFound(f"no artifact for contract {name!r} in {path.parent}.{hint}")
    artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return artifact


def all_abis(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every built contract's ABI by name (for decoding custom errors raised anywhere)."""
    folder = artifacts_dir(project)
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))["abi"] for p in sorted(folder.glob("*.json"))}
