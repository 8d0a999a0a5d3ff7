"""The environment table from real fingerprints (profiler.env, NVML answers replayed from the
fixtures): CC state first, and a difference between the legs marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.env import fingerprint
from profiler.report.environment import environment_blocks, environment_table
from profiler.report.model import Paragraph, Table

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def fp(monkeypatch: pytest.MonkeyPatch, name: str) -> dict:
    monkeypatch.setenv("TEE_LLM_PROF_NVML_REPLAY", str(FIXTURES / name))
    return fingerprint()


def test_cc_state_leads_and_differences_are_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    on, off = fp(monkeypatch, "h100_cc_on.json"), fp(monkeypatch, "h100_cc_off.json")
    table = environment_table({"on": on, "off": off})
    assert table is not None and table.columns == ["item", "TEE on", "TEE off"]
    keys = [row[0].removesuffix(" ≠") for row in table.rows]
    assert keys.index("cc.cc_feature") < keys.index("gpus[0].name") < keys.index("host.hostname")
    cc = next(row for row in table.rows if row[0].startswith("cc.cc_feature"))
    assert cc == ["cc.cc_feature ≠", "on", "off"]
    name = next(row for row in table.rows if row[0].startswith("gpus[0].name"))
    assert name[0] == "gpus[0].name" and name[1] == name[2]  # same GPU: not marked


def test_no_fingerprint_is_said_and_provenance_shown() -> None:
    blocks = environment_blocks(
        {"on": None, "off": None},
        {
            "on": {"engine": {"name": "vllm"}, "source": {"file": "tee.json"}},
            "off": {"engine": {"name": "vllm"}, "source": {"file": "base.json"}},
        },
    )
    assert isinstance(blocks[0], Paragraph) and "No environment fingerprint" in blocks[0].text
    assert isinstance(blocks[1], Table)
    assert ["source.file ≠", "tee.json", "base.json"] in blocks[1].rows
