"""Per-leg TEE evidence: read from real `validate` results (recorded NVML answers, hand-made guest
trees), what leg names claim, the contradictions, and the one-line errors of --leg-evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.analysis.evidence import claim_of, contradictions
from profiler.errors import UserError
from profiler.experiment.evidence import is_local, parse_evidence_args, with_evidence
from profiler.experiment.legs import Leg
from profiler.results.evidence import LegEvidence, from_validate
from profiler.validate import validate
from tests.test_validate_checks import plain_host, tdx_guest, with_nvml


def _cc_on_tdx(tmp: Path) -> LegEvidence:
    return from_validate(validate("on", ctx=with_nvml(tdx_guest(tmp), "h100_cc_on.json")), "test")


def _cc_off_plain(tmp: Path) -> LegEvidence:
    return from_validate(validate("off", ctx=with_nvml(plain_host(tmp), "h100_cc_off.json")), "test")


def test_evidence_of_a_cc_guest_and_of_a_plain_host(tmp_path: Path) -> None:
    on = _cc_on_tdx(tmp_path / "a")
    assert (on.cpu_tee, on.gpu_cc, on.verdict) == ("tdx", "on", "holds")
    off = _cc_off_plain(tmp_path / "b")
    assert (off.cpu_tee, off.gpu_cc, off.verdict) == ("none", "off", "holds")
    assert "CPU TEE tdx, GPU CC on" in on.describe()
    here = from_validate(validate("on"), "validate on this host")  # this CI host: no GPU
    assert here.gpu_cc is None and here.verdict == "no GPU"


@pytest.mark.parametrize(
    ("name", "cpu", "gpu"),
    [("on", True, True), ("off", False, False), ("base", False, False), ("tdx", True, None),
     ("cc", None, True), ("tdx-cc", True, True), ("snp_cc", True, True), ("baseline", False, False),
     ("injected", None, None), ("a", None, None)],
)
def test_what_names_claim(name: str, cpu: bool | None, gpu: bool | None) -> None:
    claim = claim_of(name)
    assert (claim.cpu_tee, claim.gpu_cc) == (cpu, gpu)


def test_contradictions(tmp_path: Path) -> None:
    on, off = _cc_on_tdx(tmp_path / "a"), _cc_off_plain(tmp_path / "b")
    assert contradictions("cc", on) == [] and contradictions("base", off) == []
    assert contradictions("tdx", on) == [] and contradictions("injected", off) == []
    [line] = contradictions("cc", off)
    assert "CC off" in line and "claims CC mode" in line
    assert len(contradictions("on", off)) == 2  # neither a TEE guest nor CC on
    assert any("tdx guest" in line and "baseline" in line for line in contradictions("base", on))
    snp = on.model_copy(update={"cpu_tee": "sev-snp"})
    assert any("not the TEE the name says" in line for line in contradictions("tdx", snp))
    unknown = on.model_copy(update={"gpu_cc": None, "cpu_tee": None})
    assert contradictions("cc", unknown) == [] and contradictions("base", None) == []


def test_leg_evidence_files_are_checked_before_anything_runs(tmp_path: Path) -> None:
    good = tmp_path / "cc.json"
    good.write_text(json.dumps(validate("on", ctx=with_nvml(tdx_guest(tmp_path / "g"), "h100_cc_on.json"))))
    found = parse_evidence_args([f"cc={good}"])
    assert found["cc"].gpu_cc == "on" and found["cc"].source == f"file: {good}"
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"verdict": "holds"}')
    for item, words in [
        ("cc", "expects NAME=FILE"),
        (f"cc={tmp_path / 'missing.json'}", "cannot read"),
        (f"cc={tmp_path / 'bad.json'}", "bad.json"),
        (f"cc={tmp_path / 'other.json'}", "not the output of `tee-llm-prof validate --json`"),
    ]:
        with pytest.raises(UserError, match="--leg-evidence") as err:
            parse_evidence_args([item])
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="given twice"):
        parse_evidence_args([f"cc={good}", f"cc={good}"])


def test_legs_get_a_file_this_hosts_evidence_or_none(tmp_path: Path) -> None:
    assert is_local("http://127.0.0.1:8000") and is_local("http://[::1]:8000") and is_local("http://localhost")
    assert not is_local("http://10.0.0.5:8000")
    given = _cc_on_tdx(tmp_path)
    legs = with_evidence(
        [Leg("cc", "http://10.0.0.7:8000", "m"), Leg("tdx", "http://10.0.0.6:8000", "m"),
         Leg("base", "http://127.0.0.1:9", "m")],
        {"cc": given},
    )
    assert legs[0].evidence == given
    assert legs[1].evidence is None  # remote, no file: no evidence claimed
    local = legs[2].evidence
    assert local is not None and local.source == "validate on this host" and local.expect == "off"
    with pytest.raises(UserError, match="no such leg"):
        with_evidence([Leg("on", "http://10.0.0.5:1", "m")], {"cc": given})
