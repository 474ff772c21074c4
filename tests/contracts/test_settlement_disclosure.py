"""Disclosure against an order's documents chain (issue 7): the contract keeps, in a slot an order writes anyway,
the low 160 bits of the signed order's struct hash with every submitted invoice folded in; verifyDocumentField
checks a disclosed field of the order lines or of an invoice against it. The true field verifies; a wrong value,
a wrong salt and a proof for another field are each rejected, as are another version of the order and an
incomplete invoice list. Then the same through ``millchain verify-disclosure --order``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hexbytes import HexBytes

from millchain.disclosure import Disclosure, SaltedDocument
from millchain.settlement import InvoiceLink, Order, SettlementError, documents_head, shipment_number
from tests.cli_runner import run_cli_on
from tests.contracts.test_settlement_scenario import (
    CARRIER,
    CONSORTIUM,
    PRICE,
    STRANGER,
    SUPPLIER,
    World,
    reverts,
)

LINES = {"item": "cement P.O 42.5, bagged", "delivery": "Plant 3, gate B", "incoterm": "DAP"}
INVOICE = {"number": "44031900-0042", "seller-tax-id": "91340100MA2N", "amount": str(400 * PRICE)}



def invoiced_order(w: World) -> tuple[bytes, Order, int, SaltedDocument, SaltedDocument]:
    """An order with committed lines, one shipment delivered, a first invoice rejected and a second submitted."""
    lines = SaltedDocument.commit(LINES)
    order = w.order(lines_commitment=HexBytes(lines.root))
    key = w.create(order, funding=order.total)
    shipment = w.delivered(key, 400)
    wrong = SaltedDocument.commit({**INVOICE, "amount": "1"})
    w(SUPPLIER).submit_invoice(key, shipment, 400 * PRICE, 0, HexBytes(wrong.root))
    w(CONSORTIUM).reject_invoice(key, shipment)
    invoice = SaltedDocument.commit(INVOICE)
    w(SUPPLIER).submit_invoice(key, shipment, 400 * PRICE, 0, HexBytes(invoice.root))
    return key, order, shipment, lines, invoice


def tampered(d: Disclosure, **changes: Any) -> Disclosure:
    return d.model_copy(update=changes)


def test_the_documents_chain_is_the_signed_order_then_each_invoice_submitted(w: World) -> None:
    key, order, shipment, _, invoice = invoiced_order(w)
    links = w(STRANGER).invoice_links(key)
    assert [(link.shipment_id, link.commitment) for link in links][-1] == (shipment, invoice.root)
    assert len(links) == 2
    assert w(STRANGER).documents(key) == documents_head(order, links)
    assert w(STRANGER).signed_order(key) == order
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=b"\x42" * 32):
        w(STRANGER).documents(b"\x42" * 32)


def test_order_line_and_invoice_fields_verify_on_chain_and_forgeries_do_not(w: World) -> None:
    key, _, shipment, lines, invoice = invoiced_order(w)
    client = w(STRANGER)
    for name in LINES:
        check = client.verify_disclosure(key, lines.disclose(name))
        assert (check.ok, check.index, check.value) == (True, 0, LINES[name])
    check = client.verify_disclosure(key, invoice.disclose("seller-tax-id"), shipment=shipment)
    assert (check.ok, check.index, check.verified_invoice) == (True, 2, False)
    assert check.document.startswith(f"the invoice submitted for shipment {shipment_number(shipment)}")
    assert check.document.endswith("(not verified)")

    item = lines.disclose("item")
    assert not client.verify_disclosure(key, tampered(item, value="0x" + b"cement P.O 52.5".hex())).ok
    assert not client.verify_disclosure(key, tampered(item, salt="0x" + "00" * 32)).ok
    other = lines.disclose("delivery")
    assert not client.verify_disclosure(key, tampered(item, proof=other.proof)).ok
    number = invoice.disclose("number")
    assert not client.verify_disclosure(key, tampered(number, value="0x" + b"44031900-9999".hex())).ok
    assert not client.verify_disclosure(key, tampered(number, salt=invoice.disclose("amount").salt)).ok


def test_another_version_of_the_order_or_a_partial_invoice_list_is_refused(w: World) -> None:
    key, order, _, lines, _ = invoiced_order(w)
    client = w(STRANGER)
    links = client.invoice_links(key)
    item = lines.disclose("item")

    def call(o: Order, invoices: list[InvoiceLink], document: int = 0) -> bool:
        return bool(
            client.tx.call(
                client.contract.functions.verifyDocumentField(
                    o.as_tuple(),
                    [link.as_tuple() for link in invoices],
                    document,
                    item.name,
                    item.value_bytes,
                    HexBytes(item.salt),
                    [HexBytes(p) for p in item.proof],
                )
            )[0]
        )

    assert call(order, links)
    renegotiated = SaltedDocument.commit({**LINES, "item": "cement P.O 52.5, bagged"})
    other = order.model_copy(update={"lines_commitment": HexBytes(renegotiated.root)})
    assert other.key == key
    with reverts("SupplyChainSettlementDocumentsMismatch", orderKey=key):
        call(other, links)
    with reverts("SupplyChainSettlementDocumentsMismatch", orderKey=key):
        call(order, links[1:])
    with reverts("SupplyChainSettlementUnknownDocument", document=3, invoices=2):
        call(order, links, 3)
    never = w.order()
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=never.key):
        call(never, [])


def test_a_rejected_invoice_is_never_reported_as_the_shipments_invoice(w: World) -> None:
    """Issue 11 item 6: the documents chain folds in rejected invoices, and a field of one verified as "the
    invoice for shipment N". Now the contract says whether the document is the shipment's verified invoice."""
    order = w.order()
    key = w.create(order, funding=order.total)
    shipment = w.delivered(key, 400)
    wrong = SaltedDocument.commit({**INVOICE, "amount": "1"})
    w(SUPPLIER).submit_invoice(key, shipment, 400 * PRICE, 0, HexBytes(wrong.root))
    w(CONSORTIUM).reject_invoice(key, shipment)
    invoice = SaltedDocument.commit(INVOICE)
    w(SUPPLIER).submit_invoice(key, shipment, 400 * PRICE, 0, HexBytes(invoice.root))
    client = w(STRANGER)
    links = client.invoice_links(key)
    fn = client.contract.functions.verifyDocumentField
    amount = wrong.disclose("amount")
    args = (amount.name, amount.value_bytes, HexBytes(amount.salt), [HexBytes(p) for p in amount.proof])
    # The rejected first invoice: its field is what was submitted, but it is not the invoice.
    assert client.tx.call(fn(order.as_tuple(), [link.as_tuple() for link in links], 1, *args)) == [True, False]
    # Before verification the current one is not "the verified invoice" either; after, it is.
    number = invoice.disclose("number")
    assert not client.verify_disclosure(key, number, shipment=shipment).verified_invoice
    w(CONSORTIUM).verify_invoice(key, shipment)
    check = client.verify_disclosure(key, number, shipment=shipment)
    assert (check.ok, check.verified_invoice) == (True, True)
    assert check.document.startswith(f"the verified invoice for shipment {shipment_number(shipment)}")
    stale = client.verify_disclosure(key, amount, shipment=shipment)
    assert (stale.ok, stale.index, stale.verified_invoice) == (True, 1, False)
    assert stale.document.startswith("a replaced invoice for shipment 1")


def test_an_invoice_field_counts_only_for_its_shipment(w: World) -> None:
    key, _, _, _, invoice = invoiced_order(w)
    second = w.delivered(key, 100)
    with pytest.raises(SettlementError, match="no invoice was submitted for shipment 2"):
        w(STRANGER).verify_disclosure(key, invoice.disclose("number"), shipment=second)
    assert w(CARRIER).verify_disclosure(key, invoice.disclose("number")).ok


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(w: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli(*args)``: the console script on the shared settlement chain."""
    return run_cli_on(w.session, capsys, monkeypatch)


def test_verify_disclosure_checks_order_documents_on_chain(w: World, cli: Any, tmp_path: Path) -> None:
    key, _, shipment, lines, invoice = invoiced_order(w)
    # A party discloses a line straight from its order file (which carries the opened lines).
    order_file = tmp_path / "po.json"
    order_file.write_text(json.dumps({"typedData": {}, "signatures": {}, "lines": lines.model_dump()}))
    path = tmp_path / "item.json"
    code, _, err = cli("disclose", str(order_file), "item", "--out", str(path))
    assert code == 0, err
    code, out, err = cli("verify-disclosure", str(path), "--order", "0x" + key.hex(), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True and result["value"] == LINES["item"]
    assert result["against"].startswith("the order lines of PO-TEST-")

    invoice_path = tmp_path / "number.json"
    invoice_path.write_text(invoice.disclose("number").model_dump_json())
    code, out, err = cli("verify-disclosure", str(invoice_path), "--order", "0x" + key.hex(), "--shipment", "1")
    assert code == 0, err
    assert "verified: number = '44031900-0042' belongs to the invoice submitted for shipment 1" in out

    for name, forged in [
        ("value", tampered(lines.disclose("item"), value="0x" + b"gravel".hex())),
        ("salt", tampered(lines.disclose("item"), salt="0x" + "ab" * 32)),
        ("proof", tampered(lines.disclose("item"), proof=lines.disclose("incoterm").proof)),
    ]:
        bad = tmp_path / f"forged-{name}.json"
        bad.write_text(forged.model_dump_json())
        code, _, err = cli("verify-disclosure", str(bad), "--order", "0x" + key.hex())
        assert code == 1 and "does not match the order lines of PO-TEST-" in err, err
        assert len(err.strip().splitlines()) == 1
    code, _, err = cli("verify-disclosure", str(path), "--shipment", "1")
    assert code == 1 and "--shipment names an invoice of an order: give --order too" in err
    assert shipment_number(shipment) == 1
