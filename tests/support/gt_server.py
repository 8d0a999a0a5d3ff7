"""Ground-truth OpenAI-compatible SSE server: known TTFT/ITL, and a log of what it really did.

It is a measuring instrument for the client, not a model: every request streams one token per
SSE event after a configured TTFT and ITL, and the server records with ``perf_counter_ns()``
(CLOCK_MONOTONIC, comparable across processes on one host) when it received each request and
when it wrote each event. The client's stamps are checked against that log.

Options model a real server where tests need one:
- ``--max-running N``: at most N requests decode at once; the rest queue (saturation is real);
- ``--itl-per-running-ms K``: ITL grows by K ms per running request (batching slows decode);
- ``--prefill-ms-per-token P``: TTFT grows with the prompt;
- ``--fault {http500,drop,garbage,error_event,slow_headers}`` with ``--fault-every N``.

Endpoints: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health,
POST /tokenize, GET /metrics (vLLM metric names), GET /_gt/log, POST /_gt/reset.

The server probes its own event-loop lag every 10 ms (``loop_lag_ns`` in the log): a client's
send gap that matches it was the server's loop running behind, not the client.

``--fast`` serves the same log from raw protocols instead of aiohttp (tests/support/gt_fast.py):
for loads at which aiohttp's per-event cost saturates the server's core.

Run: ``python -m tests.support.gt_server --port 8100 --ttft-ms 50 --itl-ms 10``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web, web_protocol

# The instrument also stamps when its event loop read each request's bytes (``arrival_ns``),
# so a client's send gap splits into "reached the server process" and "aiohttp parse/dispatch".
# Patched on the class before any connection exists (uvloop binds data_received per connection).
# RequestHandler has __slots__, so the stamp lives in a dict keyed by the handler's id (always
# overwritten by the live connection's latest read).
_data_received = web_protocol.RequestHandler.data_received
_ARRIVAL_NS: dict[int, int] = {}


def _stamped_data_received(self: web_protocol.RequestHandler, data: bytes) -> None:
    _ARRIVAL_NS[id(self)] = time.perf_counter_ns()
    _data_received(self, data)


web_protocol.RequestHandler.data_received = _stamped_data_received  # type: ignore[method-assign]

PROBE_S = 0.01


def _resolve_now(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_result(time.perf_counter_ns())


async def probe_loop_lag(out: list[int]) -> None:
    """How long a ready callback waits for this server's loop, every PROBE_S, appended to ``out``."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(PROBE_S)
        fut: asyncio.Future[int] = loop.create_future()
        queued = time.perf_counter_ns()
        loop.call_soon(_resolve_now, fut)
        out.append(await fut - queued)


FAULTS = ("none", "http500", "drop", "garbage", "error_event", "slow_headers")


@dataclass
class Options:
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    max_running: int = 0  # 0 = unlimited
    itl_per_running_ms: float = 0.0
    prefill_ms_per_token: float = 0.0
    fault: str = "none"
    fault_every: int = 1
    default_tokens: int = 16
    model: str = "gt-model"
    tokenize_fault: str = "none"  # "cut": /tokenize answers half a body, then closes


@dataclass
class RequestLog:
    request_id: str
    path: str
    recv_ns: int  # the handler started (after aiohttp parsed the request)
    prompt_tokens: int
    max_tokens: int
    arrival_ns: int = 0  # the server's event loop read the request's last bytes
    start_ns: int = 0  # left the queue
    event_ns: list[int] = field(default_factory=list)  # stamped right after each event's write
    write_ns: list[int] = field(default_factory=list)  # stamped right before it (the send time)
    fault: str = "none"


class GroundTruth:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.log: list[RequestLog] = []
        self.count = 0
        self.running = 0
        self.waiting = 0
        self.finished = 0
        self.sem = asyncio.Semaphore(opts.max_running) if opts.max_running > 0 else None
        self.loop_lag_ns: list[int] = []

    async def probe(self) -> None:
        await probe_loop_lag(self.loop_lag_ns)

    # ------------------------------------------------------------------ helpers
    def _fault_for(self, n: int) -> str:
        o = self.opts
        if o.fault != "none" and n % max(o.fault_every, 1) == 0:
            return o.fault
        return "none"

    @staticmethod
    def _tokens(text: str) -> int:
        return max(1, len(text.split()))

    @staticmethod
    def _prompt_text(body: dict[str, Any]) -> str:
        if "messages" in body:
            return " ".join(str(m.get("content", "")) for m in body["messages"])
        prompt = body.get("prompt", "")
        return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))

    # ------------------------------------------------------------------ handlers
    async def completions(self, request: web.Request) -> web.StreamResponse:
        recv = time.perf_counter_ns()
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "bad json"}, status=400)
        self.count += 1
        n = self.count
        chat = request.path.endswith("/chat/completions")
        asked = body.get("max_tokens") or body.get("max_completion_tokens")
        max_tokens = int(asked or self.opts.default_tokens)
        prompt_tokens = self._tokens(self._prompt_text(body))
        rid = request.headers.get("X-Request-Id", str(n))
        entry = RequestLog(rid, request.path, recv, prompt_tokens, max_tokens, fault=self._fault_for(n),
                           arrival_ns=_ARRIVAL_NS.get(id(request.protocol), 0))
        self.log.append(entry)
        if entry.fault == "http500":
            return web.json_response({"error": {"message": "injected failure"}}, status=500)

        self.waiting += 1
        if self.sem is not None:
            await self.sem.acquire()
        self.waiting -= 1
        self.running += 1
        try:
            return await self._stream(request, entry, chat, body)
        finally:
            self.running -= 1
            self.finished += 1
            if self.sem is not None:
                self.sem.release()

    async def _stream(
        self, request: web.Request, entry: RequestLog, chat: bool, body: dict[str, Any]
    ) -> web.StreamResponse:
        o = self.opts
        loop = asyncio.get_running_loop()
        entry.start_ns = time.perf_counter_ns()
        if entry.fault == "slow_headers":
            await asyncio.sleep(o.ttft_ms / 1000)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        ttft_s = (o.ttft_ms + o.prefill_ms_per_token * entry.prompt_tokens) / 1000
        t0 = loop.time()
        deadline = t0 + ttft_s
        obj = "chat.completion.chunk" if chat else "text_completion"
        for i in range(entry.max_tokens):
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if entry.fault == "drop" and i == max(1, entry.max_tokens // 2):
                assert request.transport is not None
                request.transport.close()  # the connection dies mid-stream
                return resp
            if entry.fault == "garbage" and i == 1:
                await self._write(resp, entry, b"data: {not json at all\n\n")
            elif entry.fault == "error_event" and i == 2:
                err = {"error": {"message": "injected server error", "type": "InternalError", "code": 500}}
                await self._write(resp, entry, b"data: " + json.dumps(err).encode() + b"\n\n")
                break
            text = f" t{i}"
            choice = (
                {"index": 0, "delta": {"content": text}, "finish_reason": None}
                if chat
                else {"index": 0, "text": text, "finish_reason": None, "logprobs": None}
            )
            chunk = {"id": entry.request_id, "object": obj, "model": o.model, "choices": [choice]}
            await self._write(resp, entry, b"data: " + json.dumps(chunk).encode() + b"\n\n")
            itl = o.itl_ms + o.itl_per_running_ms * self.running
            deadline += itl / 1000
        if include_usage:
            usage = {
                "prompt_tokens": entry.prompt_tokens,
                "completion_tokens": len(entry.event_ns),
                "total_tokens": entry.prompt_tokens + len(entry.event_ns),
            }
            final = {"id": entry.request_id, "object": obj, "model": o.model, "choices": [], "usage": usage}
            await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    @staticmethod
    async def _write(resp: web.StreamResponse, entry: RequestLog, data: bytes) -> None:
        # Bracket the write: a client may stamp the bytes before the write call returns, so the
        # send time of an event is write_ns (just before), and event_ns (just after) bounds it.
        entry.write_ns.append(time.perf_counter_ns())
        await resp.write(data)
        entry.event_ns.append(time.perf_counter_ns())

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.opts.model, "object": "model"}]})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def tokenize(self, request: web.Request) -> web.StreamResponse:
        if self.opts.tokenize_fault == "cut":  # promise 200 bytes, send 16, hang up
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.content_length = 200
            await resp.prepare(request)
            await resp.write(b'{"tokens": [1, 2')
            if request.transport is not None:
                request.transport.close()
            return resp
        body = await request.json()
        text = body.get("prompt") or self._prompt_text(body)
        tokens = list(range(self._tokens(text)))
        return web.json_response({"tokens": tokens, "count": len(tokens), "max_model_len": 4096})

    async def metrics(self, request: web.Request) -> web.Response:
        m = self.opts.model
        text = (
            f'vllm:num_requests_running{{model_name="{m}"}} {self.running}\n'
            f'vllm:num_requests_waiting{{model_name="{m}"}} {self.waiting}\n'
            f'vllm:kv_cache_usage_perc{{model_name="{m}"}} {min(1.0, self.running / 64):.4f}\n'
            f'vllm:request_success_total{{model_name="{m}",finished_reason="length"}} {self.finished}\n'
        )
        return web.Response(text=text, content_type="text/plain")

    async def get_log(self, request: web.Request) -> web.Response:
        return web.json_response({"options": asdict(self.opts), "requests": [asdict(r) for r in self.log],
                                  "loop_lag_ns": self.loop_lag_ns})

    async def reset(self, request: web.Request) -> web.Response:
        self.log.clear()
        self.loop_lag_ns.clear()
        self.count = 0
        return web.json_response({"ok": True})


def make_app(opts: Options) -> web.Application:
    gt = GroundTruth(opts)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/completions", gt.completions)
    app.router.add_post("/v1/chat/completions", gt.completions)
    app.router.add_get("/v1/models", gt.models)
    app.router.add_get("/health", gt.health)
    app.router.add_post("/tokenize", gt.tokenize)
    app.router.add_get("/metrics", gt.metrics)
    app.router.add_get("/_gt/log", gt.get_log)
    app.router.add_post("/_gt/reset", gt.reset)
    app["gt"] = gt

    async def start_probe(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.ensure_future(gt.probe())
        yield
        task.cancel()

    app.cleanup_ctx.append(start_probe)
    return app


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Options]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--max-running", type=int, default=0)
    p.add_argument("--itl-per-running-ms", type=float, default=0.0)
    p.add_argument("--prefill-ms-per-token", type=float, default=0.0)
    p.add_argument("--fault", choices=FAULTS, default="none")
    p.add_argument("--fault-every", type=int, default=1)
    p.add_argument("--model", default="gt-model")
    p.add_argument("--tokenize-fault", choices=("none", "cut"), default="none")
    p.add_argument("--cpu", type=int, default=None, help="pin the server to this core")
    p.add_argument("--uvloop", action="store_true", help="serve on uvloop")
    p.add_argument("--fast", action="store_true",
                   help="raw uvloop protocols instead of aiohttp (tests/support/gt_fast.py): same log, "
                   "far less per-event cost; only --ttft-ms, --itl-ms, --model apply")
    p.add_argument("--keepalive-timeout", type=float, default=75.0,
                   help="close idle keep-alive connections after S seconds (aiohttp's default 75)")
    p.add_argument("--tls-cert", default=None, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", default=None, help="the certificate's private key (PEM)")
    args = p.parse_args(argv)
    opts = Options(
        ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, max_running=args.max_running,
        itl_per_running_ms=args.itl_per_running_ms, prefill_ms_per_token=args.prefill_ms_per_token,
        fault=args.fault, fault_every=args.fault_every, model=args.model, tokenize_fault=args.tokenize_fault,
    )
    return args, opts


def main(argv: list[str] | None = None) -> None:
    args, opts = parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.fast:
        odd = [name for name in ("max_running", "itl_per_running_ms", "prefill_ms_per_token", "tls_cert")
               if getattr(args, name)] + (["fault"] if args.fault != "none" else [])
        if odd:
            raise SystemExit(f"--fast supports only --ttft-ms/--itl-ms/--model, not {', '.join(odd)}")
        from tests.support import gt_fast

        gt_fast.main(opts, args.host, args.port)
        return
    if args.uvloop:
        import uvloop

        uvloop.install()
    ssl_context = None
    if args.tls_cert:
        import ssl

        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    web.run_app(make_app(opts), host=args.host, port=args.port, print=None, access_log=None,
                ssl_context=ssl_context, keepalive_timeout=args.keepalive_timeout)


if __name__ == "__main__":
    main()
