"""Run one ``tee-llm-prof`` command on a node of a Ray cluster, as if it ran here.

    python -m profiler.cluster.dispatch --cluster ADDRESS [--node IP] --out DIR [--ship FILE]
        -- profile --model KEY --models FILE --profile-id ID ...

The service's job runner starts this instead of the profile itself when it is configured with a
cluster (``serve --cluster``), so its cancel and restart rules are unchanged: this process is
the job's process group; SIGINT (cancel, shutdown, an orphan reaped at restart) reaches it, and
it forwards the interruption to the remote command, which saves what it measured as usual.

On the node a Ray actor (pinned by hard node affinity, one CPU) starts the command in a session
of its own with ``--out`` a fresh directory there. Every few seconds, and once more at the end,
this process pulls that directory as a tar archive and unpacks it into ``--out`` here: the
service sees the runs appear as it would locally, and a node lost mid-profile leaves everything
up to the last copy. ``--ship FILE`` (models.yaml) is copied to the node and its path in the
command replaced by the copy, since the node need not share this host's files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from profiler.cluster.node import pack_dir, subprocess_env

#: How often the remote output directory is copied back (progress and loss protection).
SYNC_EVERY_S = 3.0
#: After an interruption, how long the remote command may take to save and exit.
STOP_GRACE_S = 60.0


class RemoteCommand:
    """The actor: one command in its own session on this node, and its output directory."""

    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="tee-llm-prof-job-"))
        self._out = self._tmp / "out"
        self._out.mkdir()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self._tmp / "command.log"

    def start(self, argv: list[str], shipped: dict[str, bytes]) -> dict[str, Any]:
        from profiler.cluster.connect import this_node

        args = list(argv)
        for original, content in shipped.items():
            copy = self._tmp / Path(original).name
            copy.write_bytes(content)
            args = [str(copy) if a == original else a for a in args]
        env = subprocess_env(PYTHONUNBUFFERED="1")
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "profiler.cli", *args, "--out", str(self._out)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._tmp, env=env,
                start_new_session=True,
            )  # fmt: skip
        return {"node": this_node().model_dump(), "pid": self._proc.pid, "out": str(self._out)}

    def interrupt(self) -> None:
        """SIGINT to the command's process group: it saves what it measured, marked incomplete."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGINT)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    def poll(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def snapshot(self, log_from: int = 0) -> tuple[bytes, bytes]:
        """The output directory as a tar.gz, and the command's output from byte ``log_from``."""
        archive = pack_dir(self._out)
        with self._log.open("rb") as f:
            f.seek(log_from)
            return archive, f.read()

    def cleanup(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def _unpack(archive: bytes, out: Path) -> None:
    """Bring ``out`` up to the archive's content (the remote directory is the truth)."""
    staging = Path(tempfile.mkdtemp(prefix="tee-llm-prof-sync-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
        for item in staging.iterdir():
            if item.is_dir():
                shutil.copytree(item, out / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m profiler.cluster.dispatch [options] -- COMMAND ...")
    split = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m profiler.cluster.dispatch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--cluster", required=True, metavar="ADDRESS",
                   help="the Ray cluster (host:port of its head)")  # fmt: skip
    p.add_argument("--node", metavar="IP", help="run on this node (default: any node with a free CPU)")
    p.add_argument("--out", type=Path, required=True, help="where the command's output lands here")
    p.add_argument("--ship", action="append", default=[], metavar="FILE",
                   help="a file the command names, copied to the node (repeatable)")  # fmt: skip
    return p.parse_args(argv[:split]), argv[split + 1 :]


def dispatch(args: argparse.Namespace, command: list[str]) -> int:
    from profiler.cluster.connect import alive_nodes, connect
    from profiler.cluster.placement import resolve_nodes

    ray = connect(args.cluster)
    options: dict[str, Any] = {"num_cpus": 1}
    if args.node:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        (node,) = resolve_nodes([args.node], alive_nodes(ray))
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node.node_id, soft=False)
    actor = ray.remote(max_concurrency=4)(RemoteCommand).options(**options).remote()
    shipped = {f: Path(f).read_bytes() for f in args.ship}
    started = ray.get(actor.start.remote(command, shipped), timeout=120)
    print(f"dispatched to node {started['node']['ip']} (pid {started['pid']} there): {' '.join(command)}",
          flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    remote_out, local_out = started["out"].encode(), str(args.out).encode()
    interrupted = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    signal.signal(signal.SIGTERM, lambda *_: interrupted.set())
    log_at, last_sync, stop_sent = 0, 0.0, 0.0
    rc: int | None = None
    try:
        while True:
            rc = ray.get(actor.poll.remote(), timeout=60)
            if interrupted.is_set() and not stop_sent:
                stop_sent = time.monotonic()
                ray.get(actor.interrupt.remote(), timeout=60)
            if stop_sent and rc is None and time.monotonic() - stop_sent > STOP_GRACE_S:
                ray.get(actor.kill.remote(), timeout=60)
            if rc is not None or time.monotonic() - last_sync >= SYNC_EVERY_S:
                archive, text = ray.get(actor.snapshot.remote(log_at), timeout=120)
                _unpack(archive, args.out)
                # the command names its output by the node's path: say where it lands here
                sys.stdout.buffer.write(text.replace(remote_out, local_out))
                sys.stdout.flush()
                log_at += len(text)
                last_sync = time.monotonic()
            if rc is not None:
                break
            time.sleep(0.2)
    except ray.exceptions.RayError as exc:
        print(f"error: the node running the command was lost: {type(exc).__name__}; "
              f"what was copied back before is kept in {args.out}", file=sys.stderr)  # fmt: skip
        return 1
    finally:
        try:
            ray.get(actor.cleanup.remote(), timeout=30)
            ray.kill(actor)
        except ray.exceptions.RayError:
            pass
    return int(rc)


def main(argv: list[str] | None = None) -> int:
    from profiler.errors import UserError

    args, command = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return dispatch(args, command)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
