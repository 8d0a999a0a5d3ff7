"""A loopback HTTP(S) server with a known response delay: ground truth for the net suite.

    python -m tests.support.suites_http_server --port P [--delay-ms 5] [--fail-every N]
                                               [--certfile C --keyfile K]

Every GET/POST answers after ``--delay-ms`` with a small body; every N-th request answers 500.
It counts requests and connections so tests can check what the client claimed to do.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

from aiohttp import web


def build_app(delay_ms: float, fail_every: int) -> web.Application:
    state = {"requests": 0, "peers": set()}

    async def handle(request: web.Request) -> web.Response:
        state["requests"] += 1  # type: ignore[operator]
        peer = request.transport.get_extra_info("peername") if request.transport else None
        state["peers"].add(peer)  # type: ignore[attr-defined]
        await request.read()
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)
        if fail_every and state["requests"] % fail_every == 0:  # type: ignore[operator]
            return web.Response(status=500, text="injected failure\n")
        return web.Response(text="ok\n")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"requests": state["requests"], "connections": len(state["peers"])})  # type: ignore[arg-type]

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/_stats", stats)
    app.router.add_route("*", "/", handle)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    a = ap.parse_args()
    ctx = None
    if a.certfile:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.certfile, a.keyfile)
    web.run_app(build_app(a.delay_ms, a.fail_every), host="127.0.0.1", port=a.port,
                ssl_context=ctx, print=None, access_log=None)


if __name__ == "__main__":
    main()
