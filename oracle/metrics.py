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
        self.signed = Counter("oracle_readings_signed", "Reports signed when sent (gateway signing) or verified on "
                              "receipt (device signing)", registry=r)
        self.submitted = Counter("oracle_readings_submitted", "Readings sent on chain in a batch", registry=r)
        self.confirmed = Counter("oracle_readings_confirmed", "Readings settled or stale on chain", ["outcome"],
                                 registry=r)
        self.rejected = Counter("oracle_readings_rejected", "Readings refused, by reason", ["reason"], registry=r)
        self.transactions = Counter("oracle_transactions", "Batch transactions by event", ["event"], registry=r)
        self.outbox_depth = Gauge("oracle_outbox_depth", "Readings pending or in flight", registry=r)
        self.commands = Counter("oracle_commands", "Lock/unlock commands sent", ["command"], registry=r)
        self.latency = Histogram("oracle_reading_to_settled_seconds", "From receiving a reading to its settlement",
                                 buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=r)
        self.last_loop = time.time()
        self.chain_ok = False

    def health(self) -> dict[str, object]:
        age = time.time() - self.last_loop
        return {"ok": self.chain_ok and age < 30, "chain_reachable": self.chain_ok,
                "seconds_since_last_loop": round(age, 3)}


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
