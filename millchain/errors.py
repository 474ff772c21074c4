"""The exception tree. Every error the SDK raises on purpose derives from :class:`MillchainError`,
so the CLI can catch one root and print one line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MillchainError(Exception):
    """Root of every error millchain raises on purpose."""


class ConfigError(MillchainError, ValueError):
    """A setting, option or file the user supplied is wrong."""


class CompilerNotFound(MillchainError):
    """No solc of the pinned version is reachable by any backend."""


class CompilationError(MillchainError):
    """solc reported one or more errors; ``diagnostics`` holds them as ``file:line:col: message``."""

    def __init__(self, diagnostics: Sequence[str]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(self.diagnostics))


class ArtifactNotFound(MillchainError):
    """A contract was asked for that the build does not contain."""


class ChainError(MillchainError):
    """The node could not be reached or answered something unusable."""


class DeploymentError(MillchainError):
    """A deployment record or journal disagrees with the chain it claims to describe."""


class TransactionFailed(ChainError):
    """A transaction was mined but reverted and no reason could be decoded."""


def _format_value(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        from eth_utils import to_checksum_address

        return str(to_checksum_address(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


class ContractRevert(MillchainError):
    """A contract call or transaction reverted with a decodable reason.

    ``name`` is the custom error (``MachineRegistryUnknownMachine``), ``Error`` for a require string or
    ``Panic`` for an assertion; ``args`` maps each parameter name to its decoded value.
    """

    def __init__(self, name: str, args: Mapping[str, Any]) -> None:
        self.name = name
        self.args_by_name = dict(args)
        rendered = ", ".join(f"{k}={_format_value(v)}" for k, v in self.args_by_name.items())
        super().__init__(f"{name}({rendered})")
