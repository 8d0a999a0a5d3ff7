"""Nothing measured is lost or faked; every bad input gets one line (the CLI as a user runs it).

Signals are sent to the CLI running as a real subprocess in its own session, at a moment taken
from the ground-truth server's log (requests it has received), never after a fixed sleep.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from profiler.store import read_json, read_run
from tests.support.servers import ROOT, gt_log, gt_server

pytestmark = pytest.mark.integration

SMALL = ["--input-len", "8", "--output-len", "4", "--concurrency", "4", "--no-progress"]


def cli(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "COLUMNS": "120"}, **kw,  # type: ignore[call-overload]
    )


def one_line(res: subprocess.CompletedProcess[str], code: int = 2) -> str:
    err = res.stderr.strip()
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and err.count("\n") == 0, res.stderr
    assert err.startswith("error: ")
    return err


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "profiler.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def when(ready: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "the moment to signal never came"
        time.sleep(0.02)


def received(url: str) -> int:
    return len(gt_log(url)["requests"])


def models_yaml(tmp: Path, on: str, off: str, **workload: object) -> Path:
    wl = {"num_requests": 12, "concurrency": 4, "input_len": 8, "output_len": 4, "request_rates": ["inf"],
          "repeats": 2, **workload}
    path = tmp / "models.yaml"
    path.write_text(json.dumps({"models": {"gt": {
        "hf_id": "test/gt", "served_name": "gt-model", "endpoints": {"tee_on": on, "tee_off": off},
        "workload": wl}}}))
    return path


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


# ---------------------------------------------------------------- signals (items 2, 3, 4)


def signalled_run(out: Path, *signals: signal.Signals) -> str:
    """A long `run` against the ground-truth server, sent ``signals`` (50 ms apart) once 40
    requests reached the server; returns its stderr."""
    with gt_server("--ttft-ms", "5", "--itl-ms", "5") as url:
        proc = start("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(out), *SMALL,
                     "--num-requests", "4000")
        when(lambda: received(url) > 40)
        for i, sig in enumerate(signals):
            if i:
                time.sleep(0.05)  # an impatient user: the next press 50 ms after the first
            os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    return err


def test_two_quick_ctrl_c_keep_what_was_measured(tmp_path: Path) -> None:
    signalled_run(tmp_path, signal.SIGINT, signal.SIGINT)
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "incomplete" and "before any request" not in str(run.manifest.reason)
    assert run.requests["ok"].sum() >= 30 and not list(only_run(tmp_path).glob(".*tmp"))


def test_sigterm_on_run_saves_and_says_sigterm(tmp_path: Path) -> None:
    signalled_run(tmp_path, signal.SIGTERM)
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "incomplete" and run.manifest.reason == "interrupted (SIGTERM)"
    assert run.manifest.pid is None and run.requests["ok"].sum() >= 30


def test_sigterm_on_profile_lists_the_cut_run_and_names_the_signal(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "5", "--itl-ms", "5") as url:
        models = models_yaml(tmp_path, url, url, num_requests=3000, repeats=4)
        proc = start("--model", "gt", "--models", str(models), "--out", str(tmp_path), "--profile-id", "p",
                     "--no-report")
        when(lambda: received(url) > 3000 + 80)  # the first run done, the second one measuring
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    prof = read_json(tmp_path / "p" / "profile.json")
    assert prof["status"] == "incomplete" and "SIGTERM" in prof["reason"]
    listed = sorted(r for rs in prof["load_points"][0]["runs"].values() for r in rs)
    on_disk = sorted(f"runs/{p.name}" for p in (tmp_path / "p" / "runs").iterdir())
    assert listed == on_disk and len(listed) == 2
    cut = read_run(tmp_path / "p" / listed[-1]) if not read_run(tmp_path / "p" / listed[-1]).complete else \
        read_run(tmp_path / "p" / listed[0])
    assert cut.manifest.status == "incomplete" and "SIGTERM" in str(cut.manifest.reason)
    assert cut.requests["ok"].sum() > 0


def test_ctrl_c_during_warmup_stops_at_once(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "600000") as url:  # answers /v1/models, never a first token
        proc = start("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(tmp_path), *SMALL,
                     "--num-requests", "8", "--timeout", "900")
        when(lambda: received(url) >= 4)  # every warm-up request is waiting on the server
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert took < 15, took  # not the 900 s request timeout
    run = read_run(only_run(tmp_path))
    assert run.manifest.status == "incomplete"
    assert run.manifest.reason == "interrupted (Ctrl-C) during warm-up"


# ---------------------------------------------------------------- model, failures (items 5, 6)


def test_a_leg_serving_another_model_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with gt_server("--model", "gt-model") as on, gt_server("--model", "other-model") as off:
        models = models_yaml(tmp_path, on, off)
        res = cli("--model", "gt", "--models", str(models), "--out", str(tmp_path / "out"), "--no-report")
        err = one_line(res)
        assert "serves other-model, not 'gt-model'" in err and "--allow-model-mismatch" in err
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        assert received(on) == 0 and received(off) == 0  # not one request was sent
        res = cli("--model", "gt", "--models", str(models), "--out", str(tmp_path / "out"), "--no-report",
                  "--allow-model-mismatch", "--repeats", "1")
    assert res.returncode == 0, res.stderr
    assert "warning: leg off" in res.stderr


def test_a_run_in_which_every_request_fails_is_failed_and_exits_non_zero(tmp_path: Path) -> None:
    with gt_server("--fault", "http500") as url:
        res = cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(tmp_path / "r"),
                  *SMALL, "--num-requests", "400")
        models = models_yaml(tmp_path, url, url)
        prof = cli("--model", "gt", "--models", str(models), "--out", str(tmp_path / "p"), "--profile-id",
                   "x", "--no-report")
    assert res.returncode == 1, res.stderr
    run = read_run(only_run(tmp_path / "r"))
    assert run.manifest.status == "failed" and "every request failed" in str(run.manifest.reason)
    assert "HTTP 500" in str(run.manifest.reason) and run.requests["ok"].sum() == 0
    # it stopped after the first 16 failed alike instead of sending all 400
    assert "hopeless" in str(run.manifest.reason) and len(run.requests) < 40
    # a profile stops at the first hopeless run instead of hammering the endpoint
    assert prof.returncode == 2 and "Traceback" not in prof.stderr
    err = prof.stderr.strip().splitlines()[-1]  # after the profile's progress lines
    assert err.startswith("error: leg on: run ") and "stopping here" in err
    index = read_json(tmp_path / "p" / "x" / "profile.json")
    assert index["status"] == "incomplete" and len(list((tmp_path / "p" / "x" / "runs").iterdir())) == 1


# ---------------------------------------------------------------- warm-up, strictness (items 12, 13, 22)


def test_default_warmup_is_capped_and_profile_takes_warmup(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "2", "--itl-ms", "1") as url:
        res = cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(tmp_path / "a"),
                  "--input-len", "8", "--output-len", "2", "--no-progress", "--concurrency", "200",
                  "--num-requests", "10")
        models = models_yaml(tmp_path, url, url)
        prof = cli("--model", "gt", "--models", str(models), "--out", str(tmp_path / "p"), "--profile-id",
                   "w", "--no-report", "--warmup", "1", "--repeats", "1")
    assert res.returncode == 0, res.stderr
    warm = read_run(only_run(tmp_path / "a")).table("warmup")
    assert warm is not None and len(warm) == 10  # min(concurrency 200, num_requests 10, 64)
    assert prof.returncode == 0, prof.stderr
    for rel in read_json(tmp_path / "p" / "w" / "profile.json")["load_points"][0]["runs"]["on"]:
        table = read_run(tmp_path / "p" / "w" / rel).table("warmup")
        assert table is not None and len(table) == 1


def test_typos_and_escaping_ids_are_refused_before_anything_exists(tmp_path: Path) -> None:
    models = models_yaml(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    out = tmp_path / "out"
    err = one_line(cli("--model", "gt", "--models", str(models), "--out", str(out), "--dataset", "randm"))
    assert "randm" in err and not out.exists()
    err = one_line(cli("--model", "gt", "--models", str(models), "--out", str(out), "--profile-id", "../x"))
    assert "--profile-id" in err and not (tmp_path / "x").exists()


# ---------------------------------------------------------------- outputs and endpoints (14, 15, 16)


def test_out_that_is_a_file_or_read_only_is_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    models = models_yaml(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    with gt_server() as url:
        one_line(cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(afile), *SMALL))
        one_line(cli("--model", "gt", "--models", str(models), "--out", str(afile)))
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        # root ignores modes; sysfs refuses even root a new directory
        target = ro if not os.access(ro, os.W_OK) else Path("/sys/tee-llm-prof-test-out")
        try:
            for cmd in (["run", "--endpoint", url, "--served-model", "gt-model", *SMALL],
                        ["--model", "gt", "--models", str(models)]):
                assert "not writable" in one_line(cli(*cmd, "--out", str(target / "sub")))
        finally:
            ro.chmod(stat.S_IRWXU)
        assert received(url) == 0


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:8000", "http://", "http://127.0.0.1:99999",
                                      "127.0.0.1:8000"])
def test_bad_endpoint_urls_are_one_line_and_leave_no_run(tmp_path: Path, endpoint: str) -> None:
    err = one_line(cli("run", "--endpoint", endpoint, "--served-model", "m", "--out", str(tmp_path), *SMALL))
    assert "--endpoint" in err and list(tmp_path.iterdir()) == []


def test_unreachable_endpoint_is_one_line_and_leaves_no_run(tmp_path: Path) -> None:
    err = one_line(cli("run", "--endpoint", "http://127.0.0.1:9", "--served-model", "m", "--out",
                       str(tmp_path), *SMALL))
    assert "cannot reach" in err and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- probe, disk (17, 18)


def test_a_tokenize_answer_cut_mid_way_falls_back_to_words(tmp_path: Path) -> None:
    with gt_server("--tokenize-fault", "cut") as url:
        res = cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(tmp_path), *SMALL,
                  "--num-requests", "8")
    assert res.returncode == 0, res.stderr
    run = read_run(only_run(tmp_path))
    assert run.complete and run.manifest.tokenizer_mode == "words"


def _small_files() -> None:
    """In the child: files may not grow past 64 KiB (a full disk, as the writer sees it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(), not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_at_save_is_one_line_and_the_run_says_so(tmp_path: Path) -> None:
    with gt_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        res = cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(tmp_path),
                  "--input-len", "8", "--output-len", "64", "--concurrency", "8", "--no-progress",
                  "--num-requests", "3000", preexec_fn=_small_files)
    err = one_line(res)
    assert "cannot save the run" in err and "File too large" in err
    run_dir = only_run(tmp_path)
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "incomplete" and "cannot save the run" in manifest["reason"]
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- readers (19, 23)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("runs")
    with gt_server("--ttft-ms", "2", "--itl-ms", "1") as url:
        for label in ("on", "off"):
            res = cli("run", "--endpoint", url, "--served-model", "gt-model", "--out", str(out / label),
                      "--label", label, *SMALL, "--num-requests", "8")
            assert res.returncode == 0, res.stderr
    return only_run(out / "on"), only_run(out / "off")


def _copy(run: Path, dst: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dst / run.name))


@pytest.mark.parametrize(
    ("name", "content"),
    [("requests.parquet", b""), ("requests.parquet", b"PAR1 garbage"), ("manifest.json", b"[1, 2]"),
     ("manifest.json", b"null"), ("manifest.json", b""), ("summary.json", b"{not json"),
     ("requests.parquet", None)],
)
def test_compare_and_report_on_a_corrupt_run_are_one_line(
    tmp_path: Path, two_runs: tuple[Path, Path], name: str, content: bytes | None
) -> None:
    on = _copy(two_runs[0], tmp_path)
    if content is None:  # truncated: the first half of a real parquet file
        data = (on / name).read_bytes()
        (on / name).write_bytes(data[: len(data) // 2])
    else:
        (on / name).write_bytes(content)
    err = one_line(cli("compare", str(on), str(two_runs[1]), "--out", str(tmp_path / "cmp")))
    assert name in err or str(on) in err
    err = one_line(cli("report", str(on), "--out", str(tmp_path / "rep")))
    assert name in err or str(on) in err


@pytest.mark.parametrize("content", [b"", b"[]", b"null", b"{garbage", b'{"tool_version": 1}'])
def test_report_on_a_corrupt_comparison_or_profile_is_one_line(
    tmp_path: Path, two_runs: tuple[Path, Path], content: bytes
) -> None:
    res = cli("compare", str(two_runs[0]), str(two_runs[1]), "--out", str(tmp_path / "cmp"))
    assert res.returncode == 0, res.stderr
    (tmp_path / "cmp" / "comparison.json").write_bytes(content)
    assert "comparison.json" in one_line(cli("report", str(tmp_path / "cmp")))
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "profile.json").write_bytes(content)
    assert "profile.json" in one_line(cli("report", str(tmp_path / "prof")))


def test_compare_of_one_set_with_itself_warns(tmp_path: Path, two_runs: tuple[Path, Path]) -> None:
    res = cli("compare", str(two_runs[0]), str(two_runs[0]), "--out", str(tmp_path / "cmp"))
    assert res.returncode == 0, res.stderr
    codes = {w["code"] for w in read_json(tmp_path / "cmp" / "comparison.json")["warnings"]}
    assert "same_runs" in codes


def test_compare_out_that_is_a_file_is_one_line(tmp_path: Path, two_runs: tuple[Path, Path]) -> None:
    afile = tmp_path / "f"
    afile.write_text("")
    one_line(cli("compare", str(two_runs[0]), str(two_runs[1]), "--out", str(afile)))
    one_line(cli("report", str(two_runs[0]), "--out", str(afile)))


# ---------------------------------------------------------------- start-up (21)


def test_ctrl_c_while_modules_load_is_one_line(tmp_path: Path) -> None:
    models = models_yaml(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    proc = start("--model", "gt", "--models", str(models), "--out", str(tmp_path / "o"))
    time.sleep(0.4)  # the interpreter is up, the command's modules are loading
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # interrupted (130; a shell shows -SIGINT as 130 too), or already refused the dead endpoint
    assert proc.returncode in (2, 130, -signal.SIGINT), err
    assert "Traceback" not in err and err.strip().count("\n") == 0
