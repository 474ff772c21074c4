"""`millchain oracle init`: write a commented oracle.toml for the network and deployment at hand.

The file it writes loads as it is (it is checked with the oracle's own loader before the command returns) and
says, next to each key, what an operator must still do: create the device keys, register each machine with its
key's address, have a lease opened on it, and give the relayer gas money.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

DEFAULT_DEV_RELAYER = 3
"""Development account the oracle pays gas from on anvil: not 0 (the deployer), 1 (lessor) or 2 (lessee) of
the tours, so its nonces never race theirs."""


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render(
    *,
    network: str,
    rpc_url: str,
    chain_id: int,
    deployments: Path,
    lease_address: str,
    registry_address: str,
    machines: list[tuple[str, str]],
    source: str,
    keys_dir: str,
    relayer_keystore: str | None,
    relayer_dev_account: int | None,
) -> str:
    """The commented TOML text (pure: no I/O, so it is tested on its own)."""
    lines = [
        f"# millchain oracle config, written by `millchain oracle init` for {network} (chainId {chain_id}).",
        "# Every key can be overridden by ORACLE_<KEY> (nested with __, e.g. ORACLE_CHAIN__RPC_URL).",
        "# Relative paths are relative to this file. Reference: docs/operator-guide.md.",
        "",
        'outbox = "oracle-outbox.sqlite"   # the durable outbox: keep it on persistent storage',
        "batch_window_ms = 500            # longest a reading waits for its batch",
        "max_batch = 200                  # readings per submitUsageBatch transaction (<= 500)",
        "max_clock_skew_s = 300           # device clocks further off than this are refused",
        'metrics_host = "127.0.0.1"',
        "metrics_port = 9464              # Prometheus /metrics and /healthz; 0 disables",
        'simulator_interval_s = 1.0       # tick of machines with source = "simulator"',
        "",
        "[chain]",
        f"network = {_toml_string(network)}",
        f"rpc_url = {_toml_string(rpc_url)}",
        f"deployments = {_toml_string(str(deployments))}",
        f"# EquipmentLease {lease_address}, MachineRegistry {registry_address} (from the records above)",
    ]
    if relayer_dev_account is not None:
        lines += [
            f"relayer_dev_account = {relayer_dev_account}  # development chains only: this dev account pays gas",
            '# relayer_keystore = "relayer.json"  # real networks: `millchain account new relayer.json`, then give it',
            "#                                    # ETH (`millchain account fund <address> --eth 1`); password in",
            "#                                    # $ORACLE_RELAYER_PASSWORD",
        ]
    else:
        lines += [
            f"relayer_keystore = {_toml_string(relayer_keystore or 'relayer.json')}",
            "# ^ create it with `millchain account new <path>` and give its address gas money",
            "#   (`millchain account fund <address> --eth 1 --keystore <a funded key>`); password in",
            "#   $ORACLE_RELAYER_PASSWORD",
        ]
    lines += [
        "confirmations = 1                # blocks before a batch counts as settled (QBFT: 1)",
        "stuck_blocks = 3                 # a batch not mined after this many blocks is re-sent with higher fees",
        "fee_bump_percent = 12.5",
        "poll_interval_s = 0.2            # how often lease events are polled",
        "",
        '[mqtt]                           # used by machines with source = "mqtt"',
        'host = "127.0.0.1"',
        "port = 1883",
        'topic_prefix = "millchain/machines"   # machines publish to <prefix>/<name>/telemetry',
        "",
    ]
    for name, machine_id in machines:
        keystore = f"{keys_dir}/{name}.json"
        lines += [
            "[[machines]]",
            f"name = {_toml_string(name)}                 # its name on the floor (MQTT topic segment)",
            f"machine_id = {_toml_string(machine_id)}     # its MachineRegistry id",
            f"source = {_toml_string(source)}             # mqtt | opcua | simulator",
            'signing = "gateway"              # the oracle signs with device_keystore; "device": the machine signs',
            f"device_keystore = {_toml_string(keystore)}",
            f"# Before the oracle can bill {name}:",
            f"#   millchain account new {keystore}              (password in $ORACLE_DEVICE_PASSWORD)",
            f"#   millchain machine register {machine_id} --signer <that address>     (the machine maker)",
            f"#   millchain lease offer {machine_id} …  /  millchain lease open <lease id> --deposit …",
        ]
        if source == "simulator":
            lines.append("simulator_rate_per_hour = 600    # parts per hour the simulated machine makes")
        if source == "opcua":
            lines += [
                "[machines.opcua]",
                'endpoint = "opc.tcp://127.0.0.1:4840"',
                'counter_node = "ns=2;s=Machine.Counter"',
                'runtime_node = "ns=2;s=Machine.RuntimeSeconds"',
            ]
        lines.append("")
    return "\n".join(lines)


def _machine(text: str) -> tuple[str, str]:
    name, _, machine_id = text.partition("=")
    if not name:
        raise click.BadParameter(f"{text!r}: give NAME or NAME=MACHINE_ID", param_hint="--machine")
    return name, machine_id or name


@click.command("init")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default="oracle.toml",
    show_default=True,
    help="Where to write the config.",
)
@click.option(
    "--network",
    default="anvil",
    show_default=True,
    envvar="MILLCHAIN_NETWORK",
    show_envvar=True,
    help="anvil (the node `millchain node` runs, else 127.0.0.1:8545) or a records name with --rpc.",
)
@click.option(
    "--rpc", "rpc_url", envvar="MILLCHAIN_RPC", show_envvar=True, metavar="URL", help="The node the oracle talks to."
)
@click.option(
    "--deployments",
    type=click.Path(path_type=Path),
    envvar="MILLCHAIN_DEPLOYMENTS",
    show_envvar=True,
    help="Records folder (a network's, or one holding <network>/) [default: ./deployments/<network>/].",
)
@click.option(
    "--machine",
    "machines",
    multiple=True,
    metavar="NAME[=MACHINE_ID]",
    help="A machine the oracle reads (repeat) [default: press-01].",
)
@click.option(
    "--source",
    type=click.Choice(["mqtt", "opcua", "simulator"]),
    default="mqtt",
    show_default=True,
    help="Where the machines' counters come from.",
)
@click.option("--keys-dir", default="keys", show_default=True, help="Folder of the device keystores <name>.json.")
@click.option("--relayer-keystore", default=None, help="Relayer key file [default on real networks: relayer.json].")
@click.option(
    "--relayer-dev-account",
    type=click.IntRange(0, 9),
    default=None,
    help=f"Development chains: the dev account paying gas [default on anvil: {DEFAULT_DEV_RELAYER}].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_command(
    out_path: Path,
    network: str,
    rpc_url: str | None,
    deployments: Path | None,
    machines: tuple[str, ...],
    source: str,
    keys_dir: str,
    relayer_keystore: str | None,
    relayer_dev_account: int | None,
    force: bool,
) -> None:
    """Write a commented oracle.toml for this network and its deployment (checked against the node)."""
    from millchain.chain import ANVIL_URL, connect
    from millchain.deployments import DeploymentStore, records_folder
    from millchain.errors import ConfigError
    from millchain.node import recorded_node_url
    from millchain.project import find_project
    from oracle.config import load_config

    if out_path.exists() and not force:
        raise ConfigError(f"{out_path} already exists (--force overwrites it)")
    project = find_project()
    if rpc_url is None:
        if network != "anvil":
            raise ConfigError(f"network {network!r} needs --rpc URL (or $MILLCHAIN_RPC)")
        rpc_url = recorded_node_url(project) or ANVIL_URL
    chain = connect("rpc" if network != "anvil" else "anvil", rpc_url=rpc_url)
    folder = records_folder(deployments, network) if deployments else project.deployments_dir / network
    store = DeploymentStore(folder.resolve(), chain.chain_id)
    lease, registry = store.get("EquipmentLease"), store.get("MachineRegistry")
    if lease is None or registry is None:
        raise ConfigError(
            f"no EquipmentLease/MachineRegistry records in {folder}: deploy first "
            f"(`millchain deploy --network {network}`) or name the records with --deployments"
        )
    dev = network == "anvil"
    if relayer_keystore is None and relayer_dev_account is None and dev:
        relayer_dev_account = DEFAULT_DEV_RELAYER
    if relayer_dev_account is not None and not dev:
        raise ConfigError("--relayer-dev-account is for development chains (--network anvil) only")
    text = render(
        network=network,
        rpc_url=rpc_url,
        chain_id=chain.chain_id,
        deployments=folder.resolve(),
        lease_address=lease["address"],
        registry_address=registry["address"],
        machines=[_machine(m) for m in machines or ("press-01",)],
        source=source,
        keys_dir=keys_dir,
        relayer_keystore=relayer_keystore,
        relayer_dev_account=relayer_dev_account,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    load_config(out_path)  # what we wrote must load: a bad value fails here, not at the operator's first start
    click.echo(
        f"wrote {out_path} for {network} (chainId {chain.chain_id}, EquipmentLease {lease['address']}); "
        "read its comments for what each machine still needs"
    )
