"""Importers: results of other benchmark tools → run directories (DESIGN §5).

One registry of importers by name (``vllm-bench`` …). An importer reads a file and writes one run
directory per result it holds (a ``--append-result`` file holds several). What the source cannot
tell us is left null/NaN and listed in the manifest under ``missing``: never invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalog.registry import Registry


@dataclass(frozen=True)
class Importer:
    name: str
    help: str
    #: (file, out dir, label, model key or None) → the run directories written
    run: Callable[[Path, Path, str, str | None], list[Path]]


IMPORTERS: Registry[Importer] = Registry("importer")


def load_all() -> Registry[Importer]:
    # Importers register at import time; importing them here keeps the registry complete.
    from profiler.importers import vllm_bench  # noqa: F401

    return IMPORTERS


def import_file(kind: str, path: Path, out: Path, *, label: str, model: str | None = None) -> list[Path]:
    """Import ``path`` with the importer ``kind``; returns the run directories written."""
    return load_all().get(kind).run(Path(path), Path(out), label, model)
