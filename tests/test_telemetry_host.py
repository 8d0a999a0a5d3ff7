"""Host sampler: /proc parsing (pure) and one sampler pass over a hand-made /proc."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.telemetry.host import HostSampler, read_cpu_times, read_mem_used_mib

STAT = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
STAT2 = "cpu  160 0 70 900 50 0 0 0 0 0\n"
MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\n"


def test_cpu_times_and_memory() -> None:
    assert read_cpu_times(STAT) == (150, 1000)  # idle + iowait are not busy
    assert read_mem_used_mib(MEMINFO) == pytest.approx((16384000 - 8192000) / 1024)


def test_sampler_over_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "loadavg").write_text("1.50 1.00 0.50 2/300 12345\n")
    s = HostSampler(proc=tmp_path)
    assert s.setup()
    (tmp_path / "stat").write_text(STAT2)
    s.tick(42)
    t = s.table()
    assert t is not None
    # busy +80 of +180 jiffies
    assert t.iloc[0].to_dict() == pytest.approx(
        {"t_ns": 42, "cpu_busy_pct": 100 * 80 / 180, "mem_used_mib": 8000.0, "load1": 1.5})


def test_missing_proc_is_a_reason(tmp_path: Path) -> None:
    s = HostSampler(proc=tmp_path / "none")
    assert s.setup() is False and "not readable" in (s.reason or "")
