"""Deploy the suite (same as `millchain deploy`; pass --network/--rpc as usual)."""

from __future__ import annotations

import sys

from millchain.cli.main import cli


def main() -> None:
    cli.main(["deploy", *sys.argv[1:]], prog_name="scripts/deploy.py")


if __name__ == "__main__":
    main()
