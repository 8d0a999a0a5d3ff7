"""Importers: results of other benchmark tools → run directories (DESIGN §5).

One registry of importers by name (``vllm-bench`` …). An importer reads a file and writes one run
directory per result it holds (a ``--append-result`` file holds several). What the source cannot
tell us is left null/NaN and listed in the manifest under ``missing``: never invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from catalog.registry import Registry


class ImportRun(Protocol):
    """(file, out dir, label, model key or None; rate where the file records none) → run dirs."""

    def __call__(
        self, path: Path, out: Path, label: str, model: str | None, *, rate: float | None = None
    ) -> list[Path]: ...


@dataclass(frozen=True)
class Importer:
    name: str
    help: str
    run: ImportRun
    #: the request rate each result of a file records (None where it records none), read
    #: before anything is written so a set of files fails as a whole, not half imported
    rates: Callable[[Path], list[float | None]] | None = None


IMPORTERS: Registry[Importer] = Registry("importer")


def load_all() -> Registry[Importer]:
    # Importers register at import time; importing them here keeps the registry complete.
    from profiler.importers import vllm_bench  # noqa: F401

    return IMPORTERS


def import_file(
    kind: str, path: Path, out: Path, *, label: str, model: str | None = None, rate: float | None = None
) -> list[Path]:
    """Import ``path`` with the importer ``kind``; returns the run directories written."""
    return load_all().get(kind).run(Path(path), Path(out), label, model, rate=rate)
