"""P-256 UsageReports signed by implementations no one here wrote verify on chain, over the SDK's own digest.

Node.js computes the EIP-712 digest itself from the typed-data JSON the SDK produces (keccak from js-sha3, the
package solc ships with; the encoding written out below from EIP-712, not from our Python) and signs it with
WebCrypto (ECDSA P-256, SHA-256: the hash-then-sign the lease expects, over the 32-byte digest). OpenSSL's command
line signs the same way. The SDK side only normalises s to the low half; the signature then verifies with the
embedded chain's P256VERIFY and with anvil's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_utils import to_checksum_address
from web3 import Web3

from millchain.chain import Chain, connect
from millchain.p256_precompile import P256VERIFY_ADDRESS, VALID
from millchain.project import Project
from millchain.signers import (
    normalize_low_s,
    p256verify_input,
    usage_report_p256_hash,
    verify_usage_report_signature,
)
from millchain.typed_data import UsageReport, UsageReportHasher, lease_domain, usage_report_typed_data
from tests.p256_cases import anvil_chain  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

PRECOMPILE = to_checksum_address(P256VERIFY_ADDRESS)
DOMAIN = lease_domain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
REPORT = UsageReport(
    lease_id=2**200 + 5,  # beyond a JS number's 53 bits: the JSON carries integers as decimal strings
    machine_id=bytes.fromhex("6d696c6c2d3031" + "00" * 25),
    counter=18_446_744_073_709_551_000,
    runtime_seconds=4_000_000_000,
    timestamp=1_099_511_627_000,
)

# EIP-712 in JavaScript: encodeType from the JSON's field lists, encodeData for the atomic types the two structs
# use (string, uint*, bytes32, address), hashStruct, then keccak256(0x1901 ‖ domainSeparator ‖ hashStruct).
WEBCRYPTO_SIGNER = r"""
const { keccak256 } = require("js-sha3");
const { webcrypto } = require("node:crypto");
const typed = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const keccak = (bytes) => Buffer.from(keccak256.arrayBuffer(bytes));
const word = (n) => Buffer.from(BigInt(n).toString(16).padStart(64, "0"), "hex");
function encodeValue(type, value) {
  if (type === "string") return keccak(Buffer.from(value, "utf8"));
  if (type.startsWith("uint")) return word(value);
  if (type === "bytes32") return Buffer.from(value.slice(2), "hex");
  if (type === "address") return word(BigInt(value));
  throw new Error("type not used by UsageReport: " + type);
}
function hashStruct(name, data) {
  const fields = typed.types[name];
  const typeString = name + "(" + fields.map((f) => f.type + " " + f.name).join(",") + ")";
  const values = fields.map((f) => encodeValue(f.type, data[f.name]));
  return keccak(Buffer.concat([keccak(Buffer.from(typeString)), ...values]));
}
(async () => {
  const digest = keccak(Buffer.concat([Buffer.from([0x19, 0x01]), hashStruct("EIP712Domain", typed.domain),
                                       hashStruct(typed.primaryType, typed.message)]));
  const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const algorithm = { name: "ECDSA", hash: "SHA-256" };
  const signature = Buffer.from(await webcrypto.subtle.sign(algorithm, pair.privateKey, digest));
  const publicKey = Buffer.from(await webcrypto.subtle.exportKey("raw", pair.publicKey));
  console.log(JSON.stringify({ digest: digest.toString("hex"), signature: signature.toString("hex"),
                               publicKey: publicKey.toString("hex") }));
})();
"""


def _typed_data_json() -> str:
    typed = usage_report_typed_data(DOMAIN, REPORT)
    typed["domain"] = {**typed["domain"], "chainId": str(typed["domain"]["chainId"])}
    typed["message"] = {k: (str(v) if isinstance(v, int) else v) for k, v in typed["message"].items()}
    return json.dumps(typed)


@pytest.fixture(scope="module")
def webcrypto_signed(project: Project) -> dict[str, bytes]:
    node = shutil.which("node")
    assert node is not None, "Node.js is required (scripts/dev checks for it)"
    out = subprocess.run([node, "-e", WEBCRYPTO_SIGNER], input=_typed_data_json(), capture_output=True, text=True,
                         cwd=project.root, check=True, timeout=60).stdout  # fmt: skip
    return {k: bytes.fromhex(v) for k, v in json.loads(out).items()}


def _call_0x100(chain: Chain, data: bytes) -> bytes:
    return bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": Web3.to_hex(data)}))


def test_javascript_eip712_digest_equals_the_sdks(webcrypto_signed: dict[str, bytes]) -> None:
    assert webcrypto_signed["digest"] == UsageReportHasher(DOMAIN).digest(REPORT)


def test_webcrypto_signature_verifies_in_the_sdk_and_on_both_chains(
    webcrypto_signed: dict[str, bytes],
    anvil_chain: Chain,  # noqa: F811
) -> None:
    digest = UsageReportHasher(DOMAIN).digest(REPORT)
    raw_public = webcrypto_signed["publicKey"]
    assert len(raw_public) == 65 and raw_public[0] == 4  # uncompressed SEC1 point
    public_key = raw_public[1:]
    signature = normalize_low_s(webcrypto_signed["signature"])  # WebCrypto gives r ‖ s (IEEE P1363), any s
    assert verify_usage_report_signature(public_key, digest, signature)
    call = p256verify_input(usage_report_p256_hash(digest), signature, public_key)
    assert _call_0x100(connect("local"), call) == VALID
    assert _call_0x100(anvil_chain, call) == VALID
    # The same signature over the raw digest (no SHA-256 step) is not what WebCrypto signed.
    assert _call_0x100(anvil_chain, p256verify_input(digest, signature, public_key)) == b""


def test_openssl_cli_signature_verifies_in_the_sdk_and_on_both_chains(tmp_path: Path, anvil_chain: Chain) -> None:  # noqa: F811
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command line is part of the base system"
    digest = UsageReportHasher(DOMAIN).digest(REPORT)
    key = tmp_path / "device.pem"
    subprocess.run([openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    (tmp_path / "digest.bin").write_bytes(digest)
    der = subprocess.run([openssl, "dgst", "-sha256", "-sign", str(key), str(tmp_path / "digest.bin")],
                         capture_output=True, check=True).stdout  # fmt: skip
    public_der = subprocess.run([openssl, "ec", "-in", str(key), "-pubout", "-outform", "DER"], capture_output=True,
                                check=True).stdout  # fmt: skip
    public_key = public_der[-64:]  # SubjectPublicKeyInfo ends with the 04 ‖ x ‖ y point
    assert public_der[-65] == 4
    r, s = decode_dss_signature(der)
    signature = normalize_low_s(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert verify_usage_report_signature(public_key, digest, signature)
    call = p256verify_input(usage_report_p256_hash(digest), signature, public_key)
    assert _call_0x100(connect("local"), call) == VALID
    assert _call_0x100(anvil_chain, call) == VALID
