"""`pip install millchain` on an edge box: the wheel built from this checkout, installed into a clean venv
outside it, run with no Node.js on PATH, against an anvil holding a deployment made from the checkout. An
operator's commands (oracle init / run / status) and a factory's (machine, lease) work; compile and node say
they need the checkout."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from millchain.compiler import compile_project, packaged_artifacts_current
from millchain.node import AnvilNode
from millchain.project import Project

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE_FILES = ("pyproject.toml", "README.md", "millchain", "oracle")


def python_block(doc: Path) -> str:
    """The first fenced python block of ``doc``."""
    text = doc.read_text(encoding="utf-8")
    start = text.index("```python\n") + len("```python\n")
    return text[start : text.index("```", start)]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with only the wheel (and its dependencies, from pip's configured indexes and caches)."""
    checkout = Project(CHECKOUT)
    compile_project(checkout)  # refreshes millchain/artifacts/ if the sources changed since the last compile
    assert packaged_artifacts_current(checkout), "millchain/artifacts/ is stale: `millchain compile`, commit it"
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in PACKAGE_FILES:  # a copy: setuptools' build/ must not mix with the project's build/
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, src / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(src)])
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("millchain-*.whl"))
    env_dir = work / "venv"
    assert _run([sys.executable, "-m", "venv", str(env_dir)]).returncode == 0
    installed = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    return env_dir


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "published"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/anvil/", folder
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(900)  # a venv, a pip install and some forty fresh processes: minutes on a loaded machine
def test_the_installed_wheel_runs_an_operators_and_a_factorys_commands(
    venv: Path, anvil: AnvilNode, tmp_path: Path, served: tuple[str, Path]
) -> None:
    records = tmp_path / "records"
    deployed = _run(
        [
            str(CHECKOUT / ".venv" / "bin" / "millchain"),
            "deploy",
            "--network",
            "anvil",
            "--rpc",
            anvil.url,
            "--deployments",
            str(records),
            "--json",
        ],
        cwd=CHECKOUT,
    )
    assert deployed.returncode == 0, deployed.stderr
    assert len(json.loads(deployed.stdout)["funded"]) == 10

    edge = tmp_path / "edge"  # the edge box: no checkout, no node, its records in ./deployments
    shutil.copytree(records, edge / "deployments")
    no_node = tmp_path / "bin"
    no_node.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:{no_node}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "MILLCHAIN_NETWORK": "anvil",
        "MILLCHAIN_RPC": anvil.url,
        "MILLCHAIN_KEYSTORE_PASSWORD": "press-secret",
        "ORACLE_DEVICE_PASSWORD": "press-secret",
        "ORACLE_METRICS_PORT": "0",
    }
    assert shutil.which("node", path=env["PATH"]) is None

    def millchain(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = _run([str(venv / "bin" / "millchain"), *args], cwd=edge, env=env)
        if ok:
            assert done.returncode == 0, f"millchain {' '.join(args)}: {done.stderr}"
        return done

    where = _run([str(venv / "bin" / "python"), "-c", "import millchain; print(millchain.__file__)"], cwd=edge, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    compiled = millchain("compile", ok=False)
    assert compiled.returncode == 1 and "needs the millchain source checkout" in compiled.stderr
    node = millchain("node", ok=False)
    assert node.returncode == 1 and "Node.js" in node.stderr

    status = json.loads(millchain("status", "--json").stdout)
    assert {c["code"] for c in status["contracts"]} == {"matches"}

    # The factory and the machine maker.
    device = json.loads(millchain("account", "new", "keys/press-01.json", "--json").stdout)["address"]
    millchain("machine", "register", "press-01", "--signer", device, "--account", "1")
    offered = json.loads(
        millchain(
            "lease",
            "offer",
            "press-01",
            "--price-per-unit",
            "0.01",
            "--max-rate",
            "400000",
            "--duration",
            "1d",
            "--heartbeat",
            "1h",
            "--account",
            "1",
            "--json",
        ).stdout
    )
    lease_id = offered["lease_id"]
    opened = json.loads(
        millchain("lease", "open", lease_id, "--deposit", "50", "--permit", "--account", "2", "--json").stdout
    )
    assert opened["escrow"] == 50 * 10**6

    # The operator: a config for this network and deployment, then the oracle bills the simulated press.
    millchain("oracle", "init", "--machine", "press-01", "--source", "simulator")
    config = edge / "oracle.toml"
    config.write_text(config.read_text().replace("simulator_rate_per_hour = 600", "simulator_rate_per_hour = 360000"))
    log = edge / "oracle.log"
    with open(log, "w") as log_file:
        oracle = subprocess.Popen(
            [str(venv / "bin" / "millchain"), "oracle", "run", "--config", str(config)],
            cwd=edge,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            deadline = time.monotonic() + 90
            billed = 0
            while time.monotonic() < deadline and billed == 0:
                time.sleep(1)
                assert oracle.poll() is None, log.read_text()
                billed = json.loads(millchain("lease", "statement", lease_id, "--json").stdout)["total_units"]
            assert billed > 0, log.read_text()
        finally:
            oracle.send_signal(signal.SIGTERM)
            code = oracle.wait(30)
    assert code == 0, log.read_text()
    machines = json.loads(millchain("oracle", "status", "--config", str(config), "--json").stdout)["machines"]
    assert machines[0]["machine"] == "press-01" and int(machines[0]["last_settled"]) > 0

    # A factory's script (docs/library.md) with the installed wheel: a second offer to open, an alert to react to.
    accounts = {row["account"]: row["address"] for row in json.loads(millchain("account", "list", "--json").stdout)}
    for org, admin in (("axle-supply", 3), ("mill-plant", 4), ("tuv-lab", 5)):
        millchain("qc", "org", "register", org, "--admin", accounts[admin])
    millchain("qc", "inspector", "accredit", accounts[6], "--org", "tuv-lab")
    millchain(
        "qc", "lot", "register", "bearings-73", "--product", "bearing-6204", "--quantity", "5000", "--account", "3"
    )
    millchain(
        "qc",
        "lot",
        "register",
        "gearboxes-42",
        "--product",
        "gearbox-g3",
        "--quantity",
        "400",
        "--input",
        "bearings-73",
        "--account",
        "4",
    )
    millchain(
        "qc",
        "attest",
        "bearings-73",
        "--outcome",
        "fail",
        "--severity",
        "major",
        "--sample",
        "200",
        "--defects",
        "14",
        "--account",
        "6",
    )
    millchain("machine", "register", "lathe-02", "--signer", accounts[7], "--account", "1")
    second = json.loads(
        millchain(
            "lease", "offer", "lathe-02", "--price-per-unit", "0.01", "--max-rate", "600", "--account", "1", "--json"
        ).stdout
    )["lease_id"]
    script = edge / "factory_morning.py"
    script.write_text(python_block(CHECKOUT / "docs" / "library.md"))
    ran = _run(
        [str(venv / "bin" / "python"), str(script)],
        cwd=edge,
        env={**env, "LEASE_ID": second, "MILLCHAIN_DEPLOYMENTS": str(edge / "deployments")},
    )
    assert ran.returncode == 0, ran.stderr
    assert f"lease {second}: 0 units, billed 0 mUSD, escrow 100 mUSD" in ran.stdout
    assert "alert bearings-73#1 on lot bearings-73: FAIL, 14 of 200 defective; acknowledged" in ran.stdout
    assert json.loads(millchain("qc", "alerts", "--org", "mill-plant", "--pending", "--json").stdout) == []

    # Records published over HTTP instead of a folder.
    url, published = served
    shutil.copytree(records / "anvil", published / "anvil")
    shown = json.loads(millchain("lease", "show", lease_id, "--deployments", url, "--json").stdout)
    assert shown["lease_id"] == lease_id and shown["last_counter"] > 0
