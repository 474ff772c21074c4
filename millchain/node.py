"""Start and stop a real anvil node from node_modules (@foundry-rs/anvil), for ``millchain node`` and tests."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
from pathlib import Path

from millchain.errors import ChainError, ConfigError
from millchain.localserver import LocalServer
from millchain.project import Project

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary(project: Project) -> Path:
    """The native anvil shipped in the platform package (signals reach it directly, unlike the node
    wrapper), else the package's bin script, else an anvil on PATH."""
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    native = project.node_modules / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if native.is_file():
        return native
    wrapper = project.node_modules / ".bin" / "anvil"
    if wrapper.exists():
        return wrapper
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    if project.checkout:
        raise ConfigError(f"anvil not found: run `npm ci` in {project.root} (installs @foundry-rs/anvil; needs "
                          "Node.js 20+), or put Foundry's anvil on PATH")
    raise ConfigError("`millchain node` runs anvil, which comes with the source checkout's node_modules (`npm ci`, "
                      "Node.js 20+) and was not found; outside a checkout install Foundry's anvil on PATH, or use "
                      "any node with --rpc URL")


NODE_RECORD = Path(".millchain") / "node.json"
"""Where ``millchain node`` notes the node it runs (URL, pid), so ``--network anvil`` finds it on any port."""


def record_node(project: Project, url: str, pid: int) -> Path:
    path = project.root / NODE_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": pid}), encoding="utf-8")
    return path


def recorded_node_url(project: Project) -> str | None:
    """The URL of the node ``millchain node`` started for this project, while that process lives."""
    path = project.root / NODE_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        pid = int(record["pid"])
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (OSError, ValueError, KeyError, TypeError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")  # Linux: a reused pid is some other program, not our anvil
    if cmdline.is_file() and b"anvil" not in cmdline.read_bytes():
        return None
    url = record.get("url")
    return url if isinstance(url, str) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def anvil_command(project: Project, *, port: int, state: Path | None = None,
                  extra: list[str] | None = None) -> list[str]:
    cmd = [str(anvil_binary(project)), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
        # --state loads at start and dumps at exit; the interval dump bounds what a hard kill can lose.
        cmd += ["--state", str(state), "--state-interval", "1"]
    return cmd + (extra or [])


class AnvilNode(LocalServer):
    """A child anvil process on 127.0.0.1; ``start`` returns once it answers JSON-RPC."""

    name = "anvil"
    error = ChainError

    def __init__(self, project: Project, *, port: int | None = None, state: Path | None = None,
                 extra: list[str] | None = None) -> None:
        super().__init__(port or free_port())
        self.project = project
        self.state = state
        self.extra = extra or []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return anvil_command(self.project, port=self.port, state=self.state, extra=self.extra)
