"""The ``millchain`` console script: one group, one module per command group, one error handler.

Command modules import web3, eth-account and the SDK's clients (about a second of imports); the group loads a
module only when one of its commands runs, so ``millchain --help`` and ``--version`` start at once. The
listing's one-line help comes from :data:`COMMANDS` (a unit test holds it equal to each command's own).
"""

from __future__ import annotations

import functools
import importlib
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import click

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, its one-line help as `millchain --help` lists it: command.get_short_help_str(80))
    "compile": (
        "millchain.cli.build",
        "compile_command",
        "Compile contracts/ into build/ (artifacts + Hardhat-style build-info).",
    ),
    "node": (
        "millchain.cli.chain",
        "node_command",
        "Run a real anvil node on 127.0.0.1 (from the checkout's node_modules, or...",
    ),
    "deploy": (
        "millchain.cli.chain",
        "deploy_command",
        "Deploy the suite; records go to deployments/<network>/ (none for the embedded...",
    ),
    "status": (
        "millchain.cli.chain",
        "status_command",
        "Network, chainId, block, and each deployed contract with whether its on-chain...",
    ),
    "machine": (
        "millchain.cli.machine",
        "machine",
        "Machine identities: owner, device signing key, metadata commitment, status.",
    ),
    "lease": ("millchain.cli.lease", "lease", "Pay-per-use equipment leases billed from device-signed counters."),
    "account": (
        "millchain.cli.account",
        "account",
        "Encrypted keystores for real networks (the tools never write a plaintext key).",
    ),
    "token": (
        "millchain.cli.token",
        "token",
        "The test settlement token (mUSD) of development chains: mint some, read...",
    ),
    "demo": (
        "millchain.cli.demo",
        "demo_command",
        "Play a factory day end to end (default: on the embedded chain, nothing to...",
    ),
    "qc": (
        "millchain.cli.qc",
        "qc",
        "Quality control: inspections attested across firms, alerts along lot lineage,...",
    ),
    "order": (
        "millchain.cli.order",
        "order",
        "Supply orders settled when contract, logistics, invoice and funds agree (四流合一).",
    ),
    "commit": (
        "millchain.cli.disclosure",
        "commit_command",
        "Commit to FIELDS_FILE (a JSON object of field -> text or integer) with a...",
    ),
    "disclose": (
        "millchain.cli.disclosure",
        "disclose_command",
        "Disclose FIELD of the opened DOCUMENT (or of the order lines in an order...",
    ),
    "index": ("millchain.cli.index", "index", "The event index: backfill, follow the chain (reorg-safe), status."),
    "console": (
        "millchain.cli.console",
        "console_command",
        "Serve the operations console (fleet, leases, quality, orders, parties), live...",
    ),
    "verify-disclosure": (
        "millchain.cli.disclosure",
        "verify_disclosure_command",
        "Check a disclosed field against a commitment: a root, a lot's commitments, or...",
    ),
}


SHORT_HELP_LIMIT = 80


class LazyGroup(click.Group):
    """A group whose built-in commands (:data:`COMMANDS`) and plugins (entry points ``millchain.commands``)
    are imported when used, not when the group is built."""

    @functools.cached_property
    def _plugins(self) -> dict[str, EntryPoint]:
        # Scanning the installed distributions takes tens of milliseconds: not for `--version`.
        return {ep.name: ep for ep in entry_points(group="millchain.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS, *self._plugins})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        command: click.Command
        if cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
            _use_c_keccak()
            command = getattr(importlib.import_module(module), attribute)
        elif cmd_name in self._plugins:
            command = self._plugins[cmd_name].load()
        else:
            return None
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in COMMANDS and name not in self.commands:
                rows.append((name, COMMANDS[name][2]))
                continue
            if name in self._plugins and name not in self.commands:
                summary = _plugin_summary(self._plugins[name])
                if summary is not None:
                    rows.append((name, summary))
                    continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(SHORT_HELP_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _use_c_keccak() -> None:
    """Before a command module is imported (some hash constants at import): eth-hash would otherwise load
    pycryptodome's keccak through cffi, ~0.1 s of a read-only command, for the same digests. This CLI process
    only, as the oracle's does; `import millchain` changes nothing."""
    from millchain.speedups import use_c_keccak

    use_c_keccak()


def _plugin_summary(plugin: EntryPoint) -> str | None:
    """A plugin command's one-line help read from its module's source (the docstring of the function the entry
    point names), so listing it does not import it and what it imports; None when it cannot be read so."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec(plugin.module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == plugin.attr:
            doc = ast.get_docstring(node)
            # click shortens it exactly as it would the loaded command's
            return click.Command(plugin.name, help=doc).get_short_help_str(SHORT_HELP_LIMIT) if doc else None
    return None


ENVIRONMENT_HELP = """Smart-manufacturing contracts: compile, deploy and operate them on a local chain or any EVM node.

\b
Environment (each stands for the option of every chain command):
  MILLCHAIN_NETWORK    --network: local (default), anvil, or a records name for --rpc
  MILLCHAIN_RPC        --rpc: a JSON-RPC URL (wins over the node `millchain node` noted)
  MILLCHAIN_DEPLOYMENTS  --deployments: records folder or http(s) URL
  MILLCHAIN_KEYSTORE   --keystore; its password in MILLCHAIN_KEYSTORE_PASSWORD
See docs/networks.md for which node `--network anvil` means.
"""


@click.group(cls=LazyGroup, help=ENVIRONMENT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="millchain")
def cli() -> None:
    pass


def main() -> None:
    from millchain.errors import CompilationError, MillchainError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _err("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CompilationError as exc:
        for line in exc.diagnostics:
            _err(line)
        sys.exit(1)
    except MillchainError as exc:
        _err(f"error: {exc}")
        sys.exit(1)


def _err(line: str) -> None:
    from millchain.cli.common import err_console

    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
