"""net: a gateway under plain-HTTP load at several concurrency levels (the seed's Table III).

For each ``--url`` × ``--concurrency`` the closed loop of :mod:`loadgen.plain` runs until
``--requests`` were sent or ``--duration`` passed, and we record QPS, average / p99 / max
latency, error rate and the maximum connect time. Give the same gateway over HTTP and HTTPS
(``--url http://… --url https://…``) to get the TLS share of the latency:
``tls_share = (latency_https − latency_http) / latency_https``.

Rows are keyed by ``case = "target=<scheme> concurrency=<C>"`` (not the URL), so a TEE leg and a
bare-metal leg with different host names still compare target by target.
"""

from __future__ import annotations

import argparse
import math
from typing import Any
from urllib.parse import urlsplit

from profiler.errors import UserError
from profiler.suites.base import SUITES, Rows, Suite, Tick, int_list


def target_tags(urls: list[str]) -> list[str]:
    """'http', 'https' — or 'http1', 'http2' when a scheme repeats."""
    schemes = [urlsplit(u).scheme for u in urls]
    return [s if schemes.count(s) == 1 else f"{s}{schemes[:i + 1].count(s)}" for i, s in enumerate(schemes)]


def tls_share_pct(latency_http: float, latency_https: float) -> float:
    """Share of the HTTPS latency that TLS adds, in percent."""
    return 100.0 * (latency_https - latency_http) / latency_https


def ensure_open_files(needed: int) -> None:
    """Thousands of connections need as many file descriptors: raise the soft limit up to the
    hard one if needed, else say how (the seed's gateway runs used up to 2000 connections)."""
    try:
        import resource
    except ImportError:  # not POSIX: nothing to check
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise UserError(f"--concurrency needs ~{needed} open files but the hard limit is {hard}; "
                            f"raise it (e.g. `ulimit -Hn {needed}` as root) or lower --concurrency")


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", action="append", required=True,
                   help="target URL (repeat for HTTP and HTTPS of the same gateway)")
    p.add_argument("--concurrency", type=int_list, default=[8, 32],
                   help="comma-separated concurrency levels (default: 8,32)")
    p.add_argument("--requests", type=int, default=2000,
                   help="requests per level (default: 2000; --duration also bounds it)")
    p.add_argument("--duration", type=float, default=10.0, help="max seconds per level (default: 10)")
    p.add_argument("--rate", type=float, default=float("inf"),
                   help="open loop: requests/s (Poisson; --burstiness for gamma), --concurrency caps "
                   "requests in flight, client lag recorded (default: inf = closed loop)")
    p.add_argument("--burstiness", type=float, default=1.0, help="gamma shape for --rate (1 = Poisson)")
    p.add_argument("--seed", type=int, default=0, help="arrival-schedule seed for --rate")
    p.add_argument("--method", default="GET", choices=["GET", "POST", "HEAD"])
    p.add_argument("--data", default=None, help="request body for POST")
    p.add_argument("--header", action="append", default=[], help="extra header 'Name: value' (repeatable)")
    p.add_argument("--new-connections", action="store_true",
                   help="open a connection per request (connect + TLS handshake every time)")
    p.add_argument("--insecure", action="store_true", help="accept any TLS certificate (self-signed)")
    p.add_argument("--ca-file", default=None, help="CA bundle that signs the gateway's certificate")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    for url in args.url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"--url {url!r} is not an http:// or https:// URL")
    if args.requests < 1 or args.duration <= 0:
        raise UserError("--requests must be >= 1 and --duration > 0")
    if not args.rate > 0 or not args.burstiness > 0:
        raise UserError("--rate and --burstiness must be > 0 (--rate inf = closed loop)")
    headers = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            raise UserError(f"--header {h!r} must look like 'Name: value'")
        headers[name.strip()] = value.strip()
    args._headers = headers
    ensure_open_files(max(args.concurrency) + 64)
    return {
        "urls": list(args.url), "targets": target_tags(args.url), "concurrency": list(args.concurrency),
        "requests": args.requests, "duration_s": args.duration, "method": args.method,
        "new_connections": args.new_connections, "verify_tls": not args.insecure,
        "rate": args.rate, "burstiness": args.burstiness, "seed": args.seed,
    }


def _measure(args: argparse.Namespace, rows: Rows, tick: Tick) -> None:
    from loadgen.plain import PlainSpec, plain_summary, run_plain

    verify: bool | str = False if args.insecure else (args.ca_file or True)
    latency: dict[tuple[str, int], float] = {}
    qps: dict[tuple[str, int], float] = {}
    for url, tag in zip(args.url, target_tags(args.url), strict=True):
        for c in args.concurrency:
            spec = PlainSpec(
                url=url, concurrency=c, num_requests=args.requests, duration_s=args.duration,
                method=args.method, body=args.data.encode() if args.data else None,
                headers=args._headers, timeout_s=args.timeout,
                new_connections=args.new_connections, verify_tls=verify,
                rate=args.rate, burstiness=args.burstiness, seed=args.seed,
            )
            res = run_plain(spec)
            s = plain_summary(res.frame)
            case = f"target={tag} concurrency={c}"
            if math.isfinite(args.rate):
                case += f" rate={args.rate:g}"
            kw: dict[str, Any] = {"case": case, "threads": None, "url": url, "concurrency": c}
            rows.add("qps", s["qps"], unit="req/s", direction="throughput", **kw)
            rows.add("latency_avg", s["mean_latency_ms"], unit="ms", direction="latency", **kw)
            rows.add("latency_p99", s["p99_latency_ms"], unit="ms", direction="latency", **kw)
            rows.add("latency_max", s["max_latency_ms"], unit="ms", direction="latency", **kw)
            rows.add("error_rate", s["error_rate_pct"], unit="%", direction="latency", **kw)
            rows.add("connect_max", s["max_connect_ms"], unit="ms", direction="latency", **kw)
            rows.add("requests", s["requests"], unit="count", direction="throughput", **kw)
            if math.isfinite(args.rate):
                rows.add("client_lag_max", s["max_client_lag_ms"], unit="ms", direction="latency", **kw)
            latency[(tag, c)], qps[(tag, c)] = s["mean_latency_ms"], s["qps"]
            if res.interrupted:
                raise KeyboardInterrupt
            tick(case)
    for c in args.concurrency:
        if ("http", c) in latency and ("https", c) in latency:
            rows.add("tls_share", tls_share_pct(latency[("http", c)], latency[("https", c)]),
                     unit="%", direction="latency", case=f"concurrency={c}", concurrency=c)


SUITES.add(
    "net",
    Suite(
        name="net",
        help="gateway under plain-HTTP load: QPS, avg/p99/max latency, errors, connect time, TLS share",
        description="Drives each --url at each --concurrency with a closed loop of plain HTTP "
        "requests (loadgen.plain) and records QPS, average/p99/max latency, error rate and max "
        "connect time. With both an http:// and an https:// URL it adds the TLS share of the "
        "latency. Traffic goes only where you point it.\n\n"
        "example:\n  tee-llm-prof suite net --url http://10.0.0.5:8080/ --url https://10.0.0.5:8443/ "
        "--concurrency 8,32 --label on --out runs/\n"
        "  tee-llm-prof suite net --url https://127.0.0.1:8443/ --insecure --new-connections "
        "--concurrency 200 --requests 5000 --label off --out runs/",
        add_arguments=_add_arguments,
        prepare=_prepare,
        measure=_measure,
        steps=lambda a: len(a.url) * len(a.concurrency),
    ),
)
