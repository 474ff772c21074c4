"""Salted-field commitments: the SDK's tree against DisclosureLib on chain; wrong value, wrong salt and a
proof for another field are all rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from millchain.disclosure import Disclosure, SaltedDocument, encode_value, field_leaf
from millchain.errors import ConfigError
from millchain.session import Session

REPORT = {"lot": "L-2026-0042", "sampleSize": 200, "defects": 6, "defectRate": "3 %", "inspector": "QC-Anhui-3"}


@pytest.fixture
def harness(local: Session) -> Any:
    artifact = local.artifact("DisclosureHarness")
    receipt = local.tx.send({"data": artifact["bytecode"]})
    return local.contract("DisclosureHarness", receipt["contractAddress"])


def on_chain(harness: Any, d: Disclosure) -> bool:
    return bool(harness.functions.verifyField(
        bytes.fromhex(d.root[2:]), d.name, d.value_bytes, bytes.fromhex(d.salt[2:]),
        [bytes.fromhex(p[2:]) for p in d.proof]).call())


def test_every_field_verifies_alone_in_python_and_on_chain(harness: Any) -> None:
    doc = SaltedDocument.commit(REPORT)
    for name in REPORT:
        d = doc.disclose(name)
        assert d.verify()
        assert on_chain(harness, d)
    assert doc.disclose("defectRate").value_text == "3 %"


def test_leaf_hash_matches_the_contract(harness: Any) -> None:
    salt = b"\x42" * 32
    assert harness.functions.fieldLeaf("defects", b"6", salt).call() == field_leaf("defects", b"6", salt)


@pytest.mark.parametrize("tamper", ["value", "salt", "other-field-proof", "name"])
def test_tampered_disclosures_are_rejected(harness: Any, tamper: str) -> None:
    doc = SaltedDocument.commit(REPORT)
    good = doc.disclose("defectRate")
    if tamper == "value":
        bad = good.model_copy(update={"value": "0x" + encode_value("1 %").hex()})
    elif tamper == "salt":
        bad = good.model_copy(update={"salt": "0x" + "00" * 32})
    elif tamper == "name":
        bad = good.model_copy(update={"name": "defects"})
    else:
        bad = good.model_copy(update={"proof": doc.disclose("lot").proof})
    assert not bad.verify()
    assert not on_chain(harness, bad)


def test_salts_are_fresh_so_equal_documents_commit_differently() -> None:
    assert SaltedDocument.commit(REPORT).root != SaltedDocument.commit(REPORT).root


def test_bad_documents_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="at least one field"):
        SaltedDocument.commit({})
    with pytest.raises(ConfigError, match="no field 'price'"):
        SaltedDocument.commit({"a": 1}).disclose("price")
    with pytest.raises(ConfigError, match="booleans are ambiguous"):
        SaltedDocument.commit({"ok": True})


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.text(max_size=20), st.integers(0, 10**9)),
                       min_size=1, max_size=9))
def test_any_document_discloses_every_field(fields: dict[str, str | int]) -> None:
    doc = SaltedDocument.commit(fields)
    for name in fields:
        assert doc.disclose(name).verify()
