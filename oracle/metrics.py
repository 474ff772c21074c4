"""Prometheus metrics and the /healthz endpoint, on one small HTTP server bound to 127.0.0.1 by default."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("oracle_readings_received", "Telemetry messages received", ["machine"], registry=r)
        self.signed = Counter(
            "oracle_readings_signed",
            "Reports signed when sent (gateway signing) or verified on receipt (device signing)",
            registry=r,
        )
        self.submitted = Counter("oracle_readings_submitted", "Readings sent on chain in a batch", registry=r)
        self.confirmed = Counter(
            "oracle_readings_confirmed", "Readings settled or stale on chain", ["outcome"], registry=r
        )
        self.rejected = Counter("oracle_readings_rejected", "Readings refused, by reason", ["reason"], registry=r)
        self.transactions = Counter("oracle_transactions", "Batch transactions by event", ["event"], registry=r)
        self.reopened = Counter(
            "oracle_readings_reopened",
            "Readings settled that the chain lost (node restored from an older state, deep reorg), sent again",
            registry=r,
        )
        self.outbox_depth = Gauge("oracle_outbox_depth", "Readings pending or in flight", registry=r)
        self.commands = Counter("oracle_commands", "Lock/unlock commands sent", ["command"], registry=r)
        self.latency = Histogram(
            "oracle_reading_to_settled_seconds",
            "From receiving a reading to its settlement",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.dropped = Counter(
            "oracle_messages_dropped",
            "Messages a source dropped before the intake (its queue full), by source",
            ["source"],
            registry=r,
        )
        self.chain_reachable = Gauge(
            "oracle_chain_reachable", "1 while the node answers within the RPC timeout", registry=r
        )
        self.head_age = Gauge(
            "oracle_chain_head_age_seconds", "Seconds since the node last answered with its head block", registry=r
        )
        self.head = Gauge("oracle_chain_head_block", "The chain's head block as last seen", registry=r)
        self.broker_connected = Gauge(
            "oracle_broker_connected",
            "1 while every MQTT source is connected to its broker (1 without MQTT sources)",
            registry=r,
        )
        self.counter_seen = Gauge(
            "oracle_machine_counter_seen",
            "A machine's last counter accepted (as reported on chain)",
            ["machine"],
            registry=r,
        )
        self.counter_on_chain = Gauge(
            "oracle_machine_counter_on_chain",
            "The counter the lease contract holds for the machine's lease",
            ["machine"],
            registry=r,
        )
        self.unbilled = Gauge(
            "oracle_machine_unbilled_units",
            "Units seen and not yet billed on chain (seen minus on chain): the alarm when it grows",
            ["machine"],
            registry=r,
        )
        self.last_settlement = Gauge(
            "oracle_last_settlement_timestamp", "Unix time of the last reading settled on chain", registry=r
        )
        self.quarantined = Gauge(
            "oracle_quarantined_machines", "Machines quarantined until `oracle rebaseline`", registry=r
        )
        self.restarts = Gauge("oracle_restarts", "Starts of the oracle on this outbox, minus the first", registry=r)
        self.preflight_findings = Gauge(
            "oracle_preflight_findings", "Preflight findings, by check", ["check"], registry=r
        )
        self.held = Counter(
            "oracle_readings_held",
            "Readings held back instead of sent, by reason (awaiting_chain_time: dated after the chain's time; "
            "implausible_on_chain: the lease would flag them)",
            ["reason"],
            registry=r,
        )
        self.waiting = Gauge(
            "oracle_readings_waiting",
            "Pending readings held back or to be sent again, by reason code",
            ["reason"],
            registry=r,
        )
        self.last_loop = time.time()
        self.chain_ok = False
        self.last_head_at: float | None = None
        self.broker_ok: bool | None = None
        """None: no MQTT source."""
        self.problems: list[str] = []
        """Preflight findings and other lasting conditions an operator must see in /healthz."""
        self.head_stale_s = 10.0

    def health(self) -> dict[str, object]:
        now = time.time()
        age = now - self.last_loop
        head_age = None if self.last_head_at is None else round(now - self.last_head_at, 3)
        problems = list(self.problems)
        if not self.chain_ok:
            problems.append("chain unreachable: readings wait in the outbox")
        elif head_age is not None and head_age > self.head_stale_s:
            problems.append(f"node has not answered for {head_age:.0f} s")
        if self.broker_ok is False:
            problems.append("MQTT broker disconnected")
        if age >= 30:
            problems.append(f"submit loop stalled for {age:.0f} s")
        return {
            "ok": not problems,
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "chain_reachable": self.chain_ok,
            "head_age_seconds": head_age,
            "broker_connected": self.broker_ok,
            "seconds_since_last_loop": round(age, 3),
        }


class MetricsServer:
    """Serves /metrics (Prometheus text) and /healthz (JSON; 200 healthy, 503 not) from a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        outer = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, status, kind = generate_latest(outer.registry), 200, CONTENT_TYPE_LATEST
                elif self.path == "/healthz":
                    health = outer.health()
                    body, status, kind = json.dumps(health).encode(), 200 if health["ok"] else 503, "application/json"
                else:
                    body, status, kind = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="oracle-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
