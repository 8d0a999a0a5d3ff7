"""A background thread that calls ``tick`` on a fixed period and measures its own CPU cost.

Telemetry must never touch the load generator's event loop (DESIGN §8.7): every sampler is one
of these threads. Its cost is reported, because a sampler that steals a core from the client
would bias the very latencies we measure.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Periodic(threading.Thread):
    def __init__(self, name: str, interval_s: float) -> None:
        super().__init__(name=f"tee-llm-prof-{name}", daemon=True)
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_ns = int(interval_s * 1e9)
        self._halt = threading.Event()
        self.ticks = 0
        self.tick_ns_total = 0
        self.cpu_ns = 0
        self.wall_ns = 0
        self.error: str | None = None  # an exception that ended the thread early

    # Sub-classes override these three.
    def setup(self) -> bool:
        """Prepare; return False to end the thread without ticking (reason set elsewhere)."""
        return True

    def tick(self, now_ns: int) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        pass

    def run(self) -> None:
        cpu0 = time.thread_time_ns()
        wall0 = time.perf_counter_ns()
        try:
            if not self.setup():
                return
            due = time.perf_counter_ns()
            while not self._halt.is_set():
                t0 = time.perf_counter_ns()
                self.tick(t0)
                self.tick_ns_total += time.perf_counter_ns() - t0
                self.ticks += 1
                due += self.interval_ns
                delay = due - time.perf_counter_ns()
                if delay < 0:  # fell behind (slow query): skip missed slots, never burst
                    due = time.perf_counter_ns()
                    delay = 0
                self._halt.wait(delay / 1e9)
            self.final_tick()
        except Exception as exc:  # a sampler must not kill the run; say what happened
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                self.teardown()
            finally:
                self.cpu_ns = time.thread_time_ns() - cpu0
                self.wall_ns = time.perf_counter_ns() - wall0

    def final_tick(self) -> None:
        """One last tick after stop() (the scraper uses it to close the window)."""

    def stop(self, timeout_s: float = 10.0) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout_s)

    def cost(self) -> dict[str, Any]:
        wall_s = self.wall_ns / 1e9
        return {
            "ticks": self.ticks,
            "interval_s": self.interval_ns / 1e9,
            "cpu_ms": round(self.cpu_ns / 1e6, 3),
            "wall_s": round(wall_s, 3),
            "cpu_pct_of_one_core": round(100.0 * self.cpu_ns / self.wall_ns, 3)
            if self.wall_ns and self.ticks
            else None,
            "mean_tick_us": round(self.tick_ns_total / self.ticks / 1e3, 1) if self.ticks else None,
        }
