"""Look at the HTML report the way a person would: headless Chromium renders it to a screenshot.

Skipped when Debian's ``chromium`` is not installed (``apt-get install -y chromium``). Chromium
runs with networking disabled and every host name unresolvable, so a plot that was not really
embedded would show as a broken image: the test counts the pixels of the plots' bar colour.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from profiler import report
from tests.report_checks import check_png
from tests.report_data import make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"),
]

WIDTH, HEIGHT = 1400, 3000


def screenshot(html: Path, out: Path, tmp: Path) -> Path:
    assert CHROMIUM is not None
    profile = tmp / "chromium-profile"
    profile.mkdir()
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
        f"--screenshot={out}", f"--window-size={WIDTH},{HEIGHT}", html.resolve().as_uri(),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # stop chromium and every helper process it started
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert out.is_file(), f"chromium wrote no screenshot: {err.decode(errors='replace')[-800:]}"
    return out


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    from profiler.analysis import compare
    on = make_run(tmp_path / "runs", "on", n=80, ttft_ms=48, itl_ms=8.8, seed=11)
    off = make_run(tmp_path / "runs", "off", n=80, ttft_ms=40, itl_ms=8.0, seed=11)
    compare.compare_runs([on], [off], tmp_path / "cmp", n_boot=300)
    html = report.render(tmp_path / "cmp", ("html",))[0]

    shot = screenshot(html, tmp_path / "shot.png", tmp_path)
    img = check_png(shot, min_size=(WIDTH, HEIGHT))[..., :3]
    assert img.shape[:2] == (HEIGHT, WIDTH)
    # content, not a blank or error page: dark text in the top band where the title and headline are
    assert (img[:300].mean(axis=2) < 0.3).sum() > 2000
    # the overhead bars (an embedded PNG, red where significant) are on screen: tens of thousands
    # of red pixels. Without the plot only the headline's 5-px red border (~400 px) would be.
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = int(((r > 0.6) & (g < 0.45) & (b < 0.45)).sum())
    assert red > 5000, f"only {red} pixels of the bar colour: the embedded plot did not render"
