"""What the Ray side starts on a node, and what it sends back (imported inside actors and tasks).

- :func:`subprocess_env`: the environment for this tool's own process on the node — this
  package importable (``PYTHONPATH``), and Ray's ``CUDA_VISIBLE_DEVICES=""`` for an actor or
  task that asked for no GPU removed, since validate, the gpu suite and a profile must see every
  GPU of their node (NVML ignores the variable; torch does not);
- :func:`pack_dir`: a directory's entries as one tar.gz (no shared file system is assumed).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    if env.get("CUDA_VISIBLE_DEVICES") == "":
        del env["CUDA_VISIBLE_DEVICES"]
    env.update(extra)
    return env


def pack_dir(path: Path) -> bytes:
    """Every entry of ``path`` (recursively), named relative to it, as tar.gz bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for child in sorted(path.iterdir()):
            tar.add(child, arcname=child.name)
    return buf.getvalue()
