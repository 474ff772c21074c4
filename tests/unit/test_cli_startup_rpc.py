"""The plain JSON-RPC client behind read-only commands (millchain.rpc): how a node's errors come out, against a
small stand-in node that answers what each test tells it to (real node behaviour is in test_cli_startup.py)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from millchain.chain import Chain, connect
from millchain.errors import ChainError, ContractRevert
from millchain.project import Project
from millchain.rpc import JsonRpc, RpcError
from millchain.session import Session

LEASE_ADDRESS = "0x" + "42" * 20


class StandIn:
    """method -> (HTTP status, body) the stand-in node answers; eth_chainId answers anvil's id."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, Any]] = {
            "eth_chainId": (200, {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"})
        }
        self.url = ""


@pytest.fixture
def node() -> Iterator[StandIn]:
    stand_in = StandIn()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body = stand_in.answers[request["method"]]
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stand_in
    server.shutdown()
    server.server_close()


def unknown_lease_revert(lease_id: int) -> str:
    selector = function_signature_to_4byte_selector("EquipmentLeaseUnknownLease(uint256)")
    return "0x" + (selector + encode(["uint256"], [lease_id])).hex()


def test_an_unreachable_node_is_named_with_how_to_start_one() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before connect: nothing listens there
    with pytest.raises(ChainError, match=r"cannot reach the anvil node \(start one with `millchain node`\)"):
        connect("anvil", rpc_url=f"http://127.0.0.1:{port}", timeout=5)


@pytest.mark.parametrize("status", [200, 500])
def test_a_revert_is_decoded_to_the_contracts_error_whatever_the_http_status(
    node: StandIn, compiled: Project, status: int
) -> None:
    error = {"code": 3, "message": "execution reverted", "data": unknown_lease_revert(77)}
    node.answers["eth_call"] = (status, {"jsonrpc": "2.0", "id": 2, "error": error})
    with pytest.raises(RpcError) as raw:
        JsonRpc(node.url).request("eth_call", [{"to": LEASE_ADDRESS, "data": "0x"}, "latest"])
    assert (raw.value.code, raw.value.data) == (3, error["data"])

    session = Session(Chain(network="anvil", rpc_url=node.url), project=compiled)
    assert session.chain.chain_id == 31337
    with pytest.raises(ContractRevert) as revert:
        session.reader("EquipmentLease", LEASE_ADDRESS).call("getLease", 77)
    assert (revert.value.name, revert.value.args_by_name) == ("EquipmentLeaseUnknownLease", {"leaseId": 77})


def test_an_http_error_without_a_json_rpc_answer_names_the_status(node: StandIn) -> None:
    node.answers["eth_blockNumber"] = (502, "<html>bad gateway</html>")
    with pytest.raises(
        ChainError, match=r"node http://127\.0\.0\.1:\d+ answered HTTP 502 Bad Gateway to eth_blockNumber"
    ):
        JsonRpc(node.url).request("eth_blockNumber")


def test_an_empty_answer_from_an_address_without_code_says_so(node: StandIn, compiled: Project) -> None:
    node.answers["eth_call"] = (200, {"jsonrpc": "2.0", "id": 2, "result": "0x"})
    session = Session(Chain(network="anvil", rpc_url=node.url), project=compiled)
    with pytest.raises(ChainError, match=r"getLease at 0x4242.* returned nothing: is the contract deployed"):
        session.reader("EquipmentLease", LEASE_ADDRESS).call("getLease", 1)
