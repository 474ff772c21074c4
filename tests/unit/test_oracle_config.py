"""A bad oracle config fails at start, naming the field and the reason; the environment overrides the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from millchain.errors import ConfigError
from oracle.config import load_config

GOOD = """
outbox = "data/outbox.sqlite"
[chain]
network = "anvil"
relayer_keystore = "keys/relayer.json"
[[machines]]
name = "press-01"
machine_id = "press-01"
device_keystore = "keys/press-01.json"
[[machines]]
name = "lathe-02"
machine_id = "lathe-02"
signing = "device"
source = "opcua"
[machines.opcua]
endpoint = "opc.tcp://10.0.0.7:4840"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oracle.toml"
    path.write_text(text)
    return path


def test_a_good_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    assert settings.outbox == tmp_path / "data" / "outbox.sqlite"
    assert settings.chain.relayer_keystore == tmp_path / "keys" / "relayer.json"
    assert settings.machines[0].device_keystore == tmp_path / "keys" / "press-01.json"
    assert settings.machines[1].opcua is not None and settings.machines[1].opcua.mode == "subscription"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORACLE_CHAIN__CONFIRMATIONS", "3")
    monkeypatch.setenv("ORACLE_METRICS_PORT", "0")
    settings = load_config(write(tmp_path, GOOD))
    assert settings.chain.confirmations == 3 and settings.metrics_port == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[chain]", "[chain]\nconfirmations = 0"), "chain.confirmations: Input should be greater than or equal to 1"),
        (
            ("[chain]", "[chain]\nfee_bump_percent = 5"),
            "chain.fee_bump_percent: Input should be greater than or equal to 12.5",
        ),
        (('relayer_keystore = "keys/relayer.json"', ""), "set exactly one of relayer_keystore or relayer_dev_account"),
        (('device_keystore = "keys/press-01.json"', ""), "machine press-01: gateway signing needs device_keystore"),
        (('machine_id = "lathe-02"', 'machine_id = "press-01"'), "two machines have machine_id 'press-01'"),
        (('machine_id = "press-01"', 'machine_id = "' + "x" * 40 + '"'), "machines.0.machine_id"),
        (
            ('outbox = "data/outbox.sqlite"', 'outbox = "x"\nbatch_window = 5'),
            "batch_window: Extra inputs are not permitted",
        ),
        (("[chain]", "[chain\n"), "invalid oracle config"),
    ],
)
def test_bad_configs_name_the_field_and_the_reason(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD.replace(*change, 1)))
    assert message in str(caught.value)


def test_a_missing_config_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_a_simulated_machine_resumes_from_the_outbox_instead_of_restarting_at_zero(tmp_path: Path) -> None:
    # Defect 12: the simulator restarting at 0 with the oracle quarantined its machine (counter_backwards).
    from oracle.config import ChainSettings, MachineSettings, OracleSettings
    from oracle.outbox import AcceptedReading, Outbox
    from oracle.sources.simulator import SimulatorSource
    from oracle.wiring import build_adapters

    settings = OracleSettings(
        chain=ChainSettings(relayer_dev_account=3),
        outbox=tmp_path / "o.sqlite",
        machines=[MachineSettings(name="sim-1", machine_id="sim-1", source="simulator", signing="device")],
    )
    box = Outbox(settings.outbox)
    box.accept_many(
        [
            AcceptedReading(
                machine="sim-1",
                machine_id=b"\1" * 32,
                lease_id=7,
                counter=512,
                runtime=90,
                timestamp=1,
                r=b"",
                vs=b"",
                device_counter=512,
                device_runtime=90,
                received_at=0.0,
            )
        ]
    )
    box.close()
    sources, _ = build_adapters(settings)
    (source,) = sources
    assert isinstance(source, SimulatorSource)
    reading = source.machines[0].reading()
    assert reading["counter"] >= 512 and reading["runtime"] >= 90
