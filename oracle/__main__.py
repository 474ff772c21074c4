"""python -m oracle [--config oracle.toml] — the same as `millchain oracle run`."""

from oracle.cli import run

run()
