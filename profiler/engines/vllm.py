"""vLLM launchers: ``vllm-cpu`` (the embedded default) and ``vllm-cuda`` (dummy weights on a GPU).

Both start ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script of the
``vllm-cpu`` distribution fails, DESIGN §7) on a loopback port, in its own process group, and
record the exact command line, environment overrides and vLLM version for the manifest.

- vllm-cpu: serves the generated tiny model (real random weights, ``generated-bpe`` tokenizer).
- vllm-cuda: serves the real architecture with ``--load-format dummy`` and a synthetic
  tokenizer of the real vocabulary size; nothing is downloaded.

``TEE_LLM_PROF_VLLM_PYTHON`` names another interpreter to run vLLM with (a GPU host whose vLLM
lives in its own environment); by default it is this interpreter.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from profiler.config import ModelEntry
from profiler.engines import Endpoint, Engine, LaunchOptions, register
from profiler.engines.modelgen import ModelDir, build_model_dir
from profiler.engines.process import ServerProcess, port_free, running
from profiler.engines.process import free_port as _free_port
from profiler.errors import MissingExtra, UserError

PYTHON_ENV = "TEE_LLM_PROF_VLLM_PYTHON"
ENTRYPOINT = "vllm.entrypoints.openai.api_server"
#: Environment the CPU build needs on a small machine (GiB of KV cache; the default is large).
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def vllm_python() -> str:
    return os.environ.get(PYTHON_ENV) or sys.executable


def vllm_version(python: str) -> str | None:
    """The installed vLLM version, without importing vLLM (which takes seconds)."""
    if python == sys.executable:
        for dist in ("vllm-cpu", "vllm"):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                return importlib.metadata.version(dist)
        return None
    code = (
        "import importlib.metadata as m\n"
        "for d in ('vllm-cpu','vllm'):\n"
        "    try: print(m.version(d)); break\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or None


def require_vllm(python: str, extra: str) -> str:
    if python == sys.executable and importlib.util.find_spec("vllm") is None:
        raise MissingExtra("vllm", extra)
    version = vllm_version(python)
    if version is None:
        raise MissingExtra("vllm", extra)
    return version


def vllm_command(
    entry: ModelEntry, model: ModelDir, *, python: str, host: str, port: int
) -> list[str]:
    """The exact argv that serves ``entry`` from ``model``."""
    eng = entry.engine
    cmd = [python, "-m", ENTRYPOINT]
    cmd += ["--model", str(model.path), "--tokenizer", str(model.tokenizer_path)]
    cmd += ["--served-model-name", entry.served_name, "--host", host, "--port", str(port)]
    cmd += ["--dtype", eng.dtype, "--seed", str(entry.seed)]
    if not model.has_weights:
        cmd += ["--load-format", "dummy"]
    if eng.max_model_len:
        cmd += ["--max-model-len", str(eng.max_model_len)]
    if eng.tensor_parallel_size > 1:
        cmd += ["--tensor-parallel-size", str(eng.tensor_parallel_size)]
    if eng.quantization:
        cmd += ["--quantization", eng.quantization]
    if eng.enforce_eager:
        cmd += ["--enforce-eager"]
    cmd += ["--enable-prefix-caching" if eng.prefix_caching else "--no-enable-prefix-caching"]
    cmd += ["--disable-uvicorn-access-log"]  # one log line per request would flood the log
    cmd += list(eng.extra_args)
    return cmd


def _port(opts: LaunchOptions) -> int:
    if opts.port is None:
        return _free_port(opts.host)
    if not port_free(opts.host, opts.port):
        raise UserError(
            f"port {opts.port} on {opts.host} is in use; pass another --port or stop what uses it"
        )
    return opts.port


@contextlib.contextmanager
def _serve(
    entry: ModelEntry, key: str, opts: LaunchOptions, *, name: str, extra: str, with_weights: bool,
    base_env: dict[str, str],
) -> Iterator[Endpoint]:
    python = vllm_python()
    version = require_vllm(python, extra)
    model = build_model_dir(entry, key, with_weights=with_weights)
    port = _port(opts)
    env = {**base_env, **entry.engine.env}
    cmd = vllm_command(entry, model, python=python, host=opts.host, port=port)
    log_dir = opts.log_dir or Path(tempfile.mkdtemp(prefix="tee-llm-prof-engine-"))
    log_path = log_dir / f"{name}-{port}.log"
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    base = f"http://{host}:{port}"
    server = ServerProcess(name, cmd, env=env, log_path=log_path, health_url=base + "/health")
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "command": cmd,
        "command_line": " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        + (" " if env else "")
        + shlex.join(cmd),
        "env": env,
        "model_dir": str(model.path),
        "model_digest": model.digest,
        "load_format": "safetensors" if model.has_weights else "dummy",
        "vocab_size": model.vocab_size,
        "log": str(log_path),
        "base_url": base,
    }
    with running(server, entry.engine.ready_timeout_s, opts.console) as ready_s:
        info["ready_s"] = round(ready_s, 1)
        yield Endpoint(
            base_url=base,
            served_model=entry.served_name,
            engine=info,
            metrics_url=base + "/metrics",
            tokenizer=str(model.tokenizer_path),
        )


def _cpu(entry: ModelEntry, key: str, opts: LaunchOptions) -> contextlib.AbstractContextManager[Endpoint]:
    return _serve(
        entry, key, opts, name="vllm-cpu", extra="cpu", with_weights=True, base_env=dict(CPU_ENV)
    )


def _cuda(entry: ModelEntry, key: str, opts: LaunchOptions) -> contextlib.AbstractContextManager[Endpoint]:
    if shutil.which("nvidia-smi") is None:
        raise UserError(
            f"model {key!r} runs on vLLM CUDA, but this machine has no NVIDIA GPU (no nvidia-smi); "
            "try --model tiny-llama, or give --tee-on/--tee-off endpoints"
        )
    return _serve(entry, key, opts, name="vllm-cuda", extra="gpu", with_weights=False, base_env={})


register(Engine("vllm-cpu", "vLLM CPU build serving a model generated on this machine", _cpu))
register(Engine("vllm-cuda", "vLLM on NVIDIA GPUs with dummy weights (no download)", _cuda))
