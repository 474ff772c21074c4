"""Quality control on a real anvil node: the same scenario as on the embedded chain (gas estimated by the node,
reverts decoded from eth_estimateGas), the demo story played twice on one chain, and alerts forwarded to a real
Mosquitto broker by ``qc watch --mqtt`` run as its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from millchain.node import AnvilNode
from millchain.project import Project
from millchain.quality import AlertWatcher, MqttForwarder, org_id, play_quality_story
from millchain.session import Session
from tests.contracts.test_quality_scenario import EXPECTED, build_world, run_scenario
from tests.oracle_fixtures import MosquittoBroker

pytestmark = pytest.mark.integration

def test_the_scenario_on_anvil_matches_the_embedded_chain(anvil_session: Session) -> None:
    anvil_session.deploy()
    world = build_world(anvil_session)
    assert world.gas is None  # estimated by the node: reverts surface from eth_estimateGas
    assert run_scenario(world) == EXPECTED


def test_the_demo_story_plays_twice_on_one_anvil_chain(anvil_session: Session) -> None:
    anvil_session.deploy()
    first = play_quality_story(anvil_session, say=lambda *a: None)
    second = play_quality_story(anvil_session, say=lambda *a: None)
    assert first["claim"]["paid"] == second["claim"]["paid"] == 350_000_000
    assert (first["claim"]["id"], second["claim"]["id"]) == (1, 2)
    assert first["affected"] == ["axle-supply", "mill-plant", "tractor-oem", "regulator"]
    assert first["disclosed_field"]["verified_on_chain"]


def _subscribe(host: str, port: int, topic: str) -> tuple[list[dict[str, object]], threading.Event, object]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    messages: list[dict[str, object]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: messages.append(json.loads(message.payload))
    client.on_subscribe = lambda *_: ready.set()
    client.connect(host, port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    assert ready.wait(10)
    return messages, ready, client


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_alerts_reach_an_mqtt_topic(anvil_session: Session, mosquitto: MosquittoBroker) -> None:
    host, port = mosquitto.host, mosquitto.port
    messages, _, subscriber = _subscribe(host, port, "plant/qc/alerts")
    anvil_session.deploy()
    play_quality_story(anvil_session, say=lambda *a: None)
    from millchain.quality import QualityClient

    watcher = AlertWatcher(QualityClient(anvil_session), org_id("regulator"), from_block=0)
    forwarder = MqttForwarder(host, port, "plant/qc/alerts")
    try:
        notices = watcher.poll()
        for notice in notices:
            forwarder.send(notice)
    finally:
        forwarder.close()
    _wait_for(lambda: len(messages) == len(notices))
    assert [m["kind"] for m in messages] == ["raised"] + ["acknowledged"] * 4
    assert {m["org"] for m in messages} == {"regulator"}
    subscriber.loop_stop()  # type: ignore[attr-defined]


def test_qc_watch_process_forwards_live_alerts_to_mqtt(compiled: Project, anvil: AnvilNode,
                                                       mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    host, port = mosquitto.host, mosquitto.port
    messages, _, subscriber = _subscribe(host, port, "oem/alerts")
    env = {**os.environ, "MILLCHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments")}
    from millchain.chain import connect

    session = Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
    session.deploy()
    play_quality_story(session, say=lambda *a: None)  # organisations exist; this first story is history
    live_from = session.chain.w3.eth.block_number + 1
    cmd = [sys.executable, "-m", "millchain", "qc", "watch", "--org", "tractor-oem", "--network", "anvil", "--rpc",
           anvil.url, "--mqtt", f"mqtt://{host}:{port}", "--topic", "oem/alerts", "--interval", "0.1", "--max", "5",
           "--from-block", str(live_from), "--json"]
    watch = subprocess.Popen(cmd, env=env, cwd=compiled.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        # The second story happens while the watcher starts up or polls: --from-block makes either case exact.
        play_quality_story(session, say=lambda *a: None)
        out, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    assert [n["kind"] for n in printed] == ["raised"] + ["acknowledged"] * 4
    _wait_for(lambda: len(messages) == 5)
    assert messages == printed
    subscriber.loop_stop()  # type: ignore[attr-defined]
