"""The fault-injection harness: the oracle judged from the outside, the way an operator meets it.

The oracle runs as its own process (``python -m oracle --config …``) against a real anvil and a real Mosquitto;
the harness plays the machines (MQTT publishers it controls message by message), the faults (signals to the
oracle, the node and the broker) and the auditor, who believes only the chain: every settled unit is read back
from the lease's ``UsageSettled`` statement and compared with what the machines counted.

Nothing here imports the oracle's internals: a change inside the oracle cannot make these checks agree with it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from millchain.leasing import Lease, LeaseClient
from millchain.typed_data import DeviceSigner, UsageReport, UsageReportHasher, lease_domain
from millchain.types import machine_id
from tests.oracle_floor import DEVICE_PASSWORD, RELAYER, Floor

PREFIX = "millchain/machines"
"""The telemetry topic prefix the oracle listens on by default (docs/operator-guide.md)."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took, raises AssertionError naming ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------- the config


def write_oracle_config(
    floor: Floor,
    path: Path,
    *,
    rpc_url: str,
    mqtt_port: int,
    metrics_port: int,
    device_signed: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """An operator's oracle.toml for ``floor``: metrics on, outbox next to the file, ``device_signed`` machines
    in device mode (they sign their own reports), every other machine with its encrypted gateway key."""
    device_signed = set(device_signed)
    top = {
        "outbox": str(path.parent / "outbox.sqlite"),
        "metrics_port": metrics_port,
        "batch_window_ms": 100,
        **(extra or {}),
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in top.items()]
    lines += [
        "[chain]",
        'network = "anvil"',
        f"rpc_url = {json.dumps(rpc_url)}",
        f"deployments = {json.dumps(str(floor.deployments))}",
        f"relayer_dev_account = {RELAYER}",
        "poll_interval_s = 0.1",
    ]
    lines += ["[mqtt]", 'host = "127.0.0.1"', f"port = {mqtt_port}"]
    for name in floor.leases:
        lines += ["[[machines]]", f"name = {json.dumps(name)}", f"machine_id = {json.dumps(name)}"]
        if name in device_signed:
            lines.append('signing = "device"')
        else:
            lines.append(f"device_keystore = {json.dumps(str(floor.keystores[name]))}")
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- the oracle

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> ``{'name{label="v"}': value}`` (labels as exposed, in their order)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        key = match["name"] + (f"{{{match['labels']}}}" if match["labels"] else "")
        samples[key] = float(match["value"])
    return samples


@dataclass
class OracleProcess:
    """``python -m oracle --config …`` as a child process, as systemd would run it; stderr (JSON log lines)
    appended to ``log`` across restarts."""

    config: Path
    log: Path
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> OracleProcess:
        env = {**os.environ, "ORACLE_DEVICE_PASSWORD": DEVICE_PASSWORD}
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oracle", "--config", str(self.config), "--log-level", "INFO"],
                env=env,
                stdout=handle,
                stderr=handle,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "the oracle was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill9(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as `systemctl stop` does; returns the exit code (a hang past ``timeout`` is killed: -9)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return self.process.returncode

    def rss_kib(self) -> int:
        """Resident memory of the oracle process (VmRSS from /proc), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for pid {self.pid}")

    def log_bytes(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _get(self, path: str, timeout: float) -> tuple[int, bytes] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, TimeoutError):
            return None

    def healthz(self, timeout: float = 1.0) -> tuple[int, dict[str, Any]] | None:
        """(HTTP status, body) of /healthz, or None when nothing answers within ``timeout``."""
        got = self._get("/healthz", timeout)
        if got is None:
            return None
        try:
            body = json.loads(got[1])
        except ValueError:
            body = {"raw": got[1].decode(errors="replace")}
        return got[0], body

    def metrics(self, timeout: float = 2.0) -> dict[str, float]:
        got = self._get("/metrics", timeout)
        assert got is not None and got[0] == 200, f"/metrics did not answer: {got}\n{self.log_tail()}"
        return parse_metrics(got[1].decode())

    def wait_serving(self, timeout: float = 30.0) -> float:
        """Until /healthz answers at all (the process is up and serving); returns the seconds it took."""

        def serving() -> bool:
            if not self.alive():
                raise AssertionError(f"the oracle exited with {self.exit_code()}:\n{self.log_tail()}")
            return self.healthz(0.5) is not None

        return wait_for(serving, timeout, "the oracle to serve /healthz")

    def status(self) -> dict[str, Any]:
        """`python -m millchain oracle status --json`, as the operator would type it."""
        out = subprocess.run(
            [sys.executable, "-m", "millchain", "oracle", "status", "--config", str(self.config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "ORACLE_DEVICE_PASSWORD": DEVICE_PASSWORD},
        )
        assert out.returncode == 0, f"oracle status failed: {out.stderr[-2000:]}"
        parsed: dict[str, Any] = json.loads(out.stdout)
        return parsed


def rejected_by_reason(metrics: Mapping[str, float]) -> dict[str, float]:
    """``oracle_readings_rejected_total{reason=…}`` as {reason: count}."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        match = re.match(r'oracle_readings_rejected_total\{.*reason="([^"]*)".*\}', key)
        if match:
            out[match[1]] = out.get(match[1], 0.0) + value
    return out


# ---------------------------------------------------------------------------------------------- the machines


class Devices:
    """The machines' side of the broker: one paho client publishing what the test says, when it says.

    Like firmware it keeps QoS 1 messages while the broker is away and sends them when it is back
    (paho's queue), and reconnects quickly. :meth:`publish` waits for the broker's PUBACK."""

    def __init__(
        self, port: int, *, host: str = "127.0.0.1", prefix: str = PREFIX, client_id: str | None = None
    ) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"fault-devices-{random.getrandbits(32):08x}",
            clean_session=False,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)  # unbounded: a flood must not be shaped by the publisher
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10), f"the devices could not connect to the broker on {port}"

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}/telemetry"

    def publish(
        self,
        name: str,
        payload: bytes | Mapping[str, Any],
        *,
        qos: int = 1,
        retain: bool = False,
        wait: float | None = 10.0,
    ) -> mqtt.MQTTMessageInfo:
        """Publish on ``name``'s telemetry topic; with ``wait``, return once the broker acknowledged it."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        info = self.client.publish(self.topic(name), body, qos=qos, retain=retain)
        assert info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN), info.rc
        if wait is not None and qos > 0:
            info.wait_for_publish(wait)
            assert info.is_published(), f"the broker did not acknowledge a publish on {name} within {wait} s"
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Machine:
    """A machine's counters: cumulative units, runtime seconds, its own clock (whole seconds)."""

    def __init__(
        self,
        name: str,
        rng: random.Random,
        *,
        units_per_tick: tuple[int, int] = (1, 6),
        start: tuple[int, int] | None = None,
    ) -> None:
        self.name = name
        self.counter, self._runtime_base = (rng.randrange(0, 1000), 0) if start is None else start
        self.runtime = self._runtime_base
        self.units_per_tick = units_per_tick
        self.running = True
        self._rng = rng
        self._started = time.time()
        self.lock = threading.Lock()

    def tick(self) -> dict[str, int]:
        with self.lock:
            if self.running:
                self.counter += self._rng.randint(*self.units_per_tick)
                self.runtime = self._runtime_base + int(time.time() - self._started)
            return self.reading()

    def reading(self) -> dict[str, int]:
        return {"counter": self.counter, "runtime": self.runtime, "timestamp": int(time.time())}


class Line:
    """Machines producing and reporting every ``interval`` s from a thread, until :meth:`end_shift`."""

    def __init__(
        self,
        devices: Devices,
        names: Iterable[str],
        *,
        seed: int,
        interval: float = 0.2,
        units_per_tick: tuple[int, int] = (1, 6),
        start: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        """``start``: (counter, runtime) a machine continues from (a machine that reported before)."""
        rng = random.Random(seed)
        self.devices = devices
        self.machines = {
            name: Machine(
                name, random.Random(rng.random()), units_per_tick=units_per_tick, start=(start or {}).get(name)
            )
            for name in names
        }
        self.interval = interval
        self.last_info: dict[str, mqtt.MQTTMessageInfo] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-line", daemon=True)

    def start(self) -> Line:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for machine in self.machines.values():
                self.last_info[machine.name] = self.devices.publish(machine.name, machine.tick(), wait=None)

    def end_shift(self) -> dict[str, int]:
        """The last pieces of the shift: each machine makes a few more units, publishes that final reading once
        (acknowledged by the broker) and falls silent, as a machine switched off. The final reading carries units
        no earlier reading reported, so it is billed only if that one message is. Returns the final counters."""
        self._stop.set()
        self._thread.join(10)
        time.sleep(1.05)  # the final reading is stamped a second after the last one: the chain needs it newer
        finals = {}
        for machine in self.machines.values():
            final = machine.tick()
            with machine.lock:
                machine.running = False
            self.devices.publish(machine.name, final)
            finals[machine.name] = final["counter"]
        return finals

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


# ---------------------------------------------------------------------------------------------- the auditor


@dataclass
class Audit:
    """What the chain says about one lease, against what its machine counted."""

    name: str
    final: int
    lease: Lease
    anchor: int | None
    billed_units: int
    billed_amount: int
    lines: list[tuple[int, int]] = field(default_factory=list)
    """(counter, units) of each UsageSettled, in chain order."""

    @property
    def expected_units(self) -> int:
        return 0 if self.anchor is None else self.final - self.anchor

    def problems(self) -> list[str]:
        price = self.lease.terms.price_per_unit
        found = []
        if self.anchor is None:
            found.append(f"{self.name}: nothing settled on chain (final counter {self.final})")
            return found
        if self.lease.last_counter != self.final:
            found.append(
                f"{self.name}: chain counter {self.lease.last_counter} != machine's final {self.final} "
                f"({self.final - self.lease.last_counter:+d} units unbilled)"
            )
        if self.billed_units != self.expected_units:
            found.append(
                f"{self.name}: billed {self.billed_units} units != final {self.final} - anchor "
                f"{self.anchor} = {self.expected_units}"
            )
        if self.billed_amount != self.billed_units * price:
            found.append(f"{self.name}: billed {self.billed_amount} != {self.billed_units} units x {price}")
        if self.lease.earnings + self.lease.debt != self.expected_units * price:
            found.append(
                f"{self.name}: earnings {self.lease.earnings} + debt {self.lease.debt} != "
                f"{self.expected_units} x {price}"
            )
        for (before, _), (counter, units) in itertools.pairwise(self.lines):
            if counter < before or units != counter - before:
                found.append(
                    f"{self.name}: settled {units} units at counter {counter} after counter {before} "
                    "(a unit billed twice or skipped)"
                )
        return found


def audit(floor: Floor, finals: Mapping[str, int]) -> list[Audit]:
    """The chain's account of every lease in ``finals``: its state and its UsageSettled events (read straight
    from the logs: the SDK's statement also fetches every block's time, which an audit does not need)."""
    client = LeaseClient(floor.session)
    settled = client.contract.events.UsageSettled()
    audits = []
    for name, final in finals.items():
        lease_id = floor.leases[name]
        logs = sorted(
            settled.get_logs(argument_filters={"leaseId": lease_id}, from_block=0, to_block="latest"),
            key=lambda entry: (entry["blockNumber"], entry["logIndex"]),
        )
        lines = [(int(log["args"]["counter"]), int(log["args"]["units"]), int(log["args"]["amount"])) for log in logs]
        anchor = None if not lines else lines[0][0] - lines[0][1]
        audits.append(
            Audit(
                name=name,
                final=final,
                lease=client.get(lease_id),
                anchor=anchor,
                billed_units=sum(units for _, units, _ in lines),
                billed_amount=sum(amount for _, _, amount in lines),
                lines=[(counter, units) for counter, units, _ in lines],
            )
        )
    return audits


def assert_billed_exactly(floor: Floor, finals: Mapping[str, int]) -> None:
    """For every lease: billed on chain == (final device counter - anchor counter) x price, each unit once."""
    problems = [p for a in audit(floor, finals) for p in a.problems()]
    assert not problems, "billing differs from the machines' counters:\n" + "\n".join(problems)


def chain_counter(floor: Floor, name: str) -> int:
    return LeaseClient(floor.session).get(floor.leases[name]).last_counter


def chain_position(floor: Floor, name: str) -> tuple[int, int]:
    """(counter, runtime seconds) the chain last settled for ``name``'s lease: where its machine continues."""
    lease = LeaseClient(floor.session).get(floor.leases[name])
    return lease.last_counter, lease.last_runtime_seconds


def wait_chain_reaches(
    floor: Floor, finals: Mapping[str, int], timeout: float, what: str, oracle: OracleProcess | None = None
) -> float:
    """Until every lease's chain counter is at least its machine's final counter; fails at once (with its exit
    code and last log lines) if ``oracle`` dies meanwhile."""

    def reached() -> bool:
        if oracle is not None and not oracle.alive():
            raise AssertionError(
                f"the oracle exited with {oracle.exit_code()} while waiting for {what}:\n{oracle.log_tail(5)}"
            )
        return all(chain_counter(floor, n) >= c for n, c in finals.items())

    return wait_for(reached, timeout, what, interval=0.1)


def settle_then_audit(floor: Floor, finals: Mapping[str, int], timeout: float) -> float:
    """Wait up to ``timeout`` for the chain to reach ``finals``, then audit every lease (a timeout fails with
    the audit's account of what is unbilled, not just "timed out"); returns the seconds it took."""
    try:
        took = wait_chain_reaches(floor, finals, timeout, "the final counters to settle")
    except AssertionError:
        took = float("inf")
    assert_billed_exactly(floor, finals)
    return took


def relayer_in_flight(floor: Floor) -> bool:
    """A batch is broadcast and not mined yet: the relayer's pending nonce is ahead of its mined one."""
    w3 = floor.session.chain.w3
    relayer = floor.session.chain.account(RELAYER).address
    return bool(w3.eth.get_transaction_count(relayer, "pending") > w3.eth.get_transaction_count(relayer, "latest"))


def device_signer(floor: Floor, name: str, key: bytes | None = None) -> Callable[[dict[str, int]], dict[str, Any]]:
    """What a device-signed machine's firmware does to a reading: add ``leaseId`` and an EIP-2098 signature over
    the EIP-712 UsageReport, with the machine's registered key (or ``key``, to forge one)."""
    session = floor.session
    lease = session.contract("EquipmentLease")
    signer = DeviceSigner(
        key or floor.device_keys[name], UsageReportHasher(lease_domain(session.chain.chain_id, lease.address))
    )
    lease_id = floor.leases[name]

    def sign(reading: dict[str, int]) -> dict[str, Any]:
        signed = signer.sign(
            UsageReport(
                lease_id=lease_id,
                machine_id=machine_id(name),
                counter=reading["counter"],
                runtime_seconds=reading["runtime"],
                timestamp=reading["timestamp"],
            )
        )
        return {
            **reading,
            "leaseId": hex(lease_id),
            "signature": {"r": "0x" + signed.r.hex(), "vs": "0x" + signed.vs.hex()},
        }

    return sign


def reports_trouble(health: tuple[int, dict[str, Any]] | None, *words: str) -> bool:
    """Whether a /healthz answer tells the operator something is wrong: a non-200 status, ``ok: false``, a
    ``status`` other than ok/healthy, or a false boolean whose key names one of ``words`` ("chain", "broker").
    No answer at all is not a report: an operator's probe learns nothing from a timeout but that it timed out."""
    if health is None:
        return False
    status, body = health
    if status != 200 or body.get("ok") is False:
        return True
    if str(body.get("status", "ok")).lower() not in ("ok", "healthy"):
        return True

    def walk(value: Any, key: str = "") -> bool:
        if isinstance(value, dict):
            return any(walk(v, f"{key}.{k}".lower()) for k, v in value.items())
        return value is False and any(word in key for word in words)

    return walk(body)


def next_second() -> int:
    """Sleep into the next whole second and return it: a reading stamped then is newer than any before."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.01)
    return int(time.time())
