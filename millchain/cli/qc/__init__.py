"""millchain qc org | inspector | lot | attest | relay | alerts | ack | bond | claim | dispute | rule | watch |
verify-report: cross-firm quality control (docs/contracts/quality.md).

The signing account acts for its organisation (``--account N`` on dev chains, ``--keystore`` elsewhere).
On ``--network local`` every invocation is a fresh chain; multi-step flows need anvil or an RPC node.

One module per sub-group or concern; this package only assembles the group that ``millchain.cli.main.COMMANDS`` loads.
"""

from __future__ import annotations

import click

from millchain.cli.qc.alerts import ack, alerts, watch
from millchain.cli.qc.attest import attest, cancel_signed, relay, verify_report
from millchain.cli.qc.bond import bond
from millchain.cli.qc.claim import claim, dispute, rule
from millchain.cli.qc.inspector import inspector
from millchain.cli.qc.lot import lot
from millchain.cli.qc.org import org


@click.group()
def qc() -> None:
    """Quality control: inspections attested across firms, alerts along lot lineage, quality bonds and claims."""


qc.add_command(org)
qc.add_command(inspector)
qc.add_command(lot)
qc.add_command(attest)
qc.add_command(cancel_signed)
qc.add_command(relay)
qc.add_command(verify_report)
qc.add_command(alerts)
qc.add_command(ack)
qc.add_command(watch)
qc.add_command(bond)
qc.add_command(claim)
qc.add_command(dispute)
qc.add_command(rule)
