"""The README's tours and docs/operator-guide.md's command blocks, run literally, line by line, as a reader pastes
them: against a fresh anvil per block and a real Mosquitto. A command that fails, or a flag that drifted, fails
the block with the line and what it printed.

What the test stands in for, and nothing else:
- ``<…>`` placeholders are filled from what earlier lines printed, as a reader copies them (PLACEHOLDERS);
  a placeholder without a rule fails.
- ``source .venv/bin/activate`` and ``millchain node &``: the test already runs in the venv and starts its own
  anvil on a free port; ``MILLCHAIN_RPC`` points ``--network anvil`` at it and ``MILLCHAIN_DEPLOYMENTS`` keeps its
  records out of the checkout (the reader's node is 127.0.0.1:8545 and ./deployments).
- ``export NAME=value …`` lines set the environment of the lines after them (each line is its own ``bash -c``).
- A line ending in ``&`` runs in the background until the block ends; it must still be running then.
- A block preceded by ``<!-- tour: skip: reason -->`` is not run; the reason is required.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from millchain.node import AnvilNode
from millchain.project import Project

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SKIP_MARKER = re.compile(r"<!--\s*tour:\s*skip:\s*(?P<reason>\S.*?)\s*-->")
STOOD_IN_FOR = {
    "source .venv/bin/activate": "the test runs inside the venv",
    "millchain node &": "the test starts its own anvil on a free port",
}
ADDRESS = r"0x[0-9a-fA-F]{40}"


@dataclass(frozen=True)
class Block:
    doc: str
    heading: str
    lines: tuple[str, ...]
    skip: str | None

    @property
    def id(self) -> str:
        return f"{self.doc}: {self.heading}"


def sh_blocks(path: Path, *, section: str | None = None) -> list[Block]:
    """Every fenced ``sh`` block of ``path`` (of its ``section`` only, if given), with its heading and marker."""
    text = path.read_text(encoding="utf-8")
    if section is not None:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[start : end if end != -1 else None]
    blocks: list[Block] = []
    heading, previous, inside, lines, skip = "", "", False, [], None
    for line in text.splitlines():
        if inside:
            if line.startswith("```"):
                blocks.append(Block(path.name, heading, tuple(lines), skip))
                inside = False
            elif line.strip():
                lines.append(line.strip())
            continue
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```sh":
            marker = SKIP_MARKER.search(previous)
            inside, lines, skip = True, [], marker.group("reason") if marker else None
        if line.strip():
            previous = line
    return blocks


def _last(pattern: str, outputs: list[str]) -> str | None:
    for output in reversed(outputs):
        found = re.findall(pattern, output)
        if found:
            return str(found[-1])
    return None


PLACEHOLDERS: dict[str, Callable[[re.Match[str], list[str]], str | None]] = {
    # `millchain account new PATH` prints "<address> -> PATH"
    r"<device address>": lambda _, out: _last(rf"({ADDRESS}) -> ", out),
    # `millchain lease offer` prints "offered lease 0x…"
    r"<lease id>": lambda _, out: _last(r"offered lease (0x[0-9a-f]+)", out),
    # `millchain account list` prints a table row per account: "│ N │ 0x… │"
    r"<account (\d+)>": lambda m, out: _last(rf"│ {m.group(1)}\s+│ ({ADDRESS})", out),
}


def fill(line: str, outputs: list[str]) -> str:
    command = re.split(r"\s+#\s", line, maxsplit=1)[0]  # a reader's comment, not part of the command
    for placeholder in re.findall(r"<[^<>]+>", command):
        for pattern, rule in PLACEHOLDERS.items():
            match = re.fullmatch(pattern, placeholder)
            if match:
                value = rule(match, outputs)
                assert value is not None, f"nothing printed before {line!r} gives {placeholder}"
                command = command.replace(placeholder, value, 1)
                break
        else:
            pytest.fail(f"no rule to fill {placeholder} in {line!r}: add one to PLACEHOLDERS")
    return command


README_TOURS = sh_blocks(CHECKOUT / "README.md", section="## Five-minute tours")
GUIDE_BLOCKS = sh_blocks(CHECKOUT / "docs" / "operator-guide.md")


def test_the_docs_have_the_tours_this_test_runs() -> None:
    assert [b.heading for b in README_TOURS] == [
        "A developer deploying to a local chain",
        "An oracle operator on an edge box",
        "A factory (and its partners) using the CLI",
    ]
    assert any(b.skip is None for b in GUIDE_BLOCKS)


@pytest.fixture
def environment(tmp_path: Path, project: Project, mosquitto: object) -> Iterator[tuple[Path, dict[str, str]]]:
    node = AnvilNode(project).start()
    work = tmp_path / "reader"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILLCHAIN_", "ORACLE_"))}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "MILLCHAIN_RPC": node.url,
            "MILLCHAIN_DEPLOYMENTS": str(tmp_path / "deployments"),
            "ORACLE_MQTT__HOST": mosquitto.host,
            "ORACLE_MQTT__PORT": str(mosquitto.port),
        }
    )  # type: ignore[attr-defined]
    try:
        yield work, env
    finally:
        node.stop()


def run_block(block: Block, work: Path, env: dict[str, str]) -> list[str]:
    """Run ``block``'s lines in ``work`` as a reader would; returns what each foreground line printed."""
    outputs: list[str] = []
    background: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for number, line in enumerate(block.lines, 1):
            if any(line.startswith(stood) for stood in STOOD_IN_FOR):
                continue
            command = fill(line, outputs)
            if command.startswith("export "):
                env.update(dict(pair.split("=", 1) for pair in shlex.split(command)[1:]))
                continue
            if command.rstrip().endswith("&"):
                log = work / f"background-{number}.log"
                with open(log, "wb") as sink:
                    process = subprocess.Popen(
                        ["bash", "-c", command.rstrip().rstrip("&")],
                        cwd=work,
                        env=env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                background.append((line, process, log))
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, (
                f"{block.id}, line {number}: {line}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
            outputs.append(done.stdout + done.stderr)
        for line, process, log in background:
            assert process.poll() is None, f"{block.id}: `{line}` ended early:\n{log.read_text()}"
    finally:
        for _line, process, _log in background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    return outputs


@pytest.mark.parametrize("block", README_TOURS + GUIDE_BLOCKS, ids=lambda b: b.id)
def test_the_block_runs_as_written(block: Block, environment: tuple[Path, dict[str, str]]) -> None:
    if block.skip is not None:
        pytest.skip(f"marked in {block.doc}: {block.skip}")
    work, env = environment
    run_block(block, work, env)


def test_a_drifted_flag_or_an_unknown_placeholder_fails_the_block(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    drifted = Block("doc.md", "drift", ("millchain lease offer --price 1",), None)
    with pytest.raises(AssertionError, match="No such option '--price'"):
        run_block(drifted, tmp_path, env)
    unknown = Block("doc.md", "placeholder", ("millchain lease show <the lease>",), None)
    with pytest.raises(pytest.fail.Exception, match="no rule to fill <the lease>"):
        run_block(unknown, tmp_path, env)
    doc = tmp_path / "doc.md"
    doc.write_text(
        "## A\n<!-- tour: skip: needs a PLC -->\n```sh\nplc-flash\n```\n<!-- tour: skip: -->\n```sh\nx\n```\n"
    )
    assert [b.skip for b in sh_blocks(doc)] == ["needs a PLC", None]  # no reason, no skip
