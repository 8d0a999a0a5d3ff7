"""cpu suite: the 7-Zip parser on real output captured on this machine, and the scaling formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.errors import UserError
from profiler.suites.cpu import parse_7z, scaling_efficiency, seven_zip_command
from profiler.suites.tools import require_tool

FIX = Path(__file__).parent / "fixtures" / "suites"


def test_parse_full_benchmark_captured_here() -> None:
    # `7zz b -mmt1` (7-Zip 26.02, this CI machine): dictionary rows 22..25, Avr and Tot lines.
    r = parse_7z((FIX / "7zz-26.02-b-mmt1.txt").read_text())
    assert r.threads == 1
    assert (r.compress_kib_s, r.compress_usage_pct, r.compress_ru_mips, r.compress_rating_mips) == (
        2325, 74, 3304, 2445)
    assert (r.decompress_kib_s, r.decompress_usage_pct, r.decompress_ru_mips, r.decompress_rating_mips) == (
        37002, 75, 4268, 3218)
    assert (r.total_usage_pct, r.total_ru_mips, r.total_rating_mips) == (74, 3786, 2831)


@pytest.mark.parametrize(
    ("name", "threads", "comp_rating", "decomp_rating", "total"),
    [
        ("7zz-26.02-b1-md18-mmt1.txt", 1, 4370, 3737, 4053),
        ("7zz-26.02-b1-md18-mmt2.txt", 2, 6829, 2908, 4869),
    ],
)
def test_parse_quick_runs(
    name: str, threads: int, comp_rating: float, decomp_rating: float, total: float
) -> None:
    r = parse_7z((FIX / name).read_text())
    assert (r.threads, r.compress_rating_mips, r.decompress_rating_mips, r.total_rating_mips) == (
        threads, comp_rating, decomp_rating, total)


def test_parse_old_p7zip_layout_without_avr_speed() -> None:
    # p7zip 16.02 prints no KiB/s in 'Avr:'; the speed then is the mean of the dictionary rows.
    text = """RAM usage:    437 MB,  # Benchmark threads:      4
22:       1000    57   3272   1850  |      30000    74   4230   3113
23:       3000    99   3392   3348  |      50000    93   4549   4231
Avr:              78   3332   2599  |               84   4390   3672
Tot:              81   3861   3135
"""
    r = parse_7z(text)
    assert r.threads == 4
    assert r.compress_kib_s == 2000 and r.decompress_kib_s == 40000
    assert (r.compress_usage_pct, r.compress_rating_mips, r.total_rating_mips) == (78, 2599, 3135)


def test_parse_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="not 7-Zip benchmark output"):
        parse_7z("7-Zip 26.02\nError: unknown switch\n")


def test_scaling_efficiency_matches_seed_table() -> None:
    # The seed's TEE table: ratings 2,803 (1 thread) and 71,665 (32 threads) → 79.91 %.
    eff = scaling_efficiency(71_665, 32, 2_803)
    assert eff == pytest.approx(71_665 / (32 * 2_803))
    assert round(100 * eff, 1) == 79.9
    # The published ratings are rounded to integers; 79.91 % lies inside what they allow.
    lo, hi = scaling_efficiency(71_665, 32, 2_803.5), scaling_efficiency(71_665.5, 32, 2_802.5)
    assert lo <= 0.7991 <= hi
    assert scaling_efficiency(2_803, 1, 2_803) == 1.0


def test_scaling_efficiency_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        scaling_efficiency(100, 0, 10)
    with pytest.raises(ValueError):
        scaling_efficiency(100, 2, 0)


def test_command_line() -> None:
    assert seven_zip_command("7zz", 4, None, None) == ["7zz", "b", "-mmt4"]
    assert seven_zip_command("7z", 2, 1, 18) == ["7z", "b", "1", "-mmt2", "-md18"]


def test_missing_tool_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"apt-get install -y 7zip \(or p7zip-full\)"):
        require_tool(("7zz", "7z"), "7zip (or p7zip-full)", "the cpu suite")
