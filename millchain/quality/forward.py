"""Delivering alert notices: to a webhook (HTTP POST) or an MQTT topic."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Protocol

from millchain.errors import ConfigError
from millchain.jsonable import model_json_line
from millchain.quality.models import AlertNotice, ForwardError


class Forwarder(Protocol):
    def send(self, notice: AlertNotice) -> None: ...

    def close(self) -> None: ...


class WebhookForwarder:
    """POSTs each notice as JSON to ``url`` (stdlib urllib); retries ``retries`` times, then raises."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook {url!r} must be an http:// or https:// URL")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = {"Content-Type": "application/json", "User-Agent": "millchain-qc-watch", **(headers or {})}

    def send(self, notice: AlertNotice) -> None:
        body = model_json_line(notice).encode()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if 200 <= response.status < 300:
                        return
                    last = ForwardError(f"webhook {self.url} answered HTTP {response.status}")
            except urllib.error.HTTPError as exc:  # 4xx/5xx arrive as exceptions
                last = ForwardError(f"webhook {self.url} answered HTTP {exc.code}")
                if 400 <= exc.code < 500 and exc.code != 429:
                    break  # the request itself is wrong: retrying cannot help
            except (urllib.error.URLError, OSError) as exc:
                last = ForwardError(f"webhook {self.url} unreachable: {exc}")
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        assert last is not None
        raise last

    def close(self) -> None:
        return None


class MqttForwarder:
    """Publishes each notice as JSON to ``topic`` on an MQTT broker (QoS 1), with paho-mqtt if installed."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic: str = "millchain/qc/alerts",
        *,
        qos: int = 1,
        client_id: str = "",
        timeout: float = 5.0,
    ) -> None:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as exc:
            raise ConfigError("MQTT forwarding needs paho-mqtt: pip install 'paho-mqtt>=2'") from exc
        if not topic or any(c in topic for c in "+#"):
            raise ConfigError(f"MQTT topic {topic!r} must be non-empty and contain no wildcards (+ or #)")
        self.topic = topic
        self.qos = qos
        self.timeout = timeout
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise ForwardError(f"MQTT broker {host}:{port} unreachable: {exc}") from exc
        self._client.loop_start()

    @classmethod
    def from_url(cls, url: str, topic: str) -> MqttForwarder:
        """``mqtt://host[:port]`` (or ``host[:port]``)."""
        rest = url.removeprefix("mqtt://")
        host, _, port = rest.partition(":")
        if not host or (port and not port.isdigit()):
            raise ConfigError(f"MQTT broker {url!r} is not mqtt://HOST[:PORT]")
        return cls(host, int(port or 1883), topic)

    def send(self, notice: AlertNotice) -> None:
        info = self._client.publish(self.topic, model_json_line(notice), qos=self.qos)
        try:
            info.wait_for_publish(timeout=self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise ForwardError(f"MQTT publish to {self.topic} failed: {exc}") from exc
        if not info.is_published():
            raise ForwardError(f"MQTT publish to {self.topic} not acknowledged within {self.timeout} s")

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
