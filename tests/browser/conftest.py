"""A chain where the demo has played (a real anvil), the console serving it as its own process, and Debian's
chromium driven by Playwright (no browser download). Screenshots go to $MILLCHAIN_TEST_ARTEFACTS/browser
(default build/test-artefacts/browser) for a person to look at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from millchain import demo
from millchain.chain import connect
from millchain.node import AnvilNode, free_port
from millchain.project import Project
from millchain.session import Session

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Console:
    url: str
    session: Session
    process: subprocess.Popen[bytes]
    log: Path

    def wait_indexed(self, timeout: float = 30.0) -> int:
        """Until the console's index has reached the chain's head; returns that block."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = self.session.chain.w3.eth.block_number
            answer = requests.get(f"{self.url}/fleet", headers={"X-Console-Fragment": "1"}, timeout=10)
            if answer.headers.get("X-Indexed") == str(head):
                return head
            time.sleep(0.2)
        raise AssertionError(f"the console's index did not reach block {head}: {self.log.read_text()[-2000:]}")


def start_console(session: Session, folder: Path, *extra: str, env: dict[str, str] | None = None) -> Console:
    port = free_port()
    url = session.chain.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    log = folder / f"console-{port}.log"
    assert session.store.folder is not None
    command = [
        sys.executable,
        "-m",
        "millchain",
        "console",
        "--port",
        str(port),
        "--db",
        str(folder / "index.sqlite"),
        "--network",
        "anvil",
        "--rpc",
        url,
        *extra,
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=handle,
            env={**os.environ, "MILLCHAIN_DEPLOYMENTS_DIR": str(session.store.folder.parent), **(env or {})},
        )
    console = Console(f"http://127.0.0.1:{port}", session, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the console exited: {log.read_text()}")
        try:
            if requests.get(f"{console.url}/healthz", timeout=1).status_code in (200, 401):
                return console
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"the console did not answer: {log.read_text()}")


def stop(console: Console) -> None:
    console.process.terminate()
    try:
        console.process.wait(10)
    except subprocess.TimeoutExpired:
        console.process.kill()
        console.process.wait()


@pytest.fixture(scope="session")
def demo_session(compiled: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The factory day played on a real anvil (the same code as `millchain demo --network anvil --keep-state`: the
    console shows the day, so it is not rolled back)."""
    folder = tmp_path_factory.mktemp("demo-chain")
    with AnvilNode(compiled) as node:
        session = Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=folder / "deployments")
        # In a thread of its own: the demo's oracle runs asyncio.run(), which a test's open browser (Playwright owns
        # the main thread's loop) would refuse.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(demo.run, session, say=lambda *_: None, keep_state=True).result()
        yield session


@pytest.fixture(scope="session")
def console(demo_session: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(demo_session, tmp_path_factory.mktemp("console"))
    running.wait_indexed()
    yield running
    stop(running)


@pytest.fixture(scope="session")
def artefacts() -> Path:
    root = Path(
        os.environ.get("MILLCHAIN_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artefacts")
    )
    folder = root / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Module scope: while Playwright's sync API is open it owns this thread's event loop, so any asyncio.run() in the
# same pytest-xdist worker (the oracle's tests, the demo) would fail until it closes.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/dev installs Debian's chromium (ensure_chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened
    context.close()
    assert errors == [], f"the page logged errors: {errors}"
