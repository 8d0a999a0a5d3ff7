"""A TEE attestation report fetched with a fresh 32-byte nonce, via the kernel's configfs-tsm.

configfs-tsm (Linux ≥ 6.7, Documentation/ABI/testing/configfs-tsm): create a directory under
``/sys/kernel/config/tsm/report``, write up to 64 bytes of report data to ``inblob``, read the
signed report/quote from ``outblob`` and the backend from ``provider`` (``tdx_guest``,
``sev_guest``). Both the SEV-SNP report and the TDX quote embed the report data verbatim, so
finding our nonce in ``outblob`` shows the report was made for this request, now.

Kernels without configfs-tsm (< 6.7) expose the guest drivers' ioctls instead:
``TDX_CMD_GET_REPORT0`` on /dev/tdx_guest (a TDREPORT, REPORTDATA inside) and
``SNP_GET_REPORT`` on /dev/sev-guest (an SNP attestation report, REPORT_DATA inside); the same
nonce check applies. Layouts follow include/uapi/linux/tdx-guest.h and sev-guest.h.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
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


# --- guest-driver ioctls (no configfs-tsm) ---------------------------------------------------

def _iowr(kind: str, nr: int, size: int) -> int:
    """Linux _IOWR(type, nr, size): direction read|write (3) in bits 30-31."""
    return (3 << 30) | (size << 16) | (ord(kind) << 8) | nr


class _TdxReportReq(ctypes.Structure):
    _fields_ = [("reportdata", ctypes.c_uint8 * 64), ("tdreport", ctypes.c_uint8 * 1024)]


class _SnpReportReq(ctypes.Structure):
    _fields_ = [("user_data", ctypes.c_uint8 * 64), ("vmpl", ctypes.c_uint32),
                ("rsvd", ctypes.c_uint8 * 28)]


class _SnpReportResp(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint8 * 4000)]


class _SnpGuestRequest(ctypes.Structure):
    _fields_ = [("msg_version", ctypes.c_uint8), ("req_data", ctypes.c_uint64),
                ("resp_data", ctypes.c_uint64), ("exitinfo2", ctypes.c_uint64)]


TDX_CMD_GET_REPORT0 = _iowr("T", 1, ctypes.sizeof(_TdxReportReq))
SNP_GET_REPORT = _iowr("S", 0, ctypes.sizeof(_SnpGuestRequest))


def _tdx_ioctl(fd: int, data: bytes) -> bytes:
    req = _TdxReportReq()
    ctypes.memmove(req.reportdata, data, len(data))
    fcntl.ioctl(fd, TDX_CMD_GET_REPORT0, req)
    return bytes(req.tdreport)


def _snp_ioctl(fd: int, data: bytes) -> bytes:
    req, resp = _SnpReportReq(), _SnpReportResp()
    ctypes.memmove(req.user_data, data, len(data))
    guest = _SnpGuestRequest(msg_version=1, req_data=ctypes.addressof(req),
                             resp_data=ctypes.addressof(resp))
    fcntl.ioctl(fd, SNP_GET_REPORT, guest)
    # snp_report_resp: status u32, report_size u32, 24 reserved bytes, then the report
    size = int.from_bytes(bytes(resp.data[4:8]), "little")
    return bytes(resp.data[32 : 32 + size]) if 0 < size <= 4000 - 32 else bytes(resp.data)


DEVICE_IOCTLS = (("dev/tdx_guest", "tdx_guest ioctl", _tdx_ioctl),
                 ("dev/sev-guest", "sev-guest ioctl", _snp_ioctl))


def fetch_device_report(root: Path = Path("/"), nonce: bytes | None = None) -> dict[str, Any]:
    """The report via /dev/tdx_guest or /dev/sev-guest; same keys as :func:`fetch_report`."""
    nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
    out: dict[str, Any] = {"interface": None, "present": False, "provider": None, "size": None,
                           "nonce_hex": nonce.hex(), "nonce_echoed": None, "reason": None}
    for rel, provider, call in DEVICE_IOCTLS:
        dev = root / rel
        if not dev.exists():
            continue
        out["interface"], out["provider"] = str(dev), provider
        try:
            fd = os.open(dev, os.O_RDWR)
            try:
                blob = call(fd, nonce.ljust(REPORT_DATA_BYTES, b"\0"))
            finally:
                os.close(fd)
        except OSError as exc:
            out["reason"] = f"{provider} failed: {exc}"
            return out
        out.update(present=any(blob), size=len(blob), nonce_echoed=nonce_echoed(blob, nonce))
        if not out["nonce_echoed"]:
            out["reason"] = "the report does not contain our nonce"
        return out
    out["reason"] = "no /dev/tdx_guest or /dev/sev-guest"
    return out
