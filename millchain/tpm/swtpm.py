"""A software TPM 2.0 (swtpm) as a child process on 127.0.0.1, for development, tests and benchmarks.

An edge box with a real TPM uses the TCTI of its device (``device:/dev/tpmrm0``) instead; everything above the
TCTI string — the signer, the attestation — is the same code. swtpm speaks the TPM command protocol on one TCP
port and its control protocol on the next one, which is where the ``swtpm`` TCTI expects it.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from millchain.errors import ConfigError, MillchainError
from millchain.localserver import LocalServer


class SoftwareTpmError(MillchainError):
    """swtpm could not be started or stopped."""


def _port_pair_free(port: int) -> bool:
    for candidate in (port, port + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


def free_port_pair() -> int:
    """A port P such that P and P + 1 are both free on 127.0.0.1 (swtpm's server and control ports)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < 65535 and _port_pair_free(port):
            return port
    raise SoftwareTpmError("no two consecutive free TCP ports on 127.0.0.1 for swtpm")


class SoftwareTpm(LocalServer):
    """swtpm in socket mode, its state (keys persisted with EvictControl included) kept in ``state_dir``.

    Stopping and starting it again on the same ``state_dir`` is what a power cycle of an edge box is to its TPM:
    persistent objects survive, transient ones do not."""

    name = "swtpm"
    error = SoftwareTpmError
    start_timeout = 10.0

    def __init__(self, state_dir: Path, *, port: int | None = None) -> None:
        super().__init__(port or free_port_pair())
        self.state_dir = state_dir

    @property
    def tcti(self) -> str:
        """The TCTI configuration string tpm2-tss (and tpm2-pytss's ``ESAPI``) connects with."""
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def command(self) -> list[str]:
        binary = shutil.which("swtpm")
        if binary is None:
            raise ConfigError("swtpm not found: install the Debian packages swtpm swtpm-tools (scripts/dev does)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return [
            binary, "socket", "--tpm2",
            "--tpmstate", f"dir={self.state_dir}",
            "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
            "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
            # The emulator initialises itself and runs TPM2_Startup(CLEAR), as a platform's firmware would.
            "--flags", "not-need-init,startup-clear",
        ]  # fmt: skip
