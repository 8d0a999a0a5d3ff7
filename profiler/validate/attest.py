"""A TEE attestation report fetched with a fresh 32-byte nonce, via the kernel's configfs-tsm.

configfs-tsm (Linux ≥ 6.7, Documentation/ABI/testing/configfs-tsm): create a directory under
``/sys/kernel/config/tsm/report``, write up to 64 bytes of report data to ``inblob``, read the
signed report/quote from ``outblob`` and the backend from ``provider`` (``tdx_guest``,
``sev_guest``). Both the SEV-SNP report and the TDX quote embed the report data verbatim, so
finding our nonce in ``outblob`` shows the report was made for this request, now.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

TSM_REPORT = Path("/sys/kernel/config/tsm/report")
NONCE_BYTES = 32
REPORT_DATA_BYTES = 64  # the size of TDX REPORTDATA and SNP REPORT_DATA


def nonce_echoed(outblob: bytes, nonce: bytes) -> bool:
    return len(nonce) > 0 and nonce in outblob


def fetch_report(root: Path = TSM_REPORT, nonce: bytes | None = None,
                 entry_name: str | None = None) -> dict[str, Any]:
    """Returns {present, provider, size, nonce_hex, nonce_echoed, reason}; never raises.

    A fresh entry directory is made and removed unless ``entry_name`` names one to reuse.
    """
    nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
    out: dict[str, Any] = {"interface": str(root), "present": False, "provider": None,
                           "size": None, "nonce_hex": nonce.hex(), "nonce_echoed": None,
                           "reason": None}
    if not root.is_dir():
        out["reason"] = f"{root} does not exist (no configfs-tsm: not a TEE guest, or kernel < 6.7)"
        return out
    entry = root / (entry_name or f"tee-llm-prof-{os.getpid()}-{secrets.token_hex(4)}")
    created = False
    try:
        if not entry.exists():
            entry.mkdir()
            created = True
        (entry / "inblob").write_bytes(nonce.ljust(REPORT_DATA_BYTES, b"\0"))
        provider = (entry / "provider").read_text().strip() if (entry / "provider").exists() else None
        blob = (entry / "outblob").read_bytes()
    except OSError as exc:
        out["reason"] = f"configfs-tsm report failed: {exc} (needs root; TDX also needs a quote service)"
        return out
    finally:
        if created:
            with contextlib.suppress(OSError):
                entry.rmdir()
    out.update(present=len(blob) > 0, provider=provider, size=len(blob),
               nonce_echoed=nonce_echoed(blob, nonce))
    if not blob:
        out["reason"] = "outblob is empty"
    elif not out["nonce_echoed"]:
        out["reason"] = "the report does not contain our nonce: stale or not made for this request"
    return out
