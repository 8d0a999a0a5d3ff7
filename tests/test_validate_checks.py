"""CC-mode validation: verdicts and exit codes on recorded NVML answers and hand-made guest trees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from profiler.telemetry.nvml import REPLAY_ENV
from profiler.telemetry.replay import ReplayNvml
from profiler.validate import CHECKS, EXIT_FAILS, EXIT_HOLDS, EXIT_NO_GPU, Context, validate
from profiler.validate.attest import fetch_report
from profiler.validate.bandwidth import classify

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"
NONCE = bytes(range(32))


def tdx_guest(tmp: Path, outblob: bytes | None = None) -> Context:
    """A TDX guest's /proc, /dev and a configfs-tsm report entry answering with ``outblob``."""
    (tmp / "proc").mkdir(parents=True)
    (tmp / "proc/cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu tdx_guest\n")
    (tmp / "dev").mkdir()
    (tmp / "dev/tdx_guest").write_text("")
    tsm = tmp / "sys/kernel/config/tsm/report"
    entry = tsm / "r0"
    entry.mkdir(parents=True)
    (entry / "provider").write_text("tdx_guest\n")
    quote = outblob if outblob is not None else b"Q" * 48 + NONCE.ljust(64, b"\0") + b"S" * 4000
    (entry / "outblob").write_bytes(quote)
    return Context(root=tmp, tsm_root=tsm, tsm_entry="r0", nonce=NONCE)


def plain_host(tmp: Path) -> Context:
    (tmp / "proc").mkdir(parents=True)
    (tmp / "proc/cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu sse4_2\n")
    return Context(root=tmp, tsm_root=tmp / "no-tsm")


def with_nvml(ctx: Context, fixture: str | Path) -> Context:
    ctx.nv = ReplayNvml.from_file(FIXTURES / fixture if isinstance(fixture, str) else fixture)
    ctx.nv.nvmlInit()
    ctx.nvml_source = "replay"
    return ctx


def by_name(result: dict[str, Any]) -> dict[str, Any]:
    return {c["name"]: c for c in result["checks"]}


def test_registry_holds_the_issue_checks() -> None:
    assert set(CHECKS.names()) == {"nvml_cc_state", "nvml_cpu_caps", "gpus_ready", "guest_markers",
                                   "attestation_report", "bounce_buffer_probe"}
    assert CHECKS.get("bounce_buffer_probe").probe


def test_cc_on_in_a_tdx_guest_holds(tmp_path: Path) -> None:
    r = validate("on", ctx=with_nvml(tdx_guest(tmp_path), "h100_cc_on.json"))
    assert r["exit_code"] == EXIT_HOLDS, r["summary"]
    c = by_name(r)
    assert c["attestation_report"]["status"] == "pass"
    assert c["attestation_report"]["details"]["nonce_echoed"] is True
    assert c["attestation_report"]["details"]["size"] == 48 + 64 + 4000
    assert c["guest_markers"]["observed"] == "on"
    assert "bounce_buffer_probe" not in c  # only with probe=True
    # what was written to inblob: our nonce padded to the 64 bytes of report data
    inblob = (tmp_path / "sys/kernel/config/tsm/report/r0/inblob").read_bytes()
    assert inblob == NONCE + b"\0" * 32


def test_cc_on_host_fails_expect_off(tmp_path: Path) -> None:
    r = validate("off", ctx=with_nvml(tdx_guest(tmp_path), "h100_cc_on.json"))
    assert r["exit_code"] == EXIT_FAILS and by_name(r)["nvml_cc_state"]["status"] == "fail"


def test_cc_off_host_holds_expect_off_and_fails_expect_on(tmp_path: Path) -> None:
    off = validate("off", ctx=with_nvml(plain_host(tmp_path / "a"), "h100_cc_off.json"))
    assert off["exit_code"] == EXIT_HOLDS, off["summary"]
    on = validate("on", ctx=with_nvml(plain_host(tmp_path / "b"), "h100_cc_off.json"))
    assert on["exit_code"] == EXIT_FAILS
    assert "nvml_cc_state" in on["summary"]


@pytest.mark.parametrize(("key", "value", "check", "words"), [
    ("devToolsMode", 1, "nvml_cc_state", "DevTools"),
    ("environment", 1, "nvml_cc_state", "SIM"),
])
def test_non_production_cc_fails(tmp_path: Path, key: str, value: int, check: str, words: str) -> None:
    data = json.loads((FIXTURES / "h100_cc_on.json").read_text())
    data["calls"]["nvmlSystemGetConfComputeSettings"][0]["value"][key] = value
    path = tmp_path / "variant.json"
    path.write_text(json.dumps(data))
    r = validate("on", ctx=with_nvml(tdx_guest(tmp_path / "g"), path))
    assert r["exit_code"] == EXIT_FAILS
    assert by_name(r)[check]["status"] == "fail" and words in by_name(r)[check]["reason"]


def test_cc_on_but_not_ready_fails(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "h100_cc_on.json").read_text())
    data["calls"]["nvmlSystemGetConfComputeGpusReadyState"] = [{"value": 0}]
    path = tmp_path / "notready.json"
    path.write_text(json.dumps(data))
    r = validate("on", ctx=with_nvml(tdx_guest(tmp_path / "g"), path))
    assert r["exit_code"] == EXIT_FAILS and "ready state" in by_name(r)["gpus_ready"]["reason"]


def test_stale_attestation_report_fails(tmp_path: Path) -> None:
    ctx = with_nvml(tdx_guest(tmp_path, outblob=b"an old report with other report data"), "h100_cc_on.json")
    r = validate("on", ctx=ctx)
    c = by_name(r)["attestation_report"]
    assert c["status"] == "fail" and "nonce" in c["reason"]
    assert r["exit_code"] == EXIT_FAILS


def test_no_gpu_gets_its_own_exit_code(tmp_path: Path) -> None:
    ctx = plain_host(tmp_path)
    ctx.nvml_reason = "NVML library not found"
    r = validate("on", ctx=ctx)
    assert r["exit_code"] == EXIT_NO_GPU and r["verdict"] == "no GPU"
    assert by_name(r)["nvml_cc_state"]["status"] == "unknown"
    assert by_name(r)["guest_markers"]["status"] == "fail"  # the CPU checks still ran


def test_fetch_report_without_configfs(tmp_path: Path) -> None:
    rep = fetch_report(tmp_path / "absent")
    assert rep["present"] is False and "does not exist" in rep["reason"]
    assert len(bytes.fromhex(rep["nonce_hex"])) == 32
    assert fetch_report(tmp_path / "absent")["nonce_hex"] != rep["nonce_hex"]  # fresh each time


def test_bandwidth_classification() -> None:
    assert classify(6.5, 7.1)[0] == "on"
    assert classify(12.0, 40.0)[0] == "on"  # the slower direction decides
    assert classify(48.0, 50.1)[0] == "off"
    assert classify(16.0, 17.0)[0] is None
    assert classify(None, None)[0] is None


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
         env_replay: str | None = None) -> tuple[int, str]:
    """Our command's parser and run() in-process: the real CLI path minus importing every
    other command (several import matplotlib, seconds on a busy 2-core host)."""
    import argparse
    import importlib

    from profiler.commands import COMMANDS

    importlib.import_module(f"profiler.commands.{args[0]}")
    cmd = COMMANDS.get(args[0])
    parser = argparse.ArgumentParser(prog=f"tee-llm-prof {args[0]}")
    cmd.add_arguments(parser)
    monkeypatch.delenv(REPLAY_ENV, raising=False)
    if env_replay:
        monkeypatch.setenv(REPLAY_ENV, env_replay)
    capsys.readouterr()
    code = cmd.run(parser.parse_args(list(args[1:])))
    return code, capsys.readouterr().out


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has a GPU")
def test_cli_on_this_host_reports_no_gpu(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(capsys, monkeypatch, "validate", "--json")
    assert code == EXIT_NO_GPU
    result = json.loads(out)
    assert result["verdict"] == "no GPU" and "NVML" in result["summary"]
    code, out = _cli(capsys, monkeypatch, "env", "--json")
    env = json.loads(out)
    assert code == 0 and env["gpus"] == [] and env["gpus_reason"]


def test_cli_replay_is_labelled(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(capsys, monkeypatch, "validate", "--expect", "on",
                     env_replay=str(FIXTURES / "h100_cc_on.json"))
    assert "replayed from replay:" in " ".join(out.split())
    assert code in (EXIT_HOLDS, EXIT_FAILS)


def test_help_documents_the_exit_codes() -> None:
    from profiler.commands.validate import DESCRIPTION

    for code, words in ((EXIT_HOLDS, "holds"), (EXIT_FAILS, "does not"), (EXIT_NO_GPU, "no NVIDIA GPU")):
        assert any(line.strip().startswith(f"{code} ") and words in line
                   for line in DESCRIPTION.splitlines()), code


def test_ioctl_numbers_match_the_kernel_headers() -> None:
    from profiler.validate.attest import SNP_GET_REPORT, TDX_CMD_GET_REPORT0

    # include/uapi/linux/tdx-guest.h, sev-guest.h: _IOWR('T', 1, 1088 B), _IOWR('S', 0, 32 B)
    assert (TDX_CMD_GET_REPORT0, SNP_GET_REPORT) == (0xC4405401, 0xC0205300)


def test_guest_device_without_configfs_tsm_is_tried(tmp_path: Path) -> None:
    """A guest node that is not the real driver (here a plain file) fails its ioctl: unknown."""
    ctx = tdx_guest(tmp_path)
    ctx.tsm_root = tmp_path / "no-configfs"
    r = validate("on", ctx=with_nvml(ctx, "h100_cc_on.json"))
    c = by_name(r)["attestation_report"]
    assert c["status"] == "unknown" and c["observed"] is None
    assert "tdx_guest ioctl failed" in c["reason"] and c["details"]["interface"].endswith("dev/tdx_guest")
