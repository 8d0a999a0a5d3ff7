"""The experiment engine: every measuring command is a description of what to run, and this
runs it (DESIGN §4).

An experiment is load points × blocks × legs. A block is one run of every leg, adjacent in
time, with identical prompts, lengths and arrival times (the block's seed: the workload's seed
+ the block's number within its point); the design (:mod:`profiler.experiment.designs`) orders
the legs inside each block. The executor turns one :class:`RunTask` into one run directory —
an LLM run (:func:`profiler.experiment.request.execute`) or a suite run; the engine does not
care which. :class:`Rules` may stop a leg after a point (a sweep's saturation) or end a point's
blocks early (a target precision).

The engine is the one place where an interruption becomes a result: Ctrl-C, SIGTERM or an
error marks the index ``incomplete`` with the reason (every run so far stays listed, the one
in progress saved by its executor) and re-raises, so the caller still stops its engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from profiler.config import WorkloadSpec
from profiler.errors import UserError
from profiler.experiment.designs import DESIGNS
from profiler.experiment.index import IndexWriter
from profiler.experiment.legs import Leg
from profiler.experiment.signals import interruption_reason, shielded
from profiler.results.index import ExperimentIndex
from profiler.results.run import STATUS_COMPLETE, STATUS_FAILED, STATUS_INCOMPLETE, ExperimentRef
from profiler.store import read_run


@dataclass(frozen=True)
class Point:
    name: str  # rate=4, concurrency=16
    workload: WorkloadSpec  # this point's workload (one rate); blocks derive their seeds from it
    request_rate: float
    load: float | None = None  # a sweep's swept parameter


@dataclass(frozen=True)
class RunTask:
    """One run the engine asks its executor for."""

    point: Point
    leg: Leg
    block: int  # within the point, from 0
    position: int  # within the block
    workload: WorkloadSpec  # the point's workload with the block's seed
    runs_dir: Path
    experiment: ExperimentRef
    on_start: Callable[[Path], None]  # call with the run directory as soon as it exists
    stop: threading.Event | None = None  # set when the experiment is being interrupted


Executor = Callable[[RunTask], Path]


@dataclass
class Rules:
    """Optional decisions between runs; the defaults run every block of every point."""

    #: after a point: names of legs that run no further point (e.g. saturated)
    after_point: Callable[[Point, dict[str, list[Path]]], dict[str, str]] | None = None
    #: after a block: True to run no more blocks at this point (e.g. the target CI is reached)
    enough: Callable[[Point, int, dict[str, list[Path]]], bool] | None = None
    #: printed after every run (a sweep adds its throughput line)
    describe: Callable[[Path], str | None] | None = None


@dataclass
class Experiment:
    writer: IndexWriter
    legs: Sequence[Leg]
    points: Sequence[Point]
    executor: Executor
    blocks: int = 1
    design: str = "abba"
    rules: Rules = field(default_factory=Rules)
    console: Console = field(default_factory=lambda: Console(stderr=True))
    #: run every block's legs at the same time (legs on different hosts; identical schedules)
    at_once: bool = False
    #: legs that stopped (name → why); they run no further point
    stopped: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> ExperimentIndex:
        """Run every point; the index is complete, or incomplete with the reason (re-raised)."""
        design = DESIGNS.get(self.design)
        design.check([leg.name for leg in self.legs])
        total = len(self.points) * self.blocks * len(self.legs)
        done = 0
        block_counter = 0  # over the whole experiment: the design balances order across points
        try:
            for point in self.points:
                runs: dict[str, list[Path]] = {leg.name: [] for leg in self.legs}
                active = [leg for leg in self.legs if leg.name not in self.stopped]
                for block in range(self.blocks):
                    order = design.order([leg.name for leg in active], block_counter)
                    block_counter += 1
                    tasks = [
                        self._task(point, next(x for x in active if x.name == name), block, position)
                        for position, name in enumerate(order)
                    ]
                    if self.at_once and len(tasks) > 1:
                        done += len(tasks)
                        first = done - len(tasks) + 1
                        self._say(f"[bold]runs {first}–{done}/{total}[/]: legs {', '.join(order)} at once, "
                                  f"{point.name}, block {block + 1}/{self.blocks}")
                        for task, run_dir in zip(tasks, self._together(tasks), strict=True):
                            self.writer.add_run(point.name, task.leg.name, run_dir)
                            runs[task.leg.name].append(run_dir)
                            _fail_fast(task, run_dir)
                    else:
                        for task in tasks:
                            done += 1
                            self._say(
                                f"[bold]run {done}/{total}[/]: leg {task.leg.name}, {point.name}, "
                                f"block {block + 1}/{self.blocks} → {task.leg.base_url}"
                            )
                            t0 = time.monotonic()
                            run_dir = self.executor(task)
                            self.writer.add_run(point.name, task.leg.name, run_dir)
                            runs[task.leg.name].append(run_dir)
                            self._said_run(run_dir, time.monotonic() - t0)
                            _fail_fast(task, run_dir)
                    if self.rules.enough is not None and self.rules.enough(point, block, runs):
                        total -= (self.blocks - block - 1) * len(active)
                        break
                if self.rules.after_point is not None:
                    for name, why in self.rules.after_point(point, runs).items():
                        if name not in self.stopped:
                            self.stopped[name] = why
                            self._say(f"  leg {name} stops: {why}")
                            remaining = len(self.points) - self.points.index(point) - 1
                            total -= remaining * self.blocks
                if all(leg.name in self.stopped for leg in self.legs):
                    break
        except BaseException as exc:
            with shielded():
                self.writer.adopt_orphans()
                self.writer.finish(STATUS_INCOMPLETE, interruption_reason(exc))
            raise
        self.writer.finish(STATUS_COMPLETE)
        return self.writer.index

    def _together(self, tasks: list[RunTask]) -> list[Path]:
        """Run one block's legs at the same time, one thread each (the load generator then drives
        its own event loop per thread). Ctrl-C stops them all, saves, and re-raises."""
        pool = ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="leg")
        futures = [pool.submit(self.executor, t) for t in tasks]
        interrupted: BaseException | None = None
        while True:
            try:
                wait(futures)
                break
            except KeyboardInterrupt as exc:  # stop every leg; each saves what it measured
                interrupted = exc
                self._stop.set()
        pool.shutdown(wait=True)
        paths = []
        for f in futures:
            error = f.exception()
            if error is not None and interrupted is None:
                raise error
            if error is None:
                paths.append(f.result())
        if interrupted is not None:
            raise interrupted
        return paths

    def _task(self, point: Point, leg: Leg, block: int, position: int) -> RunTask:
        index = self.writer.index
        ref = ExperimentRef(
            kind=index.kind,
            id=index.id,
            leg=leg.name,
            point=point.name,
            load=point.load,
            block=block,
            position=position,
            aa=index.aa,
        )
        return RunTask(
            point=point,
            leg=leg,
            block=block,
            position=position,
            workload=point.workload.model_copy(update={"seed": point.workload.seed + block}),
            runs_dir=self.writer.runs_dir,
            experiment=ref,
            on_start=lambda d: self.writer.add_run(point.name, leg.name, d),
            stop=self._stop,
        )

    def _say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False)

    def _said_run(self, run_dir: Path, seconds: float) -> None:
        line = f"  saved {run_dir.name} ({seconds:.1f} s)"
        extra = self.rules.describe(run_dir) if self.rules.describe is not None else None
        if extra:
            line += f": {extra}"
        else:
            run = read_run(run_dir)
            if not run.complete:
                line += f" — {run.manifest.status}: {run.manifest.reason}"
        self._say(line)


def _fail_fast(task: RunTask, run_dir: Path) -> None:
    """A run in which not one request worked ends the experiment: the next would fail alike."""
    manifest = read_run(run_dir).manifest
    if manifest.status == STATUS_FAILED:
        raise UserError(
            f"leg {task.leg.name}: run {run_dir.name} failed ({manifest.reason}); stopping here, "
            f"the runs so far are kept"
        )

