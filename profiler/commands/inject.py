"""`tee-llm-prof inject`: the positive control as a standalone loopback proxy."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Put a known cost in front of an OpenAI-compatible endpoint: a loopback proxy that forwards
every byte unchanged and only delays the responses — +FIRST_BYTE_MS before each response's
first byte (TTFT grows by exactly that) and +PER_EVENT_US per streamed SSE event (every
inter-token gap, and TPOT, grow by that). Point one leg of a profile at the proxy and the
other at the endpoint itself: the profile must find the injected overhead inside its CI. If
your setup cannot see a +2% injected decode cost, it cannot see a 2% TEE cost either.

It listens on loopback only and runs until Ctrl-C. A profile can start it for you:
`profile --inject NAME=LEG:per_event_us=800` adds a leg NAME in front of leg LEG.

examples:
  tee-llm-prof inject --upstream http://127.0.0.1:8000 --per-event-us 800
  tee-llm-prof inject --upstream http://10.0.0.6:8000 --first-byte-ms 5 --listen 127.0.0.1:8100
  tee-llm-prof profile --model llama-3.1-8b --tee-on http://127.0.0.1:8100 --tee-off http://10.0.0.6:8000
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upstream", required=True, metavar="URL", help="the endpoint to add the cost to (http://)")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="loopback address to listen on (default: a free port, printed)")
    p.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="ms added before each response (default 0)"
    )
    p.add_argument("--per-event-us", type=float, default=0.0, help="µs added per streamed event (default 0)")
    p.add_argument(
        "--log", default=None, metavar="FILE", help="JSON lines: arrival and release of every piece"
    )


def run(args: argparse.Namespace) -> int:
    import ipaddress

    from profiler.controls import proxy
    from profiler.errors import UserError

    host = args.listen.rpartition(":")[0] or "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UserError(f"--listen {args.listen}: the proxy listens on loopback only (127.0.0.1, ::1)")
    if args.first_byte_ms == 0 and args.per_event_us == 0:
        raise UserError("give a cost: --first-byte-ms and/or --per-event-us")
    argv = [
        "--upstream",
        args.upstream,
        "--listen",
        args.listen,
        "--first-byte-ms",
        str(args.first_byte_ms),
        "--per-event-us",
        str(args.per_event_us),
    ] + (["--log", args.log] if args.log else [])
    return proxy.main(argv)
