"""Host sampler: CPU busy % and memory from /proc, so a saturated client host is visible.

A TEE guest pays for its vCPUs differently (exits, bounce buffers); a client starved of CPU
inflates latencies on both legs. One row per tick into the ``host`` table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from profiler.telemetry.periodic import Periodic

HOST_COLUMNS = ("t_ns", "cpu_busy_pct", "mem_used_mib", "load1")


def read_cpu_times(text: str) -> tuple[int, int]:
    """(busy, total) jiffies from the first line of /proc/stat."""
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return total - idle, total


def read_mem_used_mib(text: str) -> float:
    info = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0])  # kB
    return (info["MemTotal"] - info.get("MemAvailable", info.get("MemFree", 0))) / 1024.0


class HostSampler(Periodic):
    def __init__(self, interval_s: float = 0.5, proc: Path = Path("/proc")) -> None:
        super().__init__("host", interval_s)
        self.proc = proc
        self.rows: list[tuple[int, float | None, float | None, float | None]] = []
        self._prev: tuple[int, int] | None = None
        self.reason: str | None = None

    def setup(self) -> bool:
        try:
            self._prev = read_cpu_times((self.proc / "stat").read_text())
        except (OSError, ValueError, IndexError) as exc:
            self.reason = f"/proc not readable: {exc}"
            return False
        return True

    def tick(self, now_ns: int) -> None:
        busy, total = read_cpu_times((self.proc / "stat").read_text())
        cpu = None
        if self._prev is not None and total > self._prev[1]:
            cpu = 100.0 * (busy - self._prev[0]) / (total - self._prev[1])
        self._prev = (busy, total)
        mem = read_mem_used_mib((self.proc / "meminfo").read_text())
        load1 = float((self.proc / "loadavg").read_text().split()[0])
        self.rows.append((now_ns, cpu, mem, load1))

    def table(self) -> pd.DataFrame | None:
        return pd.DataFrame(self.rows, columns=list(HOST_COLUMNS)) if self.rows else None

    def summary(self) -> dict[str, Any]:
        frame = self.table()
        out: dict[str, Any] = {"rows": len(self.rows), "reason": self.reason or self.error,
                               "cost": self.cost()}
        if frame is not None:
            out["cpu_busy_pct_mean"] = float(frame["cpu_busy_pct"].mean())
            out["cpu_busy_pct_max"] = float(frame["cpu_busy_pct"].max())
        return out
