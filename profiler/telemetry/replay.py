"""Recorded NVML answers: replay them without a GPU, or capture them on a real one.

A replay file is JSON::

    {"source": "captured on <host> …" | "hand-written from NVML docs, not captured",
     "description": "...",
     "calls": {"nvmlDeviceGetCount": [{"value": 1}],
               "nvmlDeviceGetPowerUsage:gpu0": [{"value": 71000}, {"value": 355000}],
               "nvmlGpmQueryDeviceSupport:gpu0": [{"error": 3}], ...}}

A key is the function name plus its handle/integer arguments (``gpu0``, clock ids, sampling
types); timestamps and buffers are left out. Each key holds the answers in call order; the last
one repeats. ``{"error": code}`` raises the real ``pynvml.NVMLError`` of that code. Structures
are dicts (attribute access on replay), byte arrays ``{"__bytes__": "<hex>"}``.

:class:`ReplayNvml` looks like the ``pynvml`` module (constants, structs and error classes are
pynvml's own), so the sampler and the checks run the same code on a replay as on a GPU.
:class:`CaptureNvml` wraps the real module and records every answer in the same format:
``python -m profiler.telemetry.replay --capture OUT.json`` (scripts/device_check.sh runs it).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

# Arguments that vary per call and must not be part of the key (index into args).
_IGNORED_ARGS = {"nvmlDeviceGetSamples": {2}, "nvmlDeviceGetConfComputeGpuAttestationReport": {1}}


class NotRecorded(Exception):
    """The replay file holds no answer for this call."""


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<replay gpu{self.index}>"


def call_key(name: str, args: tuple[Any, ...], handle_index: Callable[[Any], int | None]) -> str:
    parts = [name]
    skip = _IGNORED_ARGS.get(name, set())
    for i, arg in enumerate(args):
        if i in skip:
            continue
        idx = handle_index(arg)
        if idx is not None:
            parts.append(f"gpu{idx}")
        elif isinstance(arg, int) and not isinstance(arg, bool):
            parts.append(str(arg))
    return ":".join(parts)


def to_jsonable(value: Any) -> Any:
    """ctypes structures/unions/arrays and tuples → JSON values (bytes as hex)."""
    if isinstance(value, (ctypes.Structure, ctypes.Union)):
        return {f[0]: to_jsonable(getattr(value, f[0])) for f in value._fields_}
    if isinstance(value, ctypes.Array):
        if value._type_ in (ctypes.c_uint8, ctypes.c_char, ctypes.c_ubyte):
            return {"__bytes__": bytes(value).hex()}
        return [to_jsonable(v) for v in value]
    if isinstance(value, SimpleNamespace):  # a replayed structure, captured again
        return {k: to_jsonable(v) for k, v in vars(value).items()}
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()} if not value.isascii() else value.decode()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return bytes.fromhex(value["__bytes__"])
        return SimpleNamespace(**{k: from_jsonable(v) for k, v in value.items()})
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


def _fill(struct: Any, answer: Any) -> None:
    """Write a recorded dict into a real ctypes structure (in/out parameters)."""
    for key, val in answer.items():
        if isinstance(val, dict):
            continue
        setattr(struct, key, val)


class ReplayNvml:
    """A ``pynvml``-shaped object answering from a recording."""

    def __init__(self, data: dict[str, Any], path: str = "<memory>") -> None:
        calls = data.get("calls")
        if not isinstance(calls, dict):
            raise ValueError(f"{path}: no 'calls' object")
        self.source = str(data.get("source", "unknown"))
        self.path = path
        self._calls: dict[str, list[dict[str, Any]]] = calls
        self._seen: dict[str, int] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayNvml:
        return cls(json.loads(Path(path).read_text()), str(path))

    def _answer(self, key: str) -> dict[str, Any]:
        answers = self._calls.get(key)
        if not answers:
            raise NotRecorded(f"{key} not recorded in {self.path}")
        i = self._seen.get(key, 0)
        self._seen[key] = i + 1
        return answers[min(i, len(answers) - 1)]

    @staticmethod
    def _index(arg: Any) -> int | None:
        return arg.index if isinstance(arg, _Handle) else None

    def __getattr__(self, name: str) -> Any:
        real = getattr(pynvml, name)  # AttributeError for names pynvml lacks, as the module
        if not (name.startswith("nvml") and callable(real)):
            return real  # constants, structure classes, error classes: pynvml's own
        special = getattr(self, f"_special_{name}", None)

        def replayed(*args: Any) -> Any:
            key = call_key(name, args, self._index)
            answer = self._answer(key)
            if special is not None:
                return special(answer, *args)
            if "error" in answer:
                raise pynvml.NVMLError(int(answer["error"]))
            return from_jsonable(answer.get("value"))

        return replayed

    # Functions whose shape differs from "return a value or raise".
    def _special_nvmlDeviceGetHandleByIndex(self, answer: dict[str, Any], index: int) -> Any:
        if "error" in answer:
            raise pynvml.NVMLError(int(answer["error"]))
        return _Handle(int(index))

    def _special_nvmlSystemGetConfComputeSettings(self, answer: dict[str, Any], ref: Any) -> int:
        if "error" in answer:
            return int(answer["error"])  # this one returns its code instead of raising
        _fill(ref._obj, answer["value"])
        return int(pynvml.NVML_SUCCESS)

    def _special_nvmlGpmSampleAlloc(self, answer: dict[str, Any]) -> Any:
        if "error" in answer:
            raise pynvml.NVMLError(int(answer["error"]))
        return pynvml.c_nvmlGpmSample_t()

    def _special_nvmlGpmSampleGet(self, answer: dict[str, Any], handle: Any, sample: Any) -> Any:
        if "error" in answer:
            raise pynvml.NVMLError(int(answer["error"]))
        return sample

    def _special_nvmlGpmMetricsGet(self, answer: dict[str, Any], mg: Any) -> Any:
        if "error" in answer:
            raise pynvml.NVMLError(int(answer["error"]))
        by_id = {int(m["metricId"]): m for m in answer["value"]}
        for i in range(mg.numMetrics):
            rec = by_id.get(int(mg.metrics[i].metricId))
            if rec is None:
                mg.metrics[i].nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
                continue
            mg.metrics[i].nvmlReturn = int(rec.get("nvmlReturn", 0))
            mg.metrics[i].value = float(rec.get("value", 0.0))
        return mg


class CaptureNvml:
    """Wraps the real ``pynvml`` and records every answer in the replay format."""

    def __init__(self, source: str, real: Any = pynvml) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.source = source
        self._real = real  # pynvml, or a ReplayNvml in the round-trip test
        self._handles: dict[int, int] = {}

    @staticmethod
    def _addr(arg: Any) -> int | None:
        if isinstance(arg, _Handle):
            return -1 - arg.index
        try:
            return ctypes.cast(arg, ctypes.c_void_p).value
        except (TypeError, ctypes.ArgumentError):
            return None

    def _index(self, arg: Any) -> int | None:
        addr = self._addr(arg)
        return self._handles.get(addr) if addr is not None else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        real = getattr(self._real, name)
        if not (name.startswith("nvml") and callable(real)):
            return real

        def captured(*args: Any) -> Any:
            key = call_key(name, args, self._index)
            rec: dict[str, Any]
            try:
                result = real(*args)
            except pynvml.NVMLError as exc:
                self.calls.setdefault(key, []).append({"error": int(exc.value)})
                raise
            if name == "nvmlDeviceGetHandleByIndex":
                self._handles[self._addr(result) or 0] = int(args[0])
                rec = {"value": None}
            elif name == "nvmlSystemGetConfComputeSettings":
                rec = {"error": int(result)} if result else {"value": to_jsonable(args[0]._obj)}
            elif name == "nvmlGpmMetricsGet":
                rec = {"value": [to_jsonable(result.metrics[i]) for i in range(result.numMetrics)]}
                for m in rec["value"]:
                    m.pop("metricInfo", None)
            elif name in ("nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmSampleFree"):
                rec = {"value": None}
            else:
                rec = {"value": to_jsonable(result)}
            self.calls.setdefault(key, []).append(rec)
            return result

        return captured

    def dump(self) -> dict[str, Any]:
        return {"source": self.source, "captured_unix_s": int(time.time()), "calls": self.calls}


def capture(out: Path, seconds: float = 3.0, interval_s: float = 0.1) -> dict[str, Any]:
    """Run the fingerprint, the CC checks and the sampler against real NVML, recording all."""
    from profiler.telemetry import nvml as nvml_mod
    from profiler.telemetry.sampler import NvmlSampler

    cap = CaptureNvml(f"captured on {socket.gethostname()} with nvidia-ml-py {pynvml.__name__}")
    _, reason = nvml_mod.safe(cap.nvmlInit)
    result: dict[str, Any] = {"init_error": reason}
    if reason is None:
        count, _ = nvml_mod.device_count(cap)
        result["system"] = nvml_mod.system_info(cap)
        result["cc"] = nvml_mod.cc_state(cap)
        result["gpus"] = [nvml_mod.device_info(cap, i) for i in range(count)]
        result["cc_protected"] = [nvml_mod.cc_protected_memory(cap, i) for i in range(count)]
        sampler = NvmlSampler(interval_s=interval_s, nvml=cap)
        sampler.start()
        time.sleep(seconds)
        sampler.stop()
        result["sampler"] = sampler.summary()
        nvml_mod.close_nvml(cap)
    data = cap.dump()
    data["description"] = "NVML answers recorded by scripts/device_check.sh"
    data["decoded"] = result
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Capture real NVML answers into a replay file.")
    ap.add_argument("--capture", type=Path, required=True, metavar="OUT.json")
    ap.add_argument("--seconds", type=float, default=3.0, help="sampler run while capturing")
    args = ap.parse_args(argv)
    data = capture(args.capture, args.seconds)
    print(json.dumps(data.get("decoded", {}), indent=1, default=str)[:4000])
    return 0 if data["decoded"].get("init_error") is None else 3


if __name__ == "__main__":
    sys.exit(main())
