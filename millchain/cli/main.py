"""The ``millchain`` console script: one group, one module per command group, one error handler."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from millchain.cli import account, build, chain, demo, disclosure, lease, machine, order, qc
from millchain.cli import console as console_cli
from millchain.cli import index as index_cli
from millchain.cli.common import err_console
from millchain.errors import CompilationError, MillchainError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="millchain")
def cli() -> None:
    """Smart-manufacturing contracts: compile, deploy and operate them on a local chain or any EVM node."""


cli.add_command(build.compile_command)
cli.add_command(chain.node_command)
cli.add_command(chain.deploy_command)
cli.add_command(chain.status_command)
cli.add_command(machine.machine)
cli.add_command(lease.lease)
cli.add_command(account.account)
cli.add_command(demo.demo_command)
cli.add_command(qc.qc)
cli.add_command(order.order)
cli.add_command(disclosure.commit_command)
cli.add_command(disclosure.disclose_command)
cli.add_command(disclosure.verify_disclosure_command)
cli.add_command(index_cli.index)
cli.add_command(console_cli.console_command)

for plugin in entry_points(group="millchain.commands"):
    cli.add_command(plugin.load(), plugin.name)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CompilationError as exc:
        for line in exc.diagnostics:
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except MillchainError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
