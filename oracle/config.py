"""Oracle configuration: a TOML file plus ORACLE_* environment overrides (``ORACLE_CHAIN__RPC_URL=…``),
validated at start so a bad config fails naming the field and the reason."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from millchain.errors import ConfigError
from millchain.signers.config import SignerConfig
from millchain.types import to_bytes32

_TOML_FILE: ContextVar[Path | None] = ContextVar("oracle_toml_file", default=None)
"""The file load_config is reading; settings built directly (tests, embedding) read no file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainSettings(_Strict):
    network: str = "anvil"
    rpc_url: str | None = None
    deployments: Path | None = None
    """Folder with EquipmentLease.json [default: deployments/<network>/ of the project]."""
    lease_contract: str | None = None
    """EquipmentLease address, overriding the deployment record."""
    relayer_keystore: Path | None = None
    """Encrypted key that pays gas (password: $ORACLE_RELAYER_PASSWORD). Never a device key."""
    relayer_dev_account: int | None = Field(default=None, ge=0, lt=10)
    """On local development chains only: a development account index as relayer instead of a keystore."""
    confirmations: int = Field(default=1, ge=1, le=64)
    stuck_blocks: int = Field(default=3, ge=1)
    """A transaction not mined after this many new blocks is replaced with higher fees."""
    fee_bump_percent: float = Field(default=12.5, ge=12.5, le=200)
    poll_interval_s: float = Field(default=0.2, gt=0, le=10)

    @model_validator(mode="after")
    def _one_relayer(self) -> ChainSettings:
        if (self.relayer_keystore is None) == (self.relayer_dev_account is None):
            raise ValueError("set exactly one of relayer_keystore or relayer_dev_account")
        return self


class MqttSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, gt=0, lt=65536)
    topic_prefix: str = "millchain/machines"
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    """The oracle's MQTT client id, fixed so the broker keeps its session (and the messages published while it
    is down) across restarts. Default: derived from the outbox path, stable for one installation. Must be unique
    per broker."""
    persistent_session: bool = True
    """clean_session false + QoS 1 + acknowledgement after the outbox commit (see the operator guide)."""


class OpcUaSettings(_Strict):
    endpoint: str
    counter_node: str = "ns=2;s=Machine.Counter"
    runtime_node: str = "ns=2;s=Machine.RuntimeSeconds"
    locked_node: str | None = "ns=2;s=Machine.Locked"
    mode: Literal["subscription", "polling"] = "subscription"
    interval_s: float = Field(default=1.0, gt=0)
    signed_reading_node: str | None = None
    """A device-signed machine's String node holding its signed reading as JSON (the MQTT payload, with
    ``signature`` and ``leaseId``); read every interval_s instead of counter_node and runtime_node."""


class MachineSettings(_Strict):
    name: str = Field(min_length=1, max_length=64)
    machine_id: str
    """The MachineRegistry id: a label of at most 32 bytes or 0x + 64 hex."""
    source: Literal["mqtt", "opcua", "simulator"] = "mqtt"
    signing: Literal["gateway", "device"] = "gateway"
    """gateway: the oracle holds the device key and signs; device: the machine signs, the oracle verifies."""
    device_keystore: Path | None = None
    device_signer: SignerConfig | None = None
    """gateway signing with a P-256 key held elsewhere than a keystore: ``{backend = "tpm", tcti, handle}`` (the
    gateway's TPM), ``{backend = "tpm", tcti, key_file}`` (a TPM-wrapped key) or ``{backend = "software-p256",
    key_file}``; instead of device_keystore."""
    lease_id: str | None = None
    """Pin a lease (hex); default: the machine's active lease on chain, followed as leases change."""
    opcua: OpcUaSettings | None = None
    simulator_rate_per_hour: int = Field(default=600, gt=0)

    @field_validator("machine_id")
    @classmethod
    def _machine_id(cls, value: str) -> str:
        try:
            to_bytes32(value, what="machine_id")
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _keys_and_source(self) -> MachineSettings:
        if self.signing == "gateway" and (self.device_keystore is None) == (self.device_signer is None):
            raise ValueError(f"machine {self.name}: gateway signing needs device_keystore or device_signer (one)")
        if self.device_signer is not None and self.device_signer.backend == "software-secp256k1":
            raise ValueError(f"machine {self.name}: a secp256k1 key goes in device_keystore; device_signer is for "
                             "P-256 keys (backend tpm or software-p256)")  # fmt: skip
        if self.source == "opcua" and self.opcua is None:
            raise ValueError(f"machine {self.name}: source opcua needs an [machines.opcua] table")
        return self

    @property
    def machine_bytes(self) -> bytes:
        return to_bytes32(self.machine_id, what="machine_id")


class OracleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORACLE_", env_nested_delimiter="__", extra="forbid")

    chain: ChainSettings
    machines: list[MachineSettings] = Field(min_length=1)
    mqtt: MqttSettings = MqttSettings()
    outbox: Path = Path("oracle-outbox.sqlite")
    batch_window_ms: int = Field(default=500, ge=10, le=60_000)
    max_batch: int = Field(default=200, ge=1, le=500)
    max_clock_skew_s: int = Field(default=300, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, lt=65536)
    """0 disables the metrics and health endpoint."""
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    outbox_retention_hours: float = Field(default=24.0, gt=0)
    """Settled and superseded readings older than this are pruned (each lease's newest settled one is kept, and
    every pending, in-flight or quarantined reading)."""
    simulator_interval_s: float = Field(default=1.0, gt=0)

    @field_validator("machines")
    @classmethod
    def _unique(cls, machines: list[MachineSettings]) -> list[MachineSettings]:
        for attr in ("name", "machine_id"):
            seen: set[str] = set()
            for machine in machines:
                value = getattr(machine, attr)
                if value in seen:
                    raise ValueError(f"two machines have {attr} {value!r}")
                seen.add(value)
        return machines

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, the file over defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _TOML_FILE.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def machine(self, name: str) -> MachineSettings | None:
        return next((m for m in self.machines if m.name == name), None)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "config"
    return f"{where}: {error['msg']}"


def load_config(path: Path, **overrides: Any) -> OracleSettings:
    """Read ``path`` (TOML) with environment overrides; a ConfigError lists every bad field."""
    if not path.is_file():
        raise ConfigError(f"oracle config {path} does not exist")
    token = _TOML_FILE.set(path)
    try:
        settings = OracleSettings(**overrides)
    except ValidationError as exc:
        details = "; ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"invalid oracle config {path}: {details}") from exc
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"invalid oracle config {path}: {exc}") from exc
    finally:
        _TOML_FILE.reset(token)
    base = path.resolve().parent
    return _resolve_paths(settings, base)


def _resolve_paths(settings: OracleSettings, base: Path) -> OracleSettings:
    """Relative paths in the file are relative to the file, not to wherever the oracle was started."""

    def fix(value: Path | None) -> Path | None:
        return None if value is None or value.is_absolute() else base / value

    chain = settings.chain.model_copy(
        update={
            "deployments": fix(settings.chain.deployments) or settings.chain.deployments,
            "relayer_keystore": fix(settings.chain.relayer_keystore) or settings.chain.relayer_keystore,
        }
    )
    machines = [
        m.model_copy(update={"device_keystore": fix(m.device_keystore) or m.device_keystore}) for m in settings.machines
    ]
    return settings.model_copy(
        update={"chain": chain, "machines": machines, "outbox": fix(settings.outbox) or settings.outbox}
    )
