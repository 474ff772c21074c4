"""millchain qc alerts | ack | watch: alerts along the lineage, acknowledged and followed live."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import click

from millchain.cli.common import console, emit_json, err_console, json_option, network_options, table
from millchain.cli.qc.common import quality_client, receipt_line
from millchain.errors import MillchainError
from millchain.jsonable import model_json_line
from millchain.quality import (
    AlertNotice,
    AlertRef,
    AlertWatcher,
    Forwarder,
    MqttForwarder,
    WebhookForwarder,
    org_id,
)
from millchain.session import Session
from millchain.types import label_of


@click.command("alerts")
@click.option("--org", "org_label", default=None, help="Only alerts concerning this organisation.")
@click.option("--pending", is_flag=True, help="Only alerts --org (or anyone concerned) has not acknowledged.")
@click.option("--active", is_flag=True, help="Leave out alerts superseded by a correction.")
@network_options
@json_option
def alerts(org_label: str | None, pending: bool, active: bool, session: Session, as_json: bool) -> None:
    """List alerts with the organisations they concern (from the lineage) and who has acknowledged.

    Read from the event index when one is configured for this chain (stderr says which, and why not)."""
    from millchain.index.logs import quality_reader  # the index's modules only for the commands that read it

    with quality_reader(session, "alerts") as (client, source):
        found = client.alerts(org=org_id(org_label) if org_label else None, pending_only=pending, active_only=active)
    err_console.print(source, highlight=False, markup=False, soft_wrap=True)  # after any error: that is one line
    if as_json:
        emit_json([a.model_dump(mode="json") for a in found])
        return
    table(
        "alerts",
        ["alert", "severity", "outcome", "producer", "defects", "concerns", "not acknowledged", "superseded by"],
        [
            (
                a.ref,
                a.severity.name,
                a.outcome.name,
                a.producer,
                f"{a.defects}/{a.sample_size}",
                ", ".join(a.affected),
                ", ".join(a.pending) or "-",
                a.superseded_by or "",
            )
            for a in found
        ],
    )


@click.command("ack")
@click.argument("alert_ref", metavar="LOT#SEQ")
@network_options
@json_option
def ack(alert_ref: str, session: Session, as_json: bool) -> None:
    """Acknowledge alert LOT#SEQ for the sender's organisation."""
    client = quality_client(session)
    ref = AlertRef.parse(alert_ref)
    org_of_sender = client.my_organisation()
    receipt = client.acknowledge(ref)
    receipt_line(receipt, as_json)
    at = client.acknowledged_at(ref, org_of_sender)
    if as_json:
        emit_json({"alert": str(ref), "org": label_of(org_of_sender), "acknowledged_at": at})
    else:
        console.print(f"{label_of(org_of_sender)} acknowledged {ref} at {at}")


@click.command("watch")
@click.option("--org", "org_label", required=True, help="The organisation whose alerts to follow.")
@click.option("--webhook", default=None, metavar="URL", help="POST each notice as JSON to URL.")
@click.option("--mqtt", default=None, metavar="mqtt://HOST[:PORT]", help="Publish each notice to an MQTT broker.")
@click.option("--topic", default="millchain/qc/alerts", show_default=True, help="MQTT topic.")
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    default=None,
    help="Also report what happened from this block on [default: only new events].",
)
@click.option(
    "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="Seconds between polls."
)
@click.option("--max", "max_notices", type=click.IntRange(min=1), default=None, help="Stop after N notices.")
@network_options
@json_option
def watch(
    org_label: str,
    webhook: str | None,
    mqtt: str | None,
    topic: str,
    from_block: int | None,
    interval: float,
    max_notices: int | None,
    session: Session,
    as_json: bool,
) -> None:
    """Follow alerts concerning --org as they happen: raised, exposed (a new lot consumes an alerted one),
    acknowledged, superseded. Ctrl-C (or SIGTERM) stops."""
    client = quality_client(session)
    org_bytes = org_id(org_label)
    client.organisation(org_bytes)  # an unknown organisation fails here, not silently forever
    forwarders: list[Forwarder] = []
    if webhook:
        forwarders.append(WebhookForwarder(webhook))
    if mqtt:
        forwarders.append(MqttForwarder.from_url(mqtt, topic))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if _main_thread() else None
    watcher = AlertWatcher(client, org_bytes, from_block=from_block)
    if not as_json:
        err_console.print(f"watching alerts for {org_label} on {session.chain.network} (Ctrl-C stops)")
    try:
        watcher.run(_deliver(forwarders, as_json), poll_interval=interval, stop=stop, max_notices=max_notices)
    except KeyboardInterrupt:
        pass
    finally:
        for forwarder in forwarders:
            forwarder.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _deliver(forwarders: list[Forwarder], as_json: bool) -> Callable[[AlertNotice], None]:
    def deliver(notice: AlertNotice) -> None:
        if as_json:
            click.echo(model_json_line(notice))  # the very body the forwarders send
        else:
            extra = {
                "acknowledged": f" by {notice.by}",
                "exposed": f" via new lot {notice.via_lot}",
                "superseded": f" by #{notice.superseded_by}",
            }.get(notice.kind, "")
            console.print(
                f"{time.strftime('%H:%M:%S')} block {notice.block_number}: {notice.kind} {notice.alert} "
                f"{notice.severity.name} {notice.outcome.name} (lot of {notice.producer}){extra}",
                highlight=False,
            )
        for forwarder in forwarders:
            try:
                forwarder.send(notice)
            except MillchainError as exc:  # one failed delivery must not stop the watch
                err_console.print(f"warning: {exc}", markup=False, highlight=False)

    return deliver
