"""MQTT: machines publish telemetry to ``{prefix}/{machine}/telemetry``; the oracle publishes lock / unlock
to ``{prefix}/{machine}/command`` (QoS 1, retained, so a machine that reconnects sees its latest state).

paho-mqtt runs its network loop in its own thread and reconnects by itself with exponential backoff. Its
callbacks never touch asyncio objects directly: messages go through a bounded hand-off (:class:`_Inbox`)
filled on the paho thread and drained on the event loop, so a flood costs at most ``queue_size`` messages
of memory (beyond that the newest are dropped and counted in :attr:`MqttSource.dropped`). Counters are
cumulative, so a dropped reading is superseded by the machine's next one; nothing is lost but freshness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from oracle.sources import Command, CommandDeliveryError, Emit, LogThrottle, Telemetry

__all__ = [
    "DEFAULT_PREFIX",
    "MqttCommander",
    "MqttSource",
    "command_payload",
    "command_topic",
    "parse_command",
    "telemetry_topic",
]

logger = logging.getLogger("oracle.sources.mqtt")

DEFAULT_PREFIX = "millchain/machines"
COMMANDS: tuple[Command, ...] = ("lock", "unlock")


def _check_segment(value: str, what: str) -> str:
    if not value or any(c in value for c in "/+#\0"):
        raise ValueError(f"{what} {value!r} must be non-empty and free of '/', '+', '#' (one MQTT topic level)")
    return value


def _check_prefix(prefix: str) -> str:
    if not prefix or any(c in prefix for c in "+#\0") or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"topic prefix {prefix!r} must be non-empty, wildcard-free, without a leading or trailing '/'")
    return prefix


def telemetry_topic(prefix: str, machine: str) -> str:
    return f"{prefix}/{machine}/telemetry"


def command_topic(prefix: str, machine: str) -> str:
    return f"{prefix}/{machine}/command"


def command_payload(command: Command, lease_id: int, reason: str, issued_at: int | None = None) -> bytes:
    """The JSON a machine receives on its command topic."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    body = {
        "command": command,
        "leaseId": f"0x{lease_id:x}",
        "reason": reason,
        "issuedAt": int(time.time()) if issued_at is None else issued_at,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def parse_command(payload: bytes) -> tuple[Command, int, str, int] | None:
    """(command, lease id, reason, issuedAt) from a command message, or None if it is not a valid one
    (what a machine's firmware does: ignore what it cannot understand)."""
    try:
        body = json.loads(payload)
        command, lease_hex = body["command"], body["leaseId"]
        reason, issued_at = body.get("reason", ""), body.get("issuedAt", 0)
        if (
            command not in COMMANDS
            or not isinstance(lease_hex, str)
            or not lease_hex.startswith("0x")
            or not isinstance(reason, str)
            or isinstance(issued_at, bool)
            or not isinstance(issued_at, int)
        ):
            return None
        return command, int(lease_hex, 16), reason, issued_at
    except (ValueError, TypeError, KeyError):
        return None


def make_client(
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    clean_session: bool = True,
    reconnect_delay: tuple[int, int] = (1, 2),
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client (callback API v2, MQTT 3.1.1) set up the way every millchain MQTT endpoint wants it:
    automatic reconnection with exponential backoff, exceptions in callbacks contained."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=True,
        manual_ack=manual_ack,
    )
    # Our callbacks catch their own errors; this is the backstop that keeps the network thread alive.
    client.suppress_exceptions = True
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set_context(tls)
    client.reconnect_delay_set(*reconnect_delay)
    return client


def _default_client_id(role: str) -> str:
    # Client ids must be unique per broker: two clients sharing one kick each other off forever.
    return f"millchain-{role}-{uuid.uuid4().hex[:12]}"


class _Inbox:
    """Hand-off from the paho thread to the event loop, bounded at ``maxsize`` pending messages.

    ``put`` runs on the paho thread and never blocks: over the bound it drops the message and counts it.
    The loop is woken only when the queue goes from empty to non-empty, so a burst costs one cross-thread
    call, not one per message.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("queue_size must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[Telemetry] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._wake_pending = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop
            self._ready = asyncio.Event()
            self._wake_pending = False

    def put(self, item: Telemetry) -> bool:
        with self._lock:
            if len(self._items) >= self.maxsize:
                self.dropped += 1
                return False
            self._items.append(item)
            if self._wake_pending or self._loop is None or self._ready is None:
                return True
            self._wake_pending = True
            loop, ready = self._loop, self._ready
        with contextlib.suppress(RuntimeError):  # the loop closed under us at shutdown: nobody is left to read
            loop.call_soon_threadsafe(ready.set)
        return True

    async def get(self) -> Telemetry:
        """The oldest waiting message; one at a time, so what the core holds counts against the bound."""
        assert self._ready is not None, "bind() first"
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                # Empty: the next put must wake us (it sees the flag down and schedules a set()).
                self._wake_pending = False
                self._ready.clear()
            await self._ready.wait()

    def __len__(self) -> int:
        return len(self._items)


class MqttSource:
    """Telemetry from machines publishing to ``{topic_prefix}/{machine}/telemetry`` (QoS 1).

    By default one wildcard subscription ``{topic_prefix}/+/telemetry`` covers every machine, so messages
    from machines missing from the config also surface (machine = the topic's machine level) and the core
    counts them as unknown. ``wildcard=False`` subscribes to the configured machines' topics only (for
    brokers whose ACLs forbid wildcards).

    :attr:`dropped` counts messages refused because ``queue_size`` messages were already waiting for the
    core; :attr:`received` counts the rest. :attr:`connected` says whether the broker session is up.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic_prefix: str = DEFAULT_PREFIX,
        *,
        machines: Sequence[str] = (),
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        wildcard: bool = True,
        queue_size: int = 10_000,
        keepalive: int = 30,
        reconnect_delay: tuple[int, int] = (1, 2),
        clock: Callable[[], float] = time.time,
        persistent: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.topic_prefix = _check_prefix(topic_prefix)
        self.machines = tuple(_check_segment(m, "machine name") for m in machines)
        if persistent and not client_id:
            raise ValueError("a persistent session needs a fixed client_id (the broker keeps the session under it)")
        self.client_id = client_id or _default_client_id("oracle")
        self.persistent = persistent
        """A persistent session (clean_session false) with acknowledgement after the core has committed each
        message (paho's manual ack): messages published while the oracle is down, or received and not yet
        committed when it died, are delivered again when it reconnects."""
        self.wildcard = wildcard
        self.keepalive = keepalive
        self._auth = (username, password)
        self._tls = tls
        self._reconnect_delay = reconnect_delay
        self._clock = clock
        self._topics = {telemetry_topic(self.topic_prefix, m): m for m in self.machines}
        self._inbox = _Inbox(queue_size)
        self._throttle = LogThrottle(logger)
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self.received = 0
        self.connects = 0

    @property
    def dropped(self) -> int:
        return self._inbox.dropped

    @property
    def pending(self) -> int:
        """Messages received and waiting for the core (at most ``queue_size``)."""
        return len(self._inbox)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriptions(self) -> list[str]:
        if self.wildcard:
            return [telemetry_topic(self.topic_prefix, "+")]
        return list(self._topics)

    def machine_of(self, topic: str) -> str:
        """The machine a telemetry topic belongs to (the topic itself if it does not have our shape)."""
        known = self._topics.get(topic)
        if known is not None:
            return known
        head, tail = self.topic_prefix + "/", "/telemetry"
        if topic.startswith(head) and topic.endswith(tail) and len(topic) > len(head) + len(tail):
            return topic[len(head) : -len(tail)]
        return topic

    async def run(self, emit: Emit) -> None:
        self._inbox.bind(asyncio.get_running_loop())
        client = make_client(
            self.client_id,
            username=self._auth[0],
            password=self._auth[1],
            tls=self._tls,
            reconnect_delay=self._reconnect_delay,
            clean_session=not self.persistent,
            manual_ack=self.persistent,
        )
        self._client = client
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        logger.info(
            "MQTT source connecting to %s:%d, subscribing %s",
            self.host,
            self.port,
            ", ".join(self.subscriptions) or "(nothing)",
        )
        try:
            while True:
                telemetry = await self._inbox.get()
                try:
                    await emit(telemetry)
                except Exception:
                    # A core bug must not take the adapter down for every other machine.
                    self._throttle.log(
                        logging.ERROR,
                        "emit",
                        "the core failed to take telemetry from %s",
                        telemetry.machine,
                        exc_info=True,
                    )
        finally:
            self._connected.clear()
            client.disconnect()
            # loop_stop joins the network thread, which may sit in a reconnect wait for up to a second.
            await asyncio.to_thread(client.loop_stop)

    # --- paho thread ---------------------------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._throttle.log(
                logging.WARNING, "connect", "broker %s:%d refused the connection: %s", self.host, self.port, reason
            )
            return
        self.connects += 1
        self._throttle.reset("connect")
        self._throttle.reset("disconnect")
        topics = self.subscriptions
        if topics:
            rc, _ = client.subscribe([(topic, 1) for topic in topics])
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._throttle.log(logging.ERROR, "subscribe", "subscribe failed: %s", mqtt.error_string(rc))
        self._connected.set()
        logger.info("MQTT source connected to %s:%d (connection %d)", self.host, self.port, self.connects)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._throttle.log(
            logging.WARNING, "connect", "cannot reach MQTT broker %s:%d; retrying with backoff", self.host, self.port
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if reason.is_failure:
            self._throttle.log(
                logging.WARNING, "disconnect", "lost MQTT broker %s:%d (%s); reconnecting", self.host, self.port, reason
            )

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Properties | None
    ) -> None:
        refused = [topic for topic, rc in zip(self.subscriptions, reasons, strict=False) if rc.is_failure]
        if refused:
            self._throttle.log(logging.ERROR, "subscribe", "broker refused subscriptions %s (check its ACL)", refused)

    def _acker(self, mid: int, qos: int) -> Callable[[], None] | None:
        """The acknowledgement of message ``mid`` for the core to call once it committed the message; it acks
        only on the connection the message came on (a redelivery after a reconnect is acked when it arrives)."""
        if not self.persistent or qos == 0:
            return None
        client, connection = self._client, self.connects

        def ack() -> None:
            if client is not None and self.connects == connection and self._connected.is_set():
                client.ack(mid, qos)

        return ack

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            ack = self._acker(message.mid, message.qos)
            telemetry = Telemetry(self.machine_of(message.topic), bytes(message.payload), self._clock(), ack)
        except Exception:
            self._throttle.log(logging.WARNING, "message", "unreadable MQTT message ignored", exc_info=True)
            if self.persistent and message.qos:
                client.ack(message.mid, message.qos)
            return
        if self._inbox.put(telemetry):
            self.received += 1
        else:
            # Dropped for good (counters are cumulative: the machine's next reading carries its units). Acked,
            # or the broker's in-flight window would fill with messages nobody will ever acknowledge.
            if ack is not None:
                ack()
            self._throttle.log(
                logging.WARNING,
                "dropped",
                "telemetry queue full (%d waiting): dropping new messages, %d so far",
                self._inbox.maxsize,
                self._inbox.dropped,
            )


class MqttCommander:
    """Publishes lock / unlock commands as retained QoS 1 messages and waits for the broker's PUBACK.

    Retained, so a machine that was offline sees its latest command when it reconnects; the latest one
    replaces the earlier, so sending a command again is harmless. :meth:`send` raises
    :class:`CommandDeliveryError` when the broker is unreachable or does not acknowledge within
    ``timeout``; the core retries. Connects lazily on the first send; :meth:`close` when done.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic_prefix: str = DEFAULT_PREFIX,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        keepalive: int = 30,
        reconnect_delay: tuple[int, int] = (1, 2),
    ) -> None:
        self.host = host
        self.port = port
        self.topic_prefix = _check_prefix(topic_prefix)
        self.client_id = client_id or _default_client_id("commander")
        self.timeout = timeout
        self.keepalive = keepalive
        self._auth = (username, password)
        self._tls = tls
        self._reconnect_delay = reconnect_delay
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._throttle = LogThrottle(logger)
        self.sent = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._client is not None:
            return
        client = make_client(
            self.client_id,
            username=self._auth[0],
            password=self._auth[1],
            tls=self._tls,
            reconnect_delay=self._reconnect_delay,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._connected.clear()
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    async def __aenter__(self) -> MqttCommander:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, machine: str, command: Command, lease_id: int, reason: str) -> None:
        _check_segment(machine, "machine name")
        payload = command_payload(command, lease_id, reason)
        await self.start()
        assert self._client is not None
        deadline = time.monotonic() + self.timeout
        # Wait briefly for a connection rather than queueing inside paho: a command queued while the broker
        # is down could surface long after the core has moved on and sent a newer one.
        await self._wait(self._connected.is_set, deadline, machine, command, "no connection to the broker")
        info = self._client.publish(command_topic(self.topic_prefix, machine), payload, qos=1, retain=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise CommandDeliveryError(machine, command, f"publish failed: {mqtt.error_string(info.rc)}")
        await self._wait(info.is_published, deadline, machine, command, "no PUBACK from the broker")
        self.sent += 1
        logger.info("sent %s to %s (lease 0x%x): %s", command, machine, lease_id, reason)

    async def _wait(self, done: Callable[[], bool], deadline: float, machine: str, command: str, failure: str) -> None:
        # Commands are rare: polling paho's thread-safe state with a short, growing sleep is simpler and
        # more robust than correlating message ids across threads.
        delay = 0.002
        while True:
            try:
                if done():
                    return
            except (ValueError, RuntimeError) as exc:  # paho: not queued / publish failed
                raise CommandDeliveryError(machine, command, str(exc)) from exc
            if time.monotonic() >= deadline:
                raise CommandDeliveryError(machine, command, f"{failure} within {self.timeout:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._throttle.log(
                logging.WARNING, "connect", "broker %s:%d refused the commander: %s", self.host, self.port, reason
            )
            return
        self._throttle.reset("connect")
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._throttle.log(
            logging.WARNING, "connect", "commander cannot reach MQTT broker %s:%d; retrying", self.host, self.port
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if reason.is_failure:
            self._throttle.log(
                logging.WARNING, "disconnect", "commander lost MQTT broker %s:%d (%s)", self.host, self.port, reason
            )
