"""Shared fixtures. Every server a test starts listens on loopback and is stopped by the test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.servers import gt_server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_gpu = shutil.which("nvidia-smi") is not None
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="no NVIDIA GPU on this machine"))


@pytest.fixture(scope="session")
def gt_url() -> Iterator[str]:
    """A ground-truth SSE server (TTFT 20 ms, ITL 5 ms) shared by the session."""
    with gt_server("--ttft-ms", "20", "--itl-ms", "5") as url:
        yield url
