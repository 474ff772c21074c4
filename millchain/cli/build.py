"""millchain compile"""

from __future__ import annotations

import click

from millchain.cli.common import console, emit_json, err_console, json_option
from millchain.compiler import compile_project
from millchain.project import find_project


@click.command("compile")
@click.option("--force", is_flag=True, help="Ignore the cache and call the compiler.")
@click.option("--backend", type=click.Choice(["native", "solcjs"]), default=None,
              help="Force a backend (default: native solc if one of the pinned version exists, else solcjs).")
@json_option
def compile_command(force: bool, backend: str | None, as_json: bool) -> None:
    """Compile contracts/ into build/ (artifacts + Hardhat-style build-info)."""
    result = compile_project(find_project(need_checkout="`millchain compile`"), force=force, prefer=backend)
    if as_json:
        emit_json({"cached": result.cached, "backend": result.backend, "artifacts": result.artifacts,
                   "buildInfo": str(result.build_info), "seconds": round(result.seconds, 3),
                   "warnings": result.warnings})
        return
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False)
    how = "cached, no compiler call" if result.cached else f"compiled with {result.backend}"
    console.print(f"{len(result.artifacts)} contracts ({how}) in {result.seconds:.2f} s -> {result.build_info}")
