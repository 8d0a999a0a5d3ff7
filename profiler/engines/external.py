"""The external engine: an endpoint someone else runs (a TEE-on / TEE-off deployment).

Nothing is launched. :func:`probe` checks that the endpoint answers, finds the model it serves
and records what it can learn about the server (vLLM's ``/version``) for the manifest.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from profiler.config import ModelEntry
from profiler.engines import Endpoint, Engine, LaunchOptions, register
from profiler.errors import UserError


def _get_json(url: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read())


def probe(base_url: str, served_name: str | None, timeout_s: float = 10.0) -> Endpoint:
    """An :class:`Endpoint` for a running OpenAI-compatible server, or a UserError saying why not."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise UserError(f"endpoint {base_url!r} is not an http(s) URL (e.g. http://10.0.0.5:8000)")
    try:
        listing = _get_json(base + "/v1/models", timeout_s)
    except (OSError, ValueError) as exc:
        raise UserError(f"endpoint {base} does not answer GET /v1/models: {exc}") from None
    served = [str(m.get("id")) for m in listing.get("data", []) if isinstance(m, dict)]
    if served_name and served_name in served:
        model = served_name
    elif len(served) == 1:
        model = served[0]
    else:
        raise UserError(
            f"endpoint {base} serves {served or 'no models'}; expected {served_name!r} "
            "(set served_name in models.yaml)"
        )
    version = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        version = _get_json(base + "/version", timeout_s).get("version")
    # what the endpoint lists, and the name it was meant to serve: the pre-flight check compares them
    info = {"name": "external", "base_url": base, "version": version, "served_models": served,
            "expected_model": served_name}
    return Endpoint(base_url=base, served_model=model, engine=info, metrics_url=base + "/metrics")


@contextlib.contextmanager
def _launch(entry: ModelEntry, key: str, opts: LaunchOptions) -> Iterator[Endpoint]:
    raise UserError(
        f"model {key!r} uses the external engine: give its endpoints with --tee-on URL --tee-off URL "
        "or under endpoints: in models.yaml"
    )
    yield  # pragma: no cover - a generator for contextmanager; never reached


register(Engine("external", "an endpoint you run; nothing is launched", _launch))
