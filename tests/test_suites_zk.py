"""zk suite: pure helpers, the hashing itself, and the external prover with a shell stand-in."""

from __future__ import annotations

import hashlib
import itertools
import sys

import numpy as np
import pytest

from profiler.errors import UserError
from profiler.suites.zk import HASHES, hash_rate, parse_duration_s, run_prover, slices


def test_slices_cover_the_buffer_exactly() -> None:
    parts = slices(1003, 4)
    assert parts[0].start == 0 and parts[-1].stop == 1003
    assert all(a.stop == b.start for a, b in itertools.pairwise(parts))


def test_keccak_is_sha3_256() -> None:
    # Keccak-f[1600] at rate 1088 bits; SHA3-256's known digest of the empty string.
    assert HASHES["keccak"] == "sha3_256"
    assert hashlib.new(HASHES["keccak"], b"").hexdigest().startswith("a7ffc6f8bf1ed766")


def test_hash_rate_is_positive_and_finite() -> None:
    buf = np.frombuffer(np.random.default_rng(0).bytes(1 << 20), dtype=np.uint8)
    for algo in HASHES.values():
        rate = hash_rate(algo, buf, threads=2, rounds=1)
        assert np.isfinite(rate) and rate > 0


@pytest.mark.parametrize(
    ("text", "pattern", "seconds"),
    [
        ("setup\nproving took 12.5ms\n", r"proving took ([\d.]+) ?(ms|s)", 0.0125),
        ("proof time: 3.25 s", r"proof time: ([\d.]+) ?(ms|s)", 3.25),
        ("elapsed=42", r"elapsed=(\d+)", 42.0),
    ],
)
def test_parse_duration(text: str, pattern: str, seconds: float) -> None:
    assert parse_duration_s(text, pattern) == pytest.approx(seconds)


def test_parse_duration_no_match() -> None:
    with pytest.raises(RuntimeError, match="matched nothing"):
        parse_duration_s("nothing here", r"took ([\d.]+)")


def test_run_prover_captures_output_and_time() -> None:
    wall, out = run_prover(f"{sys.executable} -c \"print('proof time: 1.5 ms')\"", timeout_s=30)
    assert wall > 0 and "proof time: 1.5 ms" in out


def test_run_prover_errors() -> None:
    with pytest.raises(RuntimeError, match="exited with 3"):
        run_prover(f"{sys.executable} -c \"import sys; print('boom'); sys.exit(3)\"", timeout_s=30)
    with pytest.raises(UserError, match="not found"):
        run_prover("/nonexistent/prover --prove", timeout_s=5)
