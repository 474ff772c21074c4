"""millchain console"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from millchain.cli.common import err_console, network_options
from millchain.errors import ConfigError
from millchain.index.indexer import open_indexer
from millchain.index.store import INDEX_ENV, index_target, open_store
from millchain.quality import parse_address
from millchain.session import Session

TOKEN_ENV = "MILLCHAIN_CONSOLE_TOKEN"


@click.command("console")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to serve on; anything but localhost needs a token."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8600, show_default=True)
@click.option(
    "--db",
    metavar="PATH|DSN",
    envvar=INDEX_ENV,
    help="The event index [default: .millchain/index.sqlite under the project].",
)
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep the index up with the chain from this process (else another runs `millchain index follow`).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"File holding the access token [default: ${TOKEN_ENV}].",
)
@click.option(
    "--siwe-allow",
    "siwe_allow",
    multiple=True,
    metavar="ADDRESS",
    help="An account that may sign in with Ethereum (EIP-4361) instead of a token; repeatable.",
)
@click.option(
    "--oracle-metrics",
    "oracle_metrics",
    multiple=True,
    metavar="URL",
    help="An oracle's /metrics, shown on the fleet view (repeatable).",
)
@network_options
def console_command(
    host: str,
    port: int,
    db: str | None,
    follow: bool,
    token_file: Path | None,
    siwe_allow: tuple[str, ...],
    oracle_metrics: tuple[str, ...],
    session: Session,
) -> None:
    """Serve the operations console (fleet, leases, quality, orders, parties), live as blocks arrive."""
    try:
        import uvicorn

        from millchain.console.app import check_exposure, create_app
        from millchain.console.data import ConsoleData
        from millchain.console.siwe import SiweVerifier
    except ImportError as exc:
        raise ConfigError(f"the console needs its web server: pip install 'millchain[console]' ({exc})") from exc
    token = token_file.read_text(encoding="utf-8").strip() if token_file else os.environ.get(TOKEN_ENV)
    check_exposure(host, token, bool(siwe_allow))
    siwe = (
        SiweVerifier({parse_address(a, what="--siwe-allow") for a in siwe_allow}, session.chain.chain_id)
        if siwe_allow
        else None
    )
    target = index_target(session.project.root, db)
    stop = threading.Event()
    follower: threading.Thread | None = None
    if follow:
        writer = open_store(target)
        indexer = open_indexer(session, writer)  # checks the index belongs to this chain before serving
        follower = threading.Thread(
            target=indexer.follow, args=(stop,), kwargs={"poll_seconds": 0.5}, name="millchain-index", daemon=True
        )
        follower.start()
    reader = open_store(target)
    data = ConsoleData(session, reader, list(oracle_metrics))
    app = create_app(data, token=token, siwe=siwe)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(
        f"console: http://{shown}:{port}/  (index {reader.where}"
        f"{', following the chain' if follow else ''}; Ctrl-C stops)",
        highlight=False,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop.set()
        if follower is not None:
            follower.join(5)
        reader.close()


def console_hint(session: Session, *, kept: bool = True) -> str:
    """How to open the console on the chain a command just used (the demo ends with it); ``kept``: whether the
    demo's day is still on the chain (on a node it is rolled back unless --keep-state)."""
    replay = "`millchain demo --network anvil --keep-state` and `millchain console --network anvil`"
    if session.chain.embedded:
        return (
            "console: the embedded chain ends with this process; to watch the day in the console run "
            f"`millchain node`, then {replay}"
        )
    if not kept:
        return f"console: the day was rolled back; to watch it in the console run {replay}"
    url = getattr(session.chain.w3.provider, "endpoint_uri", None)
    where = (
        "--network anvil"
        if session.chain.network == "anvil" and url in (None, "http://127.0.0.1:8545")
        else (f"--network {session.chain.network} --rpc {url}")
    )
    return f"console: run `millchain console {where}` and open http://127.0.0.1:8600/"
