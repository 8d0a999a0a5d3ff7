"""The gpu suite's measurements recover the known costs of a simulated GPU."""

from __future__ import annotations

from typing import Any

import pytest

from profiler.gpu.bench import Measurement, copy_sizes, copy_sweep, graphs, launches, matmuls
from profiler.gpu.timing import Policy
from tests.gpu_fake import FakeGpu

P = Policy()
SIZES = copy_sizes(4 << 10, 256 << 20, 4)


def _by(rows: list[Measurement], metric: str, case: str | None = None) -> Measurement:
    (m,) = [r for r in rows if r.metric == metric and (case is None or r.case == case)]
    return m


def test_copy_sweep_rows_and_fits_recover_latency_and_bandwidth() -> None:
    gpu = FakeGpu()
    out = copy_sweep(gpu, SIZES, P)
    configs = {f"{d}_{m}_{mo}" for d in ("h2d", "d2h") for m in ("pinned", "pageable")
               for mo in ("pipelined", "sync")}
    assert set(out.fits) == configs and not out.unsupported and not out.skipped
    for cfg in configs:
        per_size = [r for r in out.rows if r.metric == cfg]
        assert [r.case for r in per_size] == [f"bytes={n}" for n in SIZES]
        for r in per_size:
            assert r.unit == "GB/s" and r.direction == "throughput" and r.params["events"] == "agree"
            assert r.value == pytest.approx(r.params["bytes"] / r.params["us_per_copy"] / 1e3, rel=1e-4)
        cost = gpu.copies[cfg.split("_")[1]]
        lat = _by(out.rows, f"{cfg}_latency", "fit")
        bw = _by(out.rows, f"{cfg}_bandwidth", "fit")
        # pipelined: the device cost alone; sync: plus the enqueue and the synchronize wait
        extra_us = 0.0 if cfg.endswith("pipelined") else (gpu.copy_cpu_ns + gpu.sync_ns) / 1e3
        assert lat.value == pytest.approx(cost.latency_ns / 1e3 + extra_us, rel=0.01)
        assert bw.value == pytest.approx(cost.gbps, rel=0.01)
        assert lat.unit == "us" and lat.direction == "latency" and lat.params["ok"] is True


def test_small_copies_pay_the_toll_large_copies_approach_the_bandwidth() -> None:
    gpu = FakeGpu()
    out = copy_sweep(gpu, SIZES, P, memories=["pinned"], modes=["pipelined"], directions=["h2d"])
    small, large = out.rows[0], out.rows[len(SIZES) - 1]
    assert small.value < 0.1 * large.value  # 4 KiB: 12 µs toll for 0.8 µs of transfer
    assert large.value == pytest.approx(5.2, rel=0.01)


def test_refused_memory_is_recorded_not_fatal_and_a_deadline_cuts_the_largest_sizes() -> None:
    gpu = FakeGpu(refuse={"pinned"})
    out = copy_sweep(gpu, SIZES, P)
    assert set(out.unsupported) == {f"{d}_pinned_{m}" for d in ("h2d", "d2h") for m in ("pipelined", "sync")}
    assert all("pageable" in r.metric for r in out.rows)
    gpu = FakeGpu()
    out = copy_sweep(gpu, SIZES, P, deadline_ns=gpu.now_ns() + 2_000_000_000)
    done = {r.params["bytes"] for r in out.rows if "bytes" in r.params}
    assert out.skipped and SIZES[0] in done and SIZES[-1] not in done
    assert done == set(SIZES[: len(done)])  # a prefix of the ladder, for every configuration


def test_launch_pipelined_and_round_trip() -> None:
    gpu = FakeGpu()
    rows = launches(gpu, P).rows
    assert _by(rows, "launch_pipelined").value == pytest.approx(5.0, rel=0.01)  # CPU-bound enqueue
    assert _by(rows, "launch_enqueue").value == pytest.approx(5.0, rel=0.01)
    trip = gpu.kernel_cpu_ns + gpu.kernel_gpu_ns + gpu.sync_ns
    assert _by(rows, "launch_round_trip").value == pytest.approx(trip / 1e3, rel=0.01)


def test_graph_capture_and_replay() -> None:
    gpu = FakeGpu()
    rows = graphs(gpu, P, kernels=20).rows
    assert _by(rows, "graph_capture").value == pytest.approx(400.0)
    assert _by(rows, "graph_replay").value == pytest.approx(20 * 1.5, rel=0.01)  # GPU-bound
    assert _by(rows, "graph_replay_per_kernel").value == pytest.approx(1.5, rel=0.01)
    refused = graphs(FakeGpu(refuse={"graph"}), P)
    assert not refused.rows and "graph" in refused.unsupported


def test_matmul_tflops_spec_ratio_and_unsupported_types() -> None:
    gpu = FakeGpu()
    out = matmuls(gpu, P, 8192, "NVIDIA H200", dtypes=["bf16", "fp8", "int8"])
    bf16 = _by(out.rows, "matmul_bf16")
    assert bf16.value == pytest.approx(700.0, rel=0.01) and bf16.unit == "TFLOPS"
    of_spec = _by(out.rows, "matmul_bf16_of_spec")
    assert of_spec.value == pytest.approx(100 * 700 / 989.4, rel=0.01) and of_spec.unit == "%"
    assert "not measured" in of_spec.params["spec_source"]
    assert "int8" in " ".join(out.unsupported)  # this simulation has no INT8
    unknown = matmuls(FakeGpu(), P, 1024, "NVIDIA A10", dtypes=["bf16"])
    assert [r.metric for r in unknown.rows] == ["matmul_bf16"]  # no peak for an unlisted GPU


@pytest.mark.parametrize("mode", ["negative", "zero", "skew"])
def test_every_row_says_when_events_lied(mode: str) -> None:
    gpu = FakeGpu(events=mode)
    rows: list[Any] = copy_sweep(gpu, SIZES[:3], P, memories=["pinned"]).rows + launches(gpu, P).rows
    timed = [r for r in rows if "events" in r.params]
    assert timed and all(r.params["events"] != "agree" for r in timed)
    honest = launches(FakeGpu(), P).rows
    assert _by(rows, "launch_round_trip").value == pytest.approx(_by(honest, "launch_round_trip").value)


def test_spec_peaks_table() -> None:
    from profiler.gpu.peaks import spec_peak

    assert spec_peak("NVIDIA H100 80GB HBM3", "bf16")["peak"] == 989.4  # type: ignore[index]
    assert spec_peak("NVIDIA H100 PCIe", "fp8")["model"] == "H100 PCIe"  # type: ignore[index]
    assert spec_peak("NVIDIA H200 NVL", "int8")["peak"] == 1670.5  # type: ignore[index]
    assert spec_peak("NVIDIA H200", "int8")["peak"] == 1978.9  # type: ignore[index]
    assert spec_peak("NVIDIA A100-SXM4-80GB", "bf16") is None
