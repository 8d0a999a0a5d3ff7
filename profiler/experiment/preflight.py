"""Checks before anything runs: endpoint URLs, reachability, the served model, the output dir.

Every failure is one line naming what is wrong and what to do. They run before a run or
profile directory exists, so a typo never leaves a ``running`` manifest or an empty profile.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from profiler.errors import UserError
from profiler.experiment.legs import Leg

#: /v1/models of a real server is a few KiB; more is not an OpenAI-compatible answer.
MAX_MODELS_BYTES = 1 << 20
SCHEMES = ("http", "https")


def check_url(url: str, what: str = "--endpoint") -> str:
    """``url`` if it is an http(s) URL with a host and a valid port, else one clear line."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise UserError(f"{what} {url!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise UserError(f"{what} {url!r}: expected an http:// or https:// URL (e.g. http://10.0.0.5:8000)")
    if not parts.hostname:
        raise UserError(f"{what} {url!r}: no host (e.g. http://10.0.0.5:8000)")
    if port == 0:
        raise UserError(f"{what} {url!r}: port 0 is not a server's port")
    return url


def tls_context(ca: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """The context an https check uses: the run's CA bundle, or no verification (--insecure)."""
    ctx = ssl.create_default_context(cafile=ca)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_models(base_url: str, timeout_s: float = 10.0, tls: ssl.SSLContext | None = None) -> list[str]:
    """The model ids ``GET /v1/models`` lists; one line when the server cannot say."""
    url = base_url.rstrip("/") + "/v1/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=tls) as r:
            data = r.read(MAX_MODELS_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise UserError(f"{url} answered HTTP {exc.code}: is this an OpenAI-compatible server?") from None
    except (OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot reach {base_url} ({why}); is the server up?") from None
    try:
        found = json.loads(data)
        return [str(m["id"]) for m in found["data"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{url} did not answer a model list: is this an OpenAI-compatible server?") from None


def check_legs(
    legs: Sequence[Leg], *, allow_mismatch: bool = False, tls: ssl.SSLContext | None = None
) -> list[str]:
    """Every leg reachable and serving the model it is meant to, all legs the same model.
    With ``allow_mismatch`` the mismatches are returned as warnings instead of raised."""
    warnings: list[str] = []
    listed: dict[str, list[str]] = {}
    for leg in legs:
        check_url(leg.base_url, f"leg {leg.name}")
        url = leg.base_url.rstrip("/")
        known = leg.engine.get("served_models")  # the external engine's probe already asked
        if url not in listed:
            listed[url] = [str(m) for m in known] if isinstance(known, list) else served_models(url, tls=tls)
        expected = str(leg.engine.get("expected_model") or leg.served_model)
        if expected not in listed[url]:
            warnings.append(
                f"leg {leg.name}: {leg.base_url} serves {', '.join(listed[url]) or 'no model'}, "
                f"not {expected!r}"
            )
    names = {leg.served_model for leg in legs}
    if len(names) > 1:
        listing = ", ".join(sorted(names))
        warnings.append(f"the legs serve different models ({listing}): they are not comparable")
    if warnings and not allow_mismatch:
        raise UserError(f"{warnings[0]}; pass --allow-model-mismatch to measure anyway")
    return warnings


def check_writable(out: Path, what: str = "--out") -> Path:
    """Create ``out`` if needed and prove a file can be written there (before measuring)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{what} {out} is not writable: {exc.strerror or exc}") from None
    return out
