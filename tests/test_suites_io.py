"""io suite: the fio JSON parser on real output captured here, the job set and its guards."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from profiler.errors import UserError
from profiler.suites import load_all
from profiler.suites.io import JOB_NAMES, JOBS, fio_command, parse_fio, supports_direct_io

FIX = Path(__file__).parent / "fixtures" / "suites"


def test_parse_fio_mixed_job_captured_here() -> None:
    # fio 3.33, randrw 75/25, 4k, QD16, 1 s on this machine.
    r = parse_fio((FIX / "fio-3.33-randrw75-4k-qd16.json").read_text())
    assert set(r) == {"read", "write"}
    assert r["read"]["iops"] == pytest.approx(57334.665335)
    assert r["write"]["iops"] == pytest.approx(19121.878122)
    assert r["read"]["lat_avg_us"] == pytest.approx(198.904448582)
    assert r["read"]["bw_mib_s"] == pytest.approx(r["read"]["iops"] * 4096 / (1 << 20), rel=0.01)
    assert r["read"]["clat_p99_us"] > r["read"]["lat_avg_us"] / 10


def test_parse_fio_skips_warnings_and_idle_direction() -> None:
    text = (FIX / "fio-3.33-randrw75-4k-qd16.json").read_text()
    text = text.replace('"io_bytes" : 78401536', '"io_bytes" : 0', 1)
    r = parse_fio("fio: some warning on stdout\n" + text)
    assert set(r) == {"read"}


def test_parse_fio_reports_job_errors() -> None:
    with pytest.raises(RuntimeError, match="failed with error 5"):
        parse_fio('{"jobs": [{"jobname": "x", "error": 5}]}')
    with pytest.raises(ValueError):
        parse_fio("no json here")


def test_job_set_is_the_seeds() -> None:
    by = {j.name: j for j in JOBS}
    assert (by["randread-iops"].rw, by["randread-iops"].bs) == ("randread", "4k")
    assert by["randread-iops"].iodepth >= 32 and by["randwrite-iops"].iodepth >= 32
    assert by["randread-lat"].iodepth == 1 and by["randwrite-lat"].iodepth == 1
    assert by["mixed-75-25"].rwmixread == 75
    assert {by["seqread"].rw, by["seqwrite"].rw} == {"read", "write"}
    assert by["read-bw"].bs == "1m"


def test_fio_command(tmp_path: Path) -> None:
    job = {j.name: j for j in JOBS}["mixed-75-25"]
    cmd = fio_command("fio", job, tmp_path, 1 << 20, 3, True, "libaio")
    assert "--output-format=json" in cmd and "--rwmixread=75" in cmd and "--direct=1" in cmd
    assert f"--directory={tmp_path}" in cmd and "--runtime=3" in cmd and "--time_based" in cmd


def test_direct_io_probe_leaves_nothing(tmp_path: Path) -> None:
    assert supports_direct_io(tmp_path) in (True, False)
    assert list(tmp_path.iterdir()) == []


def _io_args(**kw: object) -> argparse.Namespace:
    suite = load_all().get("io")
    p = argparse.ArgumentParser()
    suite.add_arguments(p)
    ns = p.parse_args([])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_guards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare = load_all().get("io").prepare
    assert prepare is not None
    with pytest.raises(UserError, match="not an existing directory"):
        prepare(_io_args(dir=tmp_path / "nope"))
    with pytest.raises(UserError, match="unknown fio job"):
        prepare(_io_args(dir=tmp_path, jobs=["bogus"]))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install -y fio"):
        prepare(_io_args(dir=tmp_path))
    assert len(JOB_NAMES) == 9
