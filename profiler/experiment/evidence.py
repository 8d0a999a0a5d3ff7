"""Each leg's TEE evidence, and what its name claims (issue: k legs, "evidence per leg").

A leg gets evidence from, first match wins:

1. ``--leg-evidence NAME=FILE``: the ``tee-llm-prof validate --json`` output the user ran on
   the leg's host (read and checked before anything starts);
2. ``validate`` run here, when the leg's endpoint is on this host (loopback): the host that
   answers is this one, so its evidence is this host's;
3. nothing: a remote leg without a file has no evidence, and the report says so.

What a leg's name claims, and where its evidence contradicts it, is
:mod:`profiler.analysis.evidence`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from profiler.analysis.evidence import claim_of
from profiler.errors import UserError
from profiler.experiment.legs import Leg
from profiler.results.evidence import LegEvidence, from_validate

LOCAL_HOSTS = frozenset({"localhost", "ip6-localhost"})


def parse_evidence_args(items: Sequence[str]) -> dict[str, LegEvidence]:
    """``--leg-evidence NAME=FILE`` (repeatable) → {name: evidence}, every file read and checked now."""
    out: dict[str, LegEvidence] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--leg-evidence expects NAME=FILE (a `validate --json` output), got {item!r}")
        if name in out:
            raise UserError(f"--leg-evidence {name} is given twice")
        try:
            data = json.loads(Path(path).read_text())
            out[name] = from_validate(data, f"file: {path}")
        except OSError as exc:
            raise UserError(f"--leg-evidence {name}: cannot read {path}: {exc.strerror or exc}") from None
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise UserError(f"--leg-evidence {name}: {path}: {exc}") from None
    return out


def is_local(url: str) -> bool:
    """The endpoint is served by this host (loopback)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host == "::1" or host.startswith("127.")


def local_evidence(expect: str) -> LegEvidence:
    from profiler.validate import validate

    return from_validate(validate(expect), "validate on this host")


def with_evidence(legs: Sequence[Leg], files: Mapping[str, LegEvidence]) -> list[Leg]:
    """The legs, each with the evidence it can have (a file, this host's, or none)."""
    unknown = sorted(set(files) - {leg.name for leg in legs})
    if unknown:
        raise UserError(
            f"--leg-evidence {', '.join(unknown)}: no such leg ({', '.join(leg.name for leg in legs)})"
        )
    here: dict[str, LegEvidence] = {}
    out = []
    for leg in legs:
        evidence = files.get(leg.name)
        if evidence is None and leg.base_url and is_local(leg.base_url):
            expect = "off" if claim_of(leg.name).cpu_tee is False else "on"
            if expect not in here:
                here[expect] = local_evidence(expect)
            evidence = here[expect]
        out.append(replace(leg, evidence=evidence))
    return out
