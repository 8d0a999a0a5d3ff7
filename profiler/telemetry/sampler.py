"""NVML sampler: one row per GPU per tick into ``telemetry.parquet`` (perf_counter_ns clock).

Columns (None where the GPU/driver cannot answer; the summary says why, never a fake zero):
gpu_util_pct, mem_util_pct (nvmlDeviceGetUtilizationRates), mem_used_mib, sm_clock_mhz,
clock_event_reasons (bit mask), power_w, energy_mj (the driver's cumulative counter: use
deltas), pcie_tx_kbps / pcie_rx_kbps (KB/s), cc_protected_used_mib (CC on only), and the Hopper
GPM metrics gpm_sm_util_pct, gpm_tensor_util_pct, gpm_dram_bw_util_pct, gpm_pcie_tx_mibps,
gpm_pcie_rx_mibps. The driver's own higher-rate utilisation history (nvmlDeviceGetSamples) goes
to a second table, ``gpu_util_samples``, converted to the perf_counter clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pynvml

from profiler.telemetry import nvml as N
from profiler.telemetry.periodic import Periodic

# A field reader: (nvml, handle) -> {column: value}. One NVML call each, so one failure
# disables exactly the columns it feeds.
Reader = Callable[[Any, Any], dict[str, Any]]


def _util(nv: Any, h: Any) -> dict[str, Any]:
    u = nv.nvmlDeviceGetUtilizationRates(h)
    return {"gpu_util_pct": float(u.gpu), "mem_util_pct": float(u.memory)}


def _memory(nv: Any, h: Any) -> dict[str, Any]:
    return {"mem_used_mib": nv.nvmlDeviceGetMemoryInfo(h).used / 2**20}


def _sm_clock(nv: Any, h: Any) -> dict[str, Any]:
    return {"sm_clock_mhz": float(nv.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))}


def _clock_events(nv: Any, h: Any) -> dict[str, Any]:
    return {"clock_event_reasons": int(nv.nvmlDeviceGetCurrentClocksEventReasons(h))}


def _power(nv: Any, h: Any) -> dict[str, Any]:
    return {"power_w": nv.nvmlDeviceGetPowerUsage(h) / 1000.0}  # mW


def _energy(nv: Any, h: Any) -> dict[str, Any]:
    return {"energy_mj": float(nv.nvmlDeviceGetTotalEnergyConsumption(h))}


def _pcie_tx(nv: Any, h: Any) -> dict[str, Any]:
    kbps = nv.nvmlDeviceGetPcieThroughput(h, pynvml.NVML_PCIE_UTIL_TX_BYTES)
    return {"pcie_tx_kbps": float(kbps)}


def _pcie_rx(nv: Any, h: Any) -> dict[str, Any]:
    kbps = nv.nvmlDeviceGetPcieThroughput(h, pynvml.NVML_PCIE_UTIL_RX_BYTES)
    return {"pcie_rx_kbps": float(kbps)}


def _cc_protected(nv: Any, h: Any) -> dict[str, Any]:
    used = nv.nvmlDeviceGetConfComputeProtectedMemoryUsage(h).used
    return {"cc_protected_used_mib": used / 2**20}


READERS: dict[str, tuple[tuple[str, ...], Reader]] = {
    "utilization": (("gpu_util_pct", "mem_util_pct"), _util),
    "memory": (("mem_used_mib",), _memory),
    "sm_clock": (("sm_clock_mhz",), _sm_clock),
    "clock_events": (("clock_event_reasons",), _clock_events),
    "power": (("power_w",), _power),
    "energy": (("energy_mj",), _energy),
    "pcie_tx": (("pcie_tx_kbps",), _pcie_tx),
    "pcie_rx": (("pcie_rx_kbps",), _pcie_rx),
}
CC_READER: tuple[tuple[str, ...], Reader] = (("cc_protected_used_mib",), _cc_protected)
GPM_METRICS = {
    "gpm_sm_util_pct": pynvml.NVML_GPM_METRIC_SM_UTIL,
    "gpm_tensor_util_pct": pynvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL,
    "gpm_dram_bw_util_pct": pynvml.NVML_GPM_METRIC_DRAM_BW_UTIL,
    "gpm_pcie_tx_mibps": pynvml.NVML_GPM_METRIC_PCIE_TX_PER_SEC,
    "gpm_pcie_rx_mibps": pynvml.NVML_GPM_METRIC_PCIE_RX_PER_SEC,
}
TELEMETRY_COLUMNS = (
    "t_ns", "gpu",
    *(c for cols, _ in READERS.values() for c in cols),
    *CC_READER[0],
    *GPM_METRICS,
)
UTIL_SAMPLE_COLUMNS = ("t_ns", "gpu", "driver_ts_us", "util_pct")
MAX_TRANSIENT_FAILURES = 3  # then a field is considered unavailable


class NvmlSampler(Periodic):
    def __init__(self, interval_s: float = 0.1, gpm_every_s: float = 0.5, nvml: Any = None) -> None:
        super().__init__("nvml", interval_s)
        self._given = nvml
        self.nv: Any = None
        self.source = "nvml"
        self.reason: str | None = None  # why there are no samples at all
        self.handles: list[Any] = []
        self.cc_on = False
        self.unavailable: dict[str, str] = {}
        self._failures: dict[str, int] = {}
        self.rows: list[dict[str, Any]] = []
        self.util_rows: list[tuple[int, int, int, float]] = []
        self._last_util_ts: dict[int, int] = {}
        self.driver_clock: str | None = None  # "wall" | "monotonic": see _to_perf_ns
        self._gpm: dict[int, Any] = {}  # gpu -> previous GPM sample
        self._gpm_every = max(1, round(gpm_every_s / interval_s))
        self._gpm_last: dict[int, dict[str, float | None]] = {}
        # perf_counter and wall clock read together once: the driver's sample timestamps are
        # wall-clock microseconds, requests.parquet is perf_counter.
        self.anchor_wall_ns = time.time_ns()
        self.anchor_perf_ns = time.perf_counter_ns()

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> bool:
        if self._given is not None:
            self.nv, self.source = self._given, getattr(self._given, "source", "given")
            N.safe(self.nv.nvmlInit)
        else:
            self.nv, self.reason, self.source = N.open_nvml()
            if self.nv is None:
                return False
        count, why = N.device_count(self.nv)
        if not count:
            self.reason = why or "no NVIDIA GPU found"
            return False
        for i in range(count):
            h, why = N.safe(self.nv.nvmlDeviceGetHandleByIndex, i)
            if h is None:
                self.unavailable[f"gpu{i}"] = why or "no handle"
            self.handles.append(h)
        self.cc_on = N.cc_state(self.nv).get("cc_feature") == "on"
        if not self.cc_on:
            for col in CC_READER[0]:
                self.unavailable[col] = "CC mode off (protected memory exists only in CC mode)"
        self._setup_gpm()
        return True

    def _setup_gpm(self) -> None:
        why: str | None = None
        for gpu, h in enumerate(self.handles):
            if h is None:
                continue
            support, why = N.safe(self.nv.nvmlGpmQueryDeviceSupport, h)
            if support is not None and not int(support.isSupportedDevice):
                why = "GPM not supported on this GPU (Hopper or newer needed)"
            if why is None:
                sample, why = N.safe(self.nv.nvmlGpmSampleAlloc)
                if sample is not None:
                    _, why = N.safe(self.nv.nvmlGpmSampleGet, h, sample)
                    if why is None:
                        self._gpm[gpu] = sample
            if why:
                break
        if why or not self._gpm:
            self._gpm.clear()
            reason = why or "no GPU answered"
            if self.cc_on:
                reason = f"unavailable (CC mode): {reason}"
            for col in GPM_METRICS:
                self.unavailable[col] = reason

    # -- sampling ------------------------------------------------------------------------
    def _read(self, name: str, cols: tuple[str, ...], reader: Reader, h: Any, row: dict[str, Any]) -> None:
        if cols[0] in self.unavailable:
            return
        try:
            row.update(reader(self.nv, h))
            self._failures[name] = 0
        except Exception as exc:
            reason = N.error_reason(exc)
            n = self._failures.get(name, 0) + 1
            self._failures[name] = n
            if N.is_unsupported(reason) or n >= MAX_TRANSIENT_FAILURES or "NotRecorded" in reason:
                for c in cols:
                    self.unavailable[c] = reason

    def tick(self, now_ns: int) -> None:
        # not on tick 0: the setup sample is only microseconds old, a GPM delta needs time
        gpm_due = self.ticks > 0 and self.ticks % self._gpm_every == 0
        for gpu, h in enumerate(self.handles):
            if h is None:
                continue
            row: dict[str, Any] = {"t_ns": now_ns, "gpu": gpu}
            for name, (cols, reader) in READERS.items():
                self._read(name, cols, reader, h, row)
            if self.cc_on:
                self._read("cc", CC_READER[0], CC_READER[1], h, row)
            if gpu in self._gpm and gpm_due:
                self._gpm_last[gpu] = self._gpm_step(gpu, h)
                self._distrust_cc_zeros(gpu, row)
            row.update(self._gpm_last.get(gpu, {}))
            self.rows.append(row)
            self._util_samples(gpu, h)

    def _util_samples(self, gpu: int, h: Any) -> None:
        if "util_samples" in self.unavailable:
            return
        last = self._last_util_ts.get(gpu, 0)
        got, why = N.safe(self.nv.nvmlDeviceGetSamples, h, pynvml.NVML_GPU_UTILIZATION_SAMPLES, last)
        if got is None:
            # NOT_FOUND only means "nothing newer than last": keep asking
            if N.is_unsupported(why) or (why and "NotRecorded" in why):
                self.unavailable["util_samples"] = why or "unknown"
            return
        _vtype, samples = got
        for s in samples:
            ts = int(s.timeStamp)
            if ts <= last:
                continue
            self.util_rows.append((self._to_perf_ns(ts), gpu, ts, float(s.sampleValue.uiVal)))
            last = max(last, ts)
        self._last_util_ts[gpu] = last

    def _distrust_cc_zeros(self, gpu: int, row: dict[str, Any]) -> None:
        """In CC mode, GPM answering all zeros while the GPU is busy means the counters are
        closed, not idle: report that, never the zeros."""
        vals = self._gpm_last.get(gpu, {})
        busy = (row.get("gpu_util_pct") or 0) > 0
        if self.cc_on and busy and vals and all(v == 0.0 for v in vals.values()):
            for col in GPM_METRICS:
                self.unavailable[col] = "unavailable (CC mode): GPM reads 0 while the GPU is busy"
            self._gpm.clear()
            self._gpm_last.clear()

    def _to_perf_ns(self, ts_us: int) -> int:
        """The driver stamps samples in CPU microseconds; NVML documents no clock, so decide
        once: near time.time_ns() it is the wall clock, otherwise take it as CLOCK_MONOTONIC
        (= perf_counter on Linux). A wrong guess only moves samples out of the run window,
        and the breakdown then falls back to the per-tick readings."""
        ns = ts_us * 1000
        if self.driver_clock is None:
            near_wall = abs(ns - self.anchor_wall_ns) < abs(ns - self.anchor_perf_ns)
            self.driver_clock = "wall" if near_wall else "monotonic"
        if self.driver_clock == "wall":
            return self.anchor_perf_ns + (ns - self.anchor_wall_ns)
        return ns

    def _gpm_step(self, gpu: int, h: Any) -> dict[str, float | None]:
        prev = self._gpm[gpu]
        cur, why = N.safe(self.nv.nvmlGpmSampleAlloc)
        if cur is not None:
            _, why = N.safe(self.nv.nvmlGpmSampleGet, h, cur)
        if why:
            return {}
        mg = pynvml.c_nvmlGpmMetricsGet_t()
        mg.version = pynvml.NVML_GPM_METRICS_GET_VERSION
        mg.numMetrics = len(GPM_METRICS)
        mg.sample1, mg.sample2 = prev, cur
        for i, mid in enumerate(GPM_METRICS.values()):
            mg.metrics[i].metricId = mid
        res, why = N.safe(self.nv.nvmlGpmMetricsGet, mg)
        N.safe(self.nv.nvmlGpmSampleFree, prev)
        self._gpm[gpu] = cur
        out: dict[str, float | None] = {}
        for i, col in enumerate(GPM_METRICS):
            ok = res is not None and int(res.metrics[i].nvmlReturn) == pynvml.NVML_SUCCESS
            out[col] = float(res.metrics[i].value) if ok else None
        return out

    def teardown(self) -> None:
        if self.nv is None:
            return
        for sample in self._gpm.values():
            N.safe(self.nv.nvmlGpmSampleFree, sample)
        N.close_nvml(self.nv)

    # -- results -------------------------------------------------------------------------
    def table(self) -> pd.DataFrame | None:
        if not self.rows:
            return None
        return pd.DataFrame(self.rows, columns=list(TELEMETRY_COLUMNS))

    def util_table(self) -> pd.DataFrame | None:
        if not self.util_rows:
            return None
        return pd.DataFrame(self.util_rows, columns=list(UTIL_SAMPLE_COLUMNS))

    def summary(self) -> dict[str, Any]:
        frame = self.table()
        if frame is None:  # no GPU, no NVML, or the thread never ticked: one reason for all
            fields = {}  # the top-level reason says why there is nothing
        else:
            fields = {c: self.unavailable.get(c, "ok") for c in TELEMETRY_COLUMNS[2:]}
            fields["util_samples"] = self.unavailable.get(
                "util_samples", "ok" if self.util_rows else "no samples returned")
        if frame is not None:  # a field that never produced a value is not "ok"
            for c in TELEMETRY_COLUMNS[2:]:
                if fields[c] == "ok" and frame[c].isna().all():
                    fields[c] = "no value returned"
        return {
            "source": self.source,
            "available": self.reason is None and bool(self.rows),
            "reason": self.reason or self.error or (None if self.rows else "no samples taken"),
            "gpus": len(self.handles),
            "cc_mode": self.cc_on,
            "rows": len(self.rows),
            "util_samples": len(self.util_rows),
            "util_samples_clock": self.driver_clock,
            "fields": fields,
            "cost": self.cost(),
        }
