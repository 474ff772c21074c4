"""Where the project lives on disk: contracts, node_modules, build output and deployment records."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from millchain.errors import ConfigError

SOLC_VERSION = "0.8.28"
"""The one compiler version every backend must provide (also pinned in package.json)."""


PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_ARTIFACTS = PACKAGE_DIR / "artifacts"
"""Compiled artifacts shipped inside the package (``millchain compile`` in the checkout writes them), used
when millchain is installed without its source checkout."""


@dataclass(frozen=True)
class Project:
    """Where commands read and write. ``checkout`` is False for an installed millchain run outside a source
    checkout: ``root`` is then the working directory (``./deployments``, ``./build`` for reports) and the
    contracts come compiled from the package."""

    root: Path
    checkout: bool = True

    @property
    def contracts_dir(self) -> Path:
        return self.root / "contracts"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def deployments_dir(self) -> Path:
        return self.root / "deployments"


def _looks_like_root(path: Path) -> bool:
    return (path / "contracts").is_dir() and (path / "package.json").is_file()


def source_checkout() -> Path | None:
    """The checkout this package runs from (an editable install), or None for an installed wheel."""
    root = PACKAGE_DIR.parent
    return root if _looks_like_root(root) else None


def find_project(start: Path | None = None, *, need_checkout: str | None = None) -> Project:
    """The project root: $MILLCHAIN_ROOT, else the nearest parent of ``start`` (default: the working
    directory) holding contracts/ and package.json, else the checkout this package was installed from, else
    (an installed wheel) the working directory without sources. ``need_checkout`` names what needs the sources
    (e.g. "`millchain compile`"): then no checkout is an error saying so."""
    explicit = os.environ.get("MILLCHAIN_ROOT")
    if explicit:
        root = Path(explicit).resolve()
        if not _looks_like_root(root):
            raise ConfigError(f"MILLCHAIN_ROOT={explicit} does not contain contracts/ and package.json")
        return Project(root)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return Project(candidate)
    checkout = source_checkout()
    if checkout is not None:
        return Project(checkout)
    if need_checkout is not None:
        raise ConfigError(
            f"{need_checkout} needs the millchain source checkout (contracts/, package.json, node_modules from "
            f"`npm ci`, Node.js 20+) and none was found from {here}: run it inside a clone of the repository or "
            "set MILLCHAIN_ROOT. An installed millchain needs neither: it ships the compiled contracts."
        )
    return Project(here, checkout=False)
