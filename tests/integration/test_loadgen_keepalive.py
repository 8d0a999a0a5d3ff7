"""Keep-alive edge cases on real loopback sockets: idle connections the server closes."""

from __future__ import annotations

import asyncio
import json

import pytest

from loadgen.client import Slot, parse_endpoint
from loadgen.records import RawRecord, record_row
from loadgen.runner import RunSpec, run
from loadgen.workload import DatasetArgs, build_prompts
from tests.support.servers import gt_server

pytestmark = pytest.mark.integration

EV = b"data: " + json.dumps({"choices": [{"text": " x"}]}).encode() + b"\n\n"
OK = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + f"{len(EV):x}\r\n".encode() + EV + b"\r\n0\r\n\r\n"
)


def test_reused_connection_closed_before_response_is_resent_once() -> None:
    """The server answers the first request on a connection and closes the connection on the
    second without a byte — the race of an idle timeout: the client resends on a fresh one."""

    async def go() -> tuple[RawRecord, RawRecord, int]:
        connections = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            served = 0
            while await reader.readuntil(b"\r\n\r\n"):
                await reader.readexactly(2)  # the 2-byte body below
                if served == 1:
                    writer.close()
                    return
                writer.write(OK)
                await writer.drain()
                served += 1

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        slot = Slot(parse_endpoint(f"http://127.0.0.1:{port}"))
        req = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        a, b = RawRecord(0, "a", "h", 1, 1), RawRecord(1, "b", "h", 1, 1)
        await slot.exchange(a, req, 5.0)
        await slot.exchange(b, req, 5.0)
        slot.close()
        server.close()
        await server.wait_closed()
        return a, b, connections

    a, b, connections = asyncio.run(go())
    assert record_row(a)["ok"] and not a.retried
    assert record_row(b)["ok"] and b.retried and b.connect_start_ns > 0
    assert connections == 2


def test_server_idle_timeout_reconnects_without_errors() -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "1", "--keepalive-timeout", "0.2") as url:
        prompts = build_prompts("random", DatasetArgs(num=8, input_len=4, output_len=3))
        res = run(RunSpec(url, "gt-model", prompts, concurrency=2, request_rate=4.0, burstiness=float("inf")))
    f = res.frame
    assert f["ok"].all(), f["error"].tolist()
    # slots idle for ~0.5 s found their connections closed: reconnects are recorded, not errors
    fresh = f[f["new_connection"]]
    assert len(fresh) >= 4 and (fresh["connect_ms"] > 0).all()
    assert ((f["ttft_ms"] > 0) & (f["sent_ns"] >= f["scheduled_ns"])).all()
