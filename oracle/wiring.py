"""From the config to protocol adapters: one MQTT source and commander for the MQTT machines, an OPC UA
source and commander per OPC UA machine, one in-process simulator for simulated machines."""

from __future__ import annotations

import hashlib

from oracle.config import OracleSettings
from oracle.outbox import Outbox
from oracle.sources import Commander, Source
from oracle.sources.mqtt import MqttCommander, MqttSource
from oracle.sources.simulator import SimulatedMachine, SimulatorCommander, SimulatorSource


def default_client_id(settings: OracleSettings) -> str:
    """A client id fixed for one installation (its outbox) and distinct between installations on one broker."""
    digest = hashlib.sha256(str(settings.outbox.resolve()).encode()).hexdigest()[:16]
    return f"millchain-oracle-{digest}"


def _resume(settings: OracleSettings, names: list[str]) -> dict[str, tuple[int, int]]:
    """Where each simulated machine stood when the oracle last stopped: a simulator restarting at 0 would look
    like a machine reset (counter_backwards) and quarantine it."""
    if not names or not settings.outbox.exists():
        return {}
    outbox = Outbox(settings.outbox)
    try:
        states = {name: outbox.machine_state(name) for name in names}
    finally:
        outbox.close()
    return {name: (st.last_counter or 0, st.last_runtime or 0) for name, st in states.items()}


def build_adapters(settings: OracleSettings) -> tuple[list[Source], dict[str, Commander]]:
    sources: list[Source] = []
    commanders: dict[str, Commander] = {}
    mqtt_machines = [m.name for m in settings.machines if m.source == "mqtt"]
    if mqtt_machines:
        mqtt = settings.mqtt
        client_id = mqtt.client_id or default_client_id(settings)
        sources.append(
            MqttSource(
                mqtt.host,
                mqtt.port,
                mqtt.topic_prefix,
                machines=mqtt_machines,
                username=mqtt.username,
                password=mqtt.password,
                client_id=client_id,
                persistent=mqtt.persistent_session,
            )
        )
        commander = MqttCommander(
            mqtt.host, mqtt.port, mqtt.topic_prefix, username=mqtt.username, password=mqtt.password
        )
        commanders.update(dict.fromkeys(mqtt_machines, commander))
    for machine in settings.machines:
        if machine.source != "opcua":
            continue
        from oracle.sources.opcua import OpcUaCommander, OpcUaSource  # asyncua: imported only when used

        assert machine.opcua is not None  # enforced by MachineSettings
        opc = machine.opcua
        sources.append(
            OpcUaSource(
                opc.endpoint,
                machine.name,
                opc.counter_node,
                opc.runtime_node,
                opc.mode,
                opc.interval_s,
                signed_reading_node=opc.signed_reading_node,
            )
        )
        if opc.locked_node is not None:
            commanders[machine.name] = OpcUaCommander(opc.endpoint, machine.name, locked_node=opc.locked_node)
    simulated = []
    resume = _resume(settings, [m.name for m in settings.machines if m.source == "simulator"])
    for i, m in enumerate(settings.machines):
        if m.source == "simulator":
            counter, runtime = resume.get(m.name, (0, 0))
            simulated.append(
                SimulatedMachine(
                    m.name, m.simulator_rate_per_hour, seed=i, start_counter=counter, start_runtime=runtime
                )
            )
    if simulated:
        sources.append(SimulatorSource(simulated, settings.simulator_interval_s))
        simulator_commander = SimulatorCommander(simulated)
        commanders.update(dict.fromkeys((m.name for m in simulated), simulator_commander))
    return sources, commanders
