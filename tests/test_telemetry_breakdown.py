"""GPU time breakdown on hand-made run directories with integer timestamps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loadgen.metrics import REQUEST_COLUMNS
from profiler.store import write_run
from profiler.telemetry.breakdown import breakdown, clock_event_names, compare_breakdowns
from profiler.telemetry.sampler import TELEMETRY_COLUMNS

S = 1_000_000_000  # ns per second
MS = 1_000_000


def requests(e2el_ms: float, ttft_ms: float, n: int = 4, tokens: int = 10) -> pd.DataFrame:
    """n requests sent 1 s apart from t=10 s; the last one ends at 10 + (n−1) + e2el."""
    rows = []
    for i in range(n):
        sent = 10 * S + i * S
        rows.append({
            "request_id": i, "scheduled_ns": sent, "sent_ns": sent,
            "first_ns": sent + int(ttft_ms * MS), "last_ns": sent + int(e2el_ms * MS),
            "connect_ms": 0.1, "ttft_ms": ttft_ms, "tpot_ms": 1.0, "e2el_ms": e2el_ms,
            "itl_ms": [1.0] * (tokens - 1), "input_tokens": 5, "output_tokens": tokens,
            "ok": True, "error": "",
        })
    # a failed request and a warm-up request must not count
    rows.append({**rows[0], "request_id": 98, "ok": False, "output_tokens": 0})
    return pd.DataFrame(rows, columns=[*REQUEST_COLUMNS])


def telemetry(util: float, power_w: float) -> pd.DataFrame:
    """One GPU sampled every 0.5 s from t=9 s to t=16 s; energy counter from power."""
    rows = []
    for k in range(15):
        t = 9 * S + k * S // 2
        row: dict[str, Any] = dict.fromkeys(TELEMETRY_COLUMNS)
        row.update(t_ns=t, gpu=0, gpu_util_pct=util if t >= 10 * S else 0.0, power_w=power_w,
                   energy_mj=1000.0 * power_w * (t / S), sm_clock_mhz=1980.0,
                   clock_event_reasons=4 if k == 5 else 0, mem_used_mib=70_000.0)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(TELEMETRY_COLUMNS))


def server_metrics(queue_s: float, prefill_s: float, decode_s: float, n: int = 4) -> pd.DataFrame:
    rows = []
    for t, k in ((9 * S, 0), (11 * S, 1), (20 * S, n)):  # before, during, after the run
        for name, per in (("request_queue_time_seconds", queue_s),
                          ("request_prefill_time_seconds", prefill_s),
                          ("request_decode_time_seconds", decode_s),
                          ("time_to_first_token_seconds", queue_s + prefill_s)):
            rows.append((t, f"vllm:{name}_count", "model_name=m", 100.0 + k))
            rows.append((t, f"vllm:{name}_sum", "model_name=m", 50.0 + k * per))
        rows.append((t, "vllm:num_requests_running", "model_name=m", float(k)))
    return pd.DataFrame(rows, columns=["t_ns", "name", "labels", "value"])


def make_run(tmp: Path, label: str, e2el: float, ttft: float, util: float, power: float,
             split: tuple[float, float, float] | None) -> Path:
    tables = {"telemetry": telemetry(util, power)}
    if split:
        tables["server_metrics"] = server_metrics(*split)
    return write_run(tmp, {"label": label, "model": "m"}, requests=requests(e2el, ttft),
                     summary={}, tables=tables)


def test_breakdown_by_hand(tmp_path: Path) -> None:
    run = make_run(tmp_path, "off", e2el=500.0, ttft=60.0, util=80.0, power=500.0,
                   split=(0.010, 0.040, 0.400))
    b = breakdown(run)
    assert b["available"] and b["output_tokens"] == 40
    assert b["window_s"] == pytest.approx(3.5)  # 10 s → 13 s + 0.5 s
    g = b["gpu"]
    assert g["busy_fraction"] == pytest.approx(0.80)  # samples 10.0 … 13.5 s, all at 80 %
    # energy counter delta over the in-window samples 10.0 → 13.5 s at 500 W = 1750 J
    assert g["energy_j"] == pytest.approx(1750.0)
    assert g["energy_per_output_token_j"] == pytest.approx(1750.0 / 40)
    assert g["gpus"][0]["clock_events"] == ["sw_power_cap"]
    s = b["latency_split"]
    assert s["available"]
    assert (s["queue_ms"], s["prefill_ms"], s["decode_ms"]) == pytest.approx((10.0, 40.0, 400.0))
    assert s["client_network_ms"] == pytest.approx(50.0)  # 500 − 450
    assert s["ttft_client_network_ms"] == pytest.approx(10.0)  # 60 − 50
    assert "warning" not in s  # the server counted exactly the 4 measured requests


def test_missing_inputs_give_reasons(tmp_path: Path) -> None:
    run = write_run(tmp_path, {"label": "on"}, requests=requests(500.0, 60.0), summary={})
    b = breakdown(run)
    assert b["gpu"]["available"] is False and "no telemetry" in b["gpu"]["reason"]
    assert b["latency_split"]["available"] is False
    assert b["latency_split"]["client_e2el_ms"] == 500.0


def test_energy_falls_back_to_power_integral(tmp_path: Path) -> None:
    tele = telemetry(50.0, 400.0)
    tele["energy_mj"] = None
    run = write_run(tmp_path, {"label": "x"}, requests=requests(500.0, 60.0), summary={},
                    tables={"telemetry": tele})
    g = breakdown(run)["gpu"]
    assert g["energy_j"] == pytest.approx(400.0 * 3.5)
    assert g["gpus"][0]["energy_method"].startswith("power integral")


def test_compare_names_the_component_that_grew(tmp_path: Path) -> None:
    off = breakdown(make_run(tmp_path, "off", 500.0, 60.0, 80.0, 500.0, (0.010, 0.040, 0.400)))
    on = breakdown(make_run(tmp_path, "on", 560.0, 70.0, 85.0, 520.0, (0.010, 0.045, 0.440)))
    c = compare_breakdowns(on, off)
    json.dumps([on, off, c], allow_nan=False)  # plain JSON for comparison.json / reports
    assert c["e2el_delta_ms"] == pytest.approx(60.0)
    assert c["grew_most"] == "decode_ms"
    d = c["components"]["decode_ms"]
    assert d["delta_ms"] == pytest.approx(40.0) and d["share_of_growth"] == pytest.approx(40 / 60)
    assert c["components"]["client_network_ms"]["delta_ms"] == pytest.approx(15.0)  # 65 − 50
    assert c["gpu"]["busy_fraction"]["delta_pct"] == pytest.approx(100 * (0.85 - 0.80) / 0.80)


def test_clock_event_names() -> None:
    assert clock_event_names(0) == []
    assert clock_event_names(0x1 | 0x40) == ["gpu_idle", "hw_thermal_slowdown"]


def test_runs_without_usable_requests_say_why(tmp_path: Path) -> None:
    suite = write_run(tmp_path, {"label": "on", "kind": "cpu"}, summary={"repeats": 0})
    assert breakdown(suite) == {"run_id": suite.name, "available": False,
                                "reason": "the run has no requests.parquet"}
    req = requests(500.0, 60.0)
    req["sent_ns"] = None
    imported = write_run(tmp_path, {"label": "off"}, requests=req, summary={})
    assert "timestamps" in breakdown(imported)["reason"]


def test_warmup_counted_by_the_server_is_named(tmp_path: Path) -> None:
    sm = server_metrics(0.010, 0.040, 0.400)
    sm.loc[(sm["t_ns"] == 20 * S) & sm["name"].str.endswith("_count"), "value"] += 2
    warm = requests(500.0, 60.0, n=2).iloc[:2].copy()
    warm["last_ns"] = [9 * S + 200 * MS, 9 * S + 600 * MS]  # both end after the 9 s scrape
    run = write_run(tmp_path, {"label": "on"}, requests=requests(500.0, 60.0), summary={},
                    tables={"server_metrics": sm, "warmup": warm})
    split = breakdown(run)["latency_split"]
    assert split["server_requests_counted"] == 6
    assert "the 2 extra are warm-up requests" in split["warning"]
    # one of them ended before the opening scrape: the mismatch is not explained by warm-up
    warm["last_ns"] = [8 * S, 9 * S + 600 * MS]
    run = write_run(tmp_path, {"label": "on"}, requests=requests(500.0, 60.0), summary={},
                    tables={"server_metrics": sm, "warmup": warm})
    assert "other traffic" in breakdown(run)["latency_split"]["warning"]
