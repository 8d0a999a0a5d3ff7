"""The HTML format: one self-contained report.html (inline CSS, PNGs as base64 data URIs).

Nothing in the page points outside it: no scripts, fonts, stylesheets or images by URL, so it
opens offline, from an e-mail attachment, or inside an air-gapped TEE host.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Console

from profiler import __version__
from profiler.report.formats_common import dispatch
from profiler.report.model import FigureBlock, Paragraph, Report, Table, Warnings

REPORT_HTML = "report.html"
BADGE = '<span class="badge">A/A calibration: noise floor, not a TEE cost</span>'

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  color:#1c2833;background:#fbfcfc}
main{max-width:1240px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:1.7em;margin:0 0 12px}
h2{font-size:1.25em;margin:32px 0 10px;border-bottom:2px solid #d5dbdb;padding-bottom:4px}
.headline{background:#fef5e7;border-left:5px solid #c0392b;padding:10px 14px;margin:8px 0;
  font-size:1.08em;font-weight:600}
.calibration .headline{background:#eaf2f8;border-left-color:#566573}
.badge{display:inline-block;background:#566573;color:#fff;border-radius:3px;padding:2px 8px;
  font-size:.8em;margin-left:10px;vertical-align:middle}
nav{font-size:.92em;margin:8px 0 16px;color:#566573}
nav a{color:#2471a3;margin-right:12px;text-decoration:none}
table{border-collapse:collapse;margin:6px 0 4px;font-size:.9em;background:#fff}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #d5dbdb;padding:4px 8px;vertical-align:top}
th{background:#eaf2f8}
td.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.l{text-align:left}
p.note{font-size:.85em;color:#566573;margin:2px 0 14px}
ul.warn{padding-left:20px} ul.warn li{margin:3px 0} .code{font-weight:600;color:#a04000}
p.ok{color:#1e8449}
figure{margin:12px 0 22px} figure img{max-width:100%;border:1px solid #d5dbdb;background:#fff}
figcaption{font-size:.88em;color:#566573}
footer{font-size:.8em;color:#808b96;margin-top:32px}
"""


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    aligns = t.alignment()
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{a}">{escape(c)}</td>' for c, a in zip(row, aligns, strict=False))
        + "</tr>"
        for row in t.rows
    )
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (
        f"<table><caption>{escape(t.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{note}"
    )


def _warnings(w: Warnings) -> str:
    if not w.items:
        return f'<p class="ok">{escape(w.empty)}</p>'
    items = "".join(
        f'<li><span class="code">{escape(i.code)}</span>'
        + (f" [{escape(i.leg)}]" if i.leg else "")
        + f": {escape(i.message)}</li>"
        for i in w.items
    )
    return f'<ul class="warn">{items}</ul>'


def _paragraph(p: Paragraph) -> str:
    text = escape(p.text)
    return f"<p><strong>{text}</strong></p>" if p.emphasis else f"<p>{text}</p>"


def _figure(f: FigureBlock) -> str:
    data = base64.b64encode(f.png()).decode("ascii")
    cap = f"<figcaption>{escape(f.caption)}</figcaption>" if f.caption else ""
    return (
        f'<figure id="fig-{escape(f.name)}"><img alt="{escape(f.title)}" '
        f'src="data:image/png;base64,{data}">{cap}</figure>'
    )


HANDLERS: dict[type, Callable[[Any], str]] = {
    Table: _table,
    Warnings: _warnings,
    Paragraph: _paragraph,
    FigureBlock: _figure,
}


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        '<main class="calibration">' if report.calibration else "<main>",
        f"<h1>{escape(report.title)}{BADGE if report.calibration else ''}</h1>",
    ]
    parts += [f'<div class="headline">{escape(line)}</div>' for line in report.headline]
    links = "".join(f'<a href="#s{i}">{escape(s.heading)}</a>' for i, s in enumerate(report.sections))
    parts.append(f"<nav>{links}</nav>")
    for i, section in enumerate(report.sections):
        parts.append(f'<section id="s{i}"><h2>{escape(section.heading)}</h2>')
        parts += [dispatch(HANDLERS, block) for block in section.blocks]
        parts.append("</section>")
    parts.append(
        f"<footer>Source: {escape(str(report.source))} · tee-llm-prof {escape(__version__)}</footer>"
    )
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write(report: Report, console: Console | None = None) -> list[Path]:
    report.out_dir.mkdir(parents=True, exist_ok=True)
    path = report.out_dir / REPORT_HTML
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_html(report), encoding="utf-8")
    tmp.replace(path)
    return [path]
