"""TelemetrySession: everything sampled beside one run, in background threads.

    with TelemetrySession(metrics_url="http://127.0.0.1:8000/metrics") as tele:
        result = loadgen.runner.run(spec)
    writer.finish(..., tables=tele.tables(), telemetry=tele.summary())

Tables (only those with rows): ``telemetry`` (NVML, one row per GPU per tick),
``gpu_util_samples`` (the driver's utilisation history), ``server_metrics`` (scrapes of
vLLM /metrics), ``host`` (client host CPU/memory). All timestamps are perf_counter_ns, the
clock of requests.parquet; ``summary()["anchor"]`` holds one wall-clock/perf_counter pair.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import pandas as pd

from profiler.telemetry.host import HostSampler
from profiler.telemetry.periodic import Periodic
from profiler.telemetry.sampler import NvmlSampler
from profiler.telemetry.scrape import MetricsScraper


class TelemetrySession:
    def __init__(
        self,
        metrics_url: str | None = None,
        interval_s: float = 0.1,
        *,
        # Each /metrics scrape costs the server CPU: on vLLM CPU, scraping every 0.5 s made 41-46%
        # of ITLs exactly 0 (events flushed together) against 2-6% without scraping. The latency
        # split needs only the first and last scrape (histogram deltas), so the gauges are sampled
        # sparsely by default.
        scrape_interval_s: float = 5.0,
        host_interval_s: float = 0.5,
        nvml: bool = True,
        host: bool = True,
    ) -> None:
        self.nvml = NvmlSampler(interval_s=interval_s) if nvml else None
        self.scraper = MetricsScraper(metrics_url, scrape_interval_s) if metrics_url else None
        self.host = HostSampler(host_interval_s) if host else None
        self.anchor: dict[str, int] = {}
        self._started = False

    def _threads(self) -> list[Periodic]:
        return [t for t in (self.nvml, self.scraper, self.host) if t is not None]

    def __enter__(self) -> TelemetrySession:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()  # on any exit, Ctrl-C included: what was sampled is kept

    def start(self) -> None:
        self.anchor = {"wall_ns": time.time_ns(), "perf_ns": time.perf_counter_ns()}
        for t in self._threads():
            t.start()
        self._started = True

    def stop(self) -> None:
        for t in self._threads():
            t.stop()

    def tables(self) -> dict[str, pd.DataFrame]:
        found: dict[str, pd.DataFrame | None] = {
            "telemetry": self.nvml.table() if self.nvml else None,
            "gpu_util_samples": self.nvml.util_table() if self.nvml else None,
            "server_metrics": self.scraper.table() if self.scraper else None,
            "host": self.host.table() if self.host else None,
        }
        return {k: v for k, v in found.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"anchor": self.anchor}
        if self.nvml is not None:
            out["nvml"] = self.nvml.summary()
        else:
            out["nvml"] = {"available": False, "reason": "disabled"}
        out["server_metrics"] = (
            self.scraper.summary() if self.scraper else {"scrapes": 0, "reason": "no metrics_url"}
        )
        if self.host is not None:
            out["host"] = self.host.summary()
        threads = self._threads()
        out["cost"] = {
            "cpu_ms": round(sum(t.cpu_ns for t in threads) / 1e6, 3),
            "threads": {t.name.removeprefix("tee-llm-prof-"): t.cost() for t in threads},
        }
        return out
