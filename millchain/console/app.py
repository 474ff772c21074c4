"""The console's ASGI app: one route per view, a CSV download, server-sent events for live updates, the
packaged assets, and a token gate in front of everything when it is served beyond localhost."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from millchain.console.data import ConsoleData
from millchain.console.render import e, page
from millchain.console.siwe import SiweError, SiweVerifier
from millchain.console.views import fleet, lease, orders, party, quality
from millchain.errors import ConfigError, MillchainError

STATIC = Path(__file__).with_name("static")
COOKIE = "millchain_console"
SESSION_COOKIE = "millchain_siwe"
SECURITY_HEADERS = {
    # Everything is served from here: no CDN, no inline script, nothing framed elsewhere.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
View = Callable[[ConsoleData, Mapping[str, str]], tuple[str, str]]
LIVE_POLL_SECONDS = 0.5
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class AccessGate:
    """In front of everything but the assets and the sign-in routes: the configured bearer token (header, or a
    cookie set by visiting any page with ?token=…), or a Sign-In with Ethereum session of an allowed account."""

    OPEN = ("/static/", "/login", "/siwe/")

    def __init__(self, app: ASGIApp, token: str | None, siwe: SiweVerifier | None) -> None:
        self.app = app
        self.token = token
        self.siwe = siwe

    def _valid(self, presented: str | None) -> bool:
        return (
            self.token is not None
            and presented is not None
            and hmac.compare_digest(presented.encode(), self.token.encode())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.OPEN):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else None
        signed_in = self.siwe is not None and self.siwe.account(request.cookies.get(SESSION_COOKIE)) is not None
        if signed_in or self._valid(bearer) or self._valid(request.cookies.get(COOKIE)):
            await self.app(scope, receive, send)
            return
        response: Response
        if self._valid(request.query_params.get("token")):
            # Trade the token in the address for a cookie, so it leaves the address bar and the history.
            response = RedirectResponse(str(request.url.remove_query_params("token")), status_code=303)
            response.set_cookie(
                COOKIE, str(self.token), httponly=True, samesite="strict", secure=request.url.scheme == "https"
            )
        else:
            how = ' or <a href="/login">sign in with Ethereum</a>' if self.siwe else ""
            response = HTMLResponse(
                "<!doctype html><title>sign in</title><p>This console needs its access token: open it with "
                f"<code>?token=…</code> once, or send <code>Authorization: Bearer …</code>{how}.</p>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="millchain console"'},
            )
        await response(scope, receive, send)


def _html(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def check_exposure(host: str, token: str | None, siwe_allowed: bool = False) -> None:
    """Serving beyond this machine needs a token or Sign-In with Ethereum: anyone on the network could read every
    party's books."""
    if host not in LOOPBACK and token is None and not siwe_allowed:
        raise ConfigError(
            f"--host {host} serves the console beyond this machine: set a token ($MILLCHAIN_CONSOLE_TOKEN or "
            "--token-file) or allow accounts to sign in with Ethereum (--siwe-allow ADDRESS) so only they can read it"
        )


def create_app(data: ConsoleData, *, token: str | None = None, siwe: SiweVerifier | None = None) -> ASGIApp:
    def view(name: str, render: View) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            params = {**request.query_params, **request.path_params}

            def build() -> tuple[str, str, int, int | None]:
                with data.lock:
                    title, body = render(data, params)
                    return title, body, data.block(), data.indexed()

            def position() -> tuple[int, int | None]:
                with data.lock:
                    return data.block(), data.indexed()

            status = 200
            try:
                title, body, block, indexed = await run_in_threadpool(build)
            except MillchainError as exc:
                title, body, status = "Not available", f'<p class="error">{e(exc)}</p>', 400
                block, indexed = await run_in_threadpool(position)
            if request.headers.get("x-console-fragment"):
                return _html(
                    f"<h1>{e(title)}</h1>{body}",
                    status,
                    {"X-Block": str(block), "X-Indexed": "" if indexed is None else str(indexed)},
                )
            return _html(
                page(title, name, body, network=data.session.chain.network, block=block, indexed=indexed), status
            )

        return endpoint

    async def statement_csv(request: Request) -> Response:
        def build() -> tuple[str, str]:
            with data.lock:
                return lease.statement_csv(data, request.path_params["lease"])

        try:
            name, text = await run_in_threadpool(build)
        except MillchainError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', **SECURITY_HEADERS},
        )

    async def live(request: Request) -> Response:
        """Server-sent events: ``block`` whenever the chain head or the index moves, a comment to keep alive."""

        def position() -> tuple[int, int | None]:
            with data.lock:
                return data.block(), data.indexed()

        async def stream() -> AsyncIterator[str]:
            last: tuple[int, int | None] | None = None
            quiet = 0.0
            while not await request.is_disconnected():
                current = await run_in_threadpool(position)
                if current != last:
                    last, quiet = current, 0.0
                    yield f"event: block\ndata: {json.dumps({'block': current[0], 'indexed': current[1]})}\n\n"
                elif quiet >= 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(LIVE_POLL_SECONDS)
                quiet += LIVE_POLL_SECONDS

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    async def login(request: Request) -> Response:
        if siwe is None:
            return _html("<!doctype html><p>Sign-In with Ethereum is not enabled on this console.</p>", 404)
        body = (
            "<p>Sign the message your wallet shows (it moves nothing and costs nothing); an allowed account "
            'opens the console.</p><p><button class="button" id="siwe" type="button">Sign in with Ethereum'
            '</button></p><p id="siwe-status" class="muted"></p><script src="/static/login.js"></script>'
        )
        return _html(page("Sign in", "", body, network=data.session.chain.network, block=0, indexed=None))

    async def siwe_message(request: Request) -> Response:
        """The EIP-4361 message for ``address`` to sign: built here, so the wallet only has to show and sign it."""
        if siwe is None:
            return PlainTextResponse("Sign-In with Ethereum is not enabled", status_code=404)
        try:
            address = to_checksum_address(request.query_params.get("address", ""))
        except ValueError:
            return PlainTextResponse("address: not an Ethereum address", status_code=400)
        issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = (
            f"{request.url.netloc} wants you to sign in with your Ethereum account:\n{address}\n\n"
            "Open the millchain console (read-only).\n\n"
            f"URI: {request.url.scheme}://{request.url.netloc}/\nVersion: 1\nChain ID: {siwe.chain_id}\n"
            f"Nonce: {siwe.nonce()}\nIssued At: {issued}"
        )
        return JSONResponse({"message": text}, headers={"Cache-Control": "no-store"})

    async def siwe_login(request: Request) -> Response:
        if siwe is None:
            return PlainTextResponse("Sign-In with Ethereum is not enabled", status_code=404)
        try:
            payload = await request.json()
            session, account = siwe.sign_in(str(payload["message"]), str(payload["signature"]), request.url.netloc)
        except (SiweError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc) or type(exc).__name__}, status_code=401)
        response = JSONResponse({"account": account})
        response.set_cookie(
            SESSION_COOKIE, session, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse("/fleet", status_code=307)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", home),
        Route("/healthz", health),
        Route("/fleet", view("fleet", fleet.render)),
        Route("/lease/{lease}", view("fleet", lease.render)),
        Route("/lease/{lease}/statement.csv", statement_csv),
        Route("/quality", view("quality", quality.render)),
        Route("/orders", view("orders", orders.render)),
        Route("/party", view("party", party.render)),
        Route("/events", live),
        Route("/login", login),
        Route("/siwe/message", siwe_message),
        Route("/siwe/login", siwe_login, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app: ASGIApp = Starlette(routes=routes)
    if token is not None and len(token) < 16:
        raise ConfigError("the console token must be at least 16 characters (e.g. `openssl rand -hex 16`)")
    if token is not None or siwe is not None:
        app = AccessGate(app, token, siwe)
    return app
