"""millchain order create | sign | submit | fund | ship | checkpoint | deliver | receive | invoice | verify-invoice |
settle | release | refund | claim | void | arbitrate | close | show: four-flow supply-chain settlement
(docs/contracts/supply-chain-settlement.md).

On ``--network local`` every invocation is a fresh chain, so an order is prepared in a file: ``create --out
order.json`` writes the typed data both parties sign, ``sign order.json`` adds a party's signature and
``submit order.json`` posts it (``create --submit`` does all three where the buyer's and supplier's keys are
development accounts). Multi-step flows need anvil or an RPC node. ORDER is an order key (0x…), an order file,
or an order id created on this chain; SHIPMENT its number in the order (1, 2, …) or its full id.

One module per sub-group or concern; this package only assembles the group that ``millchain.cli.main.COMMANDS`` loads.
"""

from __future__ import annotations

import click

from millchain.cli.order.agree import create, fund, sign, submit, void
from millchain.cli.order.disputes import arbitrate, close
from millchain.cli.order.funds import claim, refund, release, settle
from millchain.cli.order.invoices import invoice, verify_invoice
from millchain.cli.order.logistics import checkpoint, deliver, receive, ship
from millchain.cli.order.show import show


@click.group()
def order() -> None:
    """Supply orders settled when contract, logistics, invoice and funds agree (四流合一)."""


order.add_command(show)
order.add_command(create)
order.add_command(sign)
order.add_command(submit)
order.add_command(fund)
order.add_command(void)
order.add_command(ship)
order.add_command(checkpoint)
order.add_command(deliver)
order.add_command(receive)
order.add_command(invoice)
order.add_command(verify_invoice)
order.add_command(settle)
order.add_command(release)
order.add_command(refund)
order.add_command(claim)
order.add_command(arbitrate)
order.add_command(close)
