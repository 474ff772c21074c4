"""Plain JSON-RPC over HTTP with the standard library, for the reads a short-lived command makes.

Importing web3 costs a CLI process about 0.6 s (its package imports eth-account, whose keyfile module builds
py_ecc's BLS12-381 tables, and every provider with aiohttp), more than the rest of a read-only command. A
command that only reads (``status``, ``lease show``) asks the node through this instead and never imports web3;
a command that signs builds its Web3 on first use (:attr:`millchain.chain.Chain.w3`).
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from millchain.errors import ChainError


class RpcError(ChainError):
    """The node answered a JSON-RPC error; ``data`` is what it attached (revert bytes for a reverted call)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.code = code
        self.data = data


class JsonRpc:
    """One node's JSON-RPC endpoint. Proxies come from the environment, as for requests (web3's transport)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The ``result`` of ``method``; :class:`RpcError` for a JSON-RPC error, :class:`ChainError` when the node
        cannot be reached or answers something that is not JSON-RPC."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        http = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            # Some nodes send a JSON-RPC error (a revert and its data) with a 4xx/5xx status: keep what it says.
            answer = _json_or_none(exc)
            if not isinstance(answer, dict) or "error" not in answer:
                raise ChainError(f"node {self.url} answered HTTP {exc.code} {exc.reason} to {method}") from exc
        except (OSError, ValueError) as exc:  # URLError, refused, timeout, a body that is not JSON
            raise ChainError(f"node {self.url} did not answer {method}: {exc}") from exc
        if not isinstance(answer, dict):
            raise ChainError(f"node {self.url} answered {method} with {answer!r}")
        error = answer.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(method, error.get("code"), str(error.get("message", error)), error.get("data"))
            raise RpcError(method, None, str(error))
        if "result" not in answer:
            raise ChainError(f"node {self.url} answered {method} without a result: {answer!r}")
        return answer["result"]


def _json_or_none(response: urllib.error.HTTPError) -> Any:
    try:
        return json.loads(response.read())
    except (OSError, ValueError):
        return None
