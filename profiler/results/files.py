"""How every result file is written and read: one JSON encoding, atomic saves, one-line errors.

A result file is a pydantic model (:class:`ResultFile`); writers build the model and
:meth:`ResultFile.save` it, readers get the model back from :meth:`ResultFile.load`. Nobody
builds or reads these files as bare dicts (DESIGN §5: readers never guess keys).

Encoding: JSON has no NaN or infinity, so NaN is stored as ``null`` and ±infinity as the
strings ``"inf"``/``"-inf"`` (an unlimited request rate); the models read both back.

Saving is atomic and durable: a temporary file in the same directory, flushed and fsynced, then
renamed over the target, so a reader (or a crash) sees the old file or the new one, never half.
A corrupt, truncated or wrong-shaped file is reported as one line naming the file and what is
wrong (:class:`CorruptFile`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, WithJsonSchema

from profiler.errors import UserError

SCHEMA_VERSION = 2

#: A number that may be infinite (request rates): stored as a number or "inf".
Rate = Annotated[
    float,
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": ["inf", "-inf"]}]}),
]


class CorruptFile(UserError):
    """A result file that cannot be read as what it should be; the message says which and why."""


class Strict(BaseModel):
    """Result-file parts: unknown keys are errors, so a typo or a stale writer is caught."""

    model_config = ConfigDict(extra="forbid")


R = TypeVar("R", bound="ResultFile")


class ResultFile(Strict):
    """A JSON result file with a ``schema_version``."""

    #: the file name inside its directory (manifest.json, comparison.json, …)
    FILE: ClassVar[str] = ""
    #: older versions this model still reads, through :meth:`migrate`
    OLDER: ClassVar[frozenset[int]] = frozenset()

    schema_version: int = SCHEMA_VERSION

    @classmethod
    def load(cls: type[R], path: Path) -> R:
        """Read ``path`` (a file, or the directory holding :attr:`FILE`)."""
        path = Path(path)
        if path.is_dir() and cls.FILE:
            path = path / cls.FILE
        return cls.parse(read_json_file(path), path)

    @classmethod
    def parse(cls: type[R], data: Any, source: Path | str) -> R:
        if not isinstance(data, dict):
            kind = "null" if data is None else type(data).__name__
            raise CorruptFile(f"{source}: expected a JSON object, found {kind}")
        version = data.get("schema_version", 1)
        if version != SCHEMA_VERSION and version not in cls.OLDER:
            raise CorruptFile(
                f"{source}: schema_version {version!r} is not one this tool reads "
                f"({SCHEMA_VERSION}{''.join(f', {v}' for v in sorted(cls.OLDER))}); "
                "written by another version of tee-llm-prof? Re-run the command that made it"
            )
        if version != SCHEMA_VERSION:
            data = cls.migrate(dict(data), int(version))
        try:
            return cls.model_validate({**data, "schema_version": SCHEMA_VERSION})
        except ValidationError as exc:
            raise CorruptFile(f"{source}: not a valid {cls.__name__}: {first_error(exc)}") from None

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Turn a file of an older ``version`` (one of :attr:`OLDER`) into today's shape."""
        return data

    def save(self, path: Path) -> Path:
        """Write atomically to ``path`` (a file, or the directory to hold :attr:`FILE`)."""
        path = Path(path)
        if path.is_dir() and self.FILE:
            path = path / self.FILE
        write_json(path, self.model_dump(mode="python"))
        return path


def first_error(exc: ValidationError) -> str:
    """The first validation problem as ``dotted.key: message`` (one line)."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    more = len(exc.errors()) - 1
    return f"{key}: {msg}" + (f" (and {more} more)" if more else "")


# --------------------------------------------------------------------------- JSON encoding


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="python")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def clean(obj: Any) -> Any:
    """NaN is not JSON: store it as null, and ±inf as the strings 'inf'/'-inf'."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, BaseModel):
        return clean(obj.model_dump(mode="python"))
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "item") and not hasattr(obj, "__len__"):  # numpy scalar
        return clean(obj.item())
    return obj


def write_json(path: Path, data: Any) -> None:
    """Atomic, durable JSON write (temporary file + fsync + rename)."""
    text = json.dumps(clean(data), indent=2, default=_json_default, allow_nan=False) + "\n"
    write_atomic(Path(path), text.encode())


def write_atomic(path: Path, payload: bytes) -> None:
    # unique per process and thread: two threads saving one file must not share a temporary
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temporary behind
        raise


def read_json_file(path: Path) -> Any:
    """The parsed JSON of ``path``; CorruptFile (one line) when it is missing or not JSON."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise CorruptFile(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorruptFile(f"{path}: is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise CorruptFile(f"{path}: empty file")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptFile(f"{path}: not valid JSON ({exc})") from None
