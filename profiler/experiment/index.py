"""The one index writer of every experiment (profile.json, sweep.json, suite.json).

The index is rewritten after every change, so an experiment that dies still says what it
measured: a run is listed the moment its directory exists (not when it ends), and
:meth:`IndexWriter.finish` records the final status and reason.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from profiler import __version__
from profiler.errors import UserError
from profiler.experiment.legs import AA_NOTE, Leg, is_aa
from profiler.results.index import INDEX_MODELS, DesignEntry, ExperimentIndex, LegEntry, PointEntry
from profiler.results.run import STATUS_RUNNING
from profiler.store import utc_now

RUNS = "runs"


class IndexWriter:
    """Owns ``<out>/<id>/`` and its index file while an experiment runs."""

    def __init__(self, root: Path, index: ExperimentIndex) -> None:
        self.root = Path(root)
        self.index = index
        self._lock = threading.RLock()  # legs at once: several threads add their runs

    @classmethod
    def create(
        cls,
        out: Path,
        kind: str,
        experiment_id: str,
        *,
        legs: Sequence[Leg],
        design: DesignEntry,
        points: Sequence[PointEntry],
        model: str | None = None,
        baseline: str | None = None,
        workload: dict[str, Any] | None = None,
        **sections: Any,
    ) -> IndexWriter:
        root = Path(out) / experiment_id
        model_cls = INDEX_MODELS[kind]
        if (root / model_cls.FILE).exists():
            raise UserError(f"{root} already holds a {kind}; choose another id or --out")
        (root / RUNS).mkdir(parents=True, exist_ok=True)
        aa = len(legs) > 1 and is_aa(legs)
        index = model_cls(
            id=experiment_id,
            tool_version=__version__,
            model=model,
            aa=aa,
            note=AA_NOTE if aa else None,
            status=STATUS_RUNNING,
            started=utc_now(),
            pid=os.getpid(),
            host=socket.gethostname(),
            legs={
                leg.name: LegEntry(
                    base_url=leg.base_url,
                    served_model=leg.served_model,
                    engine=dict(leg.engine),
                    evidence=leg.evidence,
                )
                for leg in legs
            },
            baseline=baseline,
            design=design,
            workload=workload,
            load_points=list(points),
            **sections,
        )
        writer = cls(root, index)
        writer.save()
        return writer

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    def save(self) -> None:
        with self._lock:
            self.index.save(self.root / self.index.file_name)

    def add_run(self, point: str, leg: str, run_dir: Path) -> None:
        rel = str(Path(run_dir).relative_to(self.root))
        with self._lock:
            runs = self.index.point(point).runs.setdefault(leg, [])
            if rel not in runs:
                runs.append(rel)
                self.save()

    def adopt_orphans(self) -> None:
        """List run directories this experiment's executors wrote but never reported (one cut
        short by an exception before its executor returned): their manifests say where they
        belong."""
        from profiler.results.run import RunManifest

        listed = {r for p in self.index.load_points for r in p.all_runs()}
        for d in sorted(self.runs_dir.iterdir()) if self.runs_dir.is_dir() else []:
            rel = str(d.relative_to(self.root))
            if rel in listed or not (d / RunManifest.FILE).is_file():
                continue
            ref = RunManifest.load(d / RunManifest.FILE).experiment
            if ref is not None and ref.id == self.index.id and ref.point is not None:
                self.index.point(ref.point).runs.setdefault(ref.leg, []).append(rel)
        self.save()

    def set_comparison(
        self, point: str, directory: Path, name: str | None = None, primary: bool = True
    ) -> None:
        """Record a comparison of ``point`` (``name``: "<leg>-vs-<reference>")."""
        rel = str(Path(directory).relative_to(self.root))
        entry = self.index.point(point)
        if primary or entry.comparison is None:
            entry.comparison = rel
        if name:
            entry.comparisons[name] = rel
        self.save()

    def finish(self, status: str, reason: str | None = None) -> None:
        self.index = self.index.model_copy(
            update={"status": status, "reason": reason, "finished": utc_now(), "pid": None}
        )
        self.save()
