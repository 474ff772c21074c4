"""Where the project lives on disk: contracts, node_modules, build output and deployment records."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from millchain.errors import ConfigError

SOLC_VERSION = "0.8.28"
"""The one compiler version every backend must provide (also pinned in package.json)."""


@dataclass(frozen=True)
class Project:
    root: Path

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


def find_project(start: Path | None = None) -> Project:
    """The project root: $MILLCHAIN_ROOT, else the nearest parent of ``start`` (default: the working
    directory) holding contracts/ and package.json, else the checkout this package was installed from."""
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
    checkout = Path(__file__).resolve().parent.parent
    if _looks_like_root(checkout):
        return Project(checkout)
    raise ConfigError(
        f"no millchain project found from {here}: run inside a checkout (a folder with contracts/ and "
        "package.json) or set MILLCHAIN_ROOT"
    )
