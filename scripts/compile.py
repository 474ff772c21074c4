"""Compile contracts/ into build/ (same as `millchain compile`)."""

from __future__ import annotations

import sys

from millchain.cli.main import cli


def main() -> None:
    cli.main(["compile", *sys.argv[1:]], prog_name="scripts/compile.py")


if __name__ == "__main__":
    main()
