"""A local server as a child process (anvil, swtpm): started, waited on until it listens on 127.0.0.1, stopped
gracefully. One place for the start-up wait and the stop, so every server a test or a command starts fails the
same clear way: exited at start (with its stderr), or not listening in time."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Self

from millchain.errors import MillchainError


class LocalServer:
    """Subclasses name themselves, their error type and their command line."""

    name = "server"
    error: type[MillchainError] = MillchainError
    start_timeout = 20.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def diagnostics(self) -> str:
        """What else explains a failed start (a log file's tail): appended to the error."""
        return ""

    def start(self, timeout: float | None = None) -> Self:
        """Start and return once the server accepts TCP connections on its port (within ``start_timeout``)."""
        timeout = self.start_timeout if timeout is None else timeout
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise self.error(
                    f"{self.name} exited at start (code {self.process.returncode}): {err.strip()}{self._more()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise self.error(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s{self._more()}")

    def _more(self) -> str:
        more = self.diagnostics()
        return f"\n{more}" if more else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil dumps its state, swtpm saves its own), killing the process if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
