"""What the report tests check on every output, the way a reader would.

- HTML: well-formed (every element closed in order), non-empty, self-contained (no URL that
  leaves the file: every src/href is a data: URI or an in-page #anchor);
- PNG: opens, has a sensible size and is not blank;
- figures: every axes that shows data has a title (its own or the figure's), both axis labels,
  and a legend.
"""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.tags: dict[str, int] = {}
        self.text_chars = 0
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "srcset") and value is not None:
                self.urls.append(value)
            if name == "style" and value and "url(" in value:
                self.urls.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] not in ("style", "script"):
            self.text_chars += len(data.strip())


def check_html(path: Path) -> StrictHTML:
    text = path.read_text(encoding="utf-8")
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert parser.doctype, "no <!DOCTYPE html>"
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"unclosed elements: {parser.stack}"
    assert parser.text_chars > 200, "the page has almost no text"
    for url in parser.urls:
        assert url.startswith(("data:image/png;base64,", "#")), f"URL leaving the file: {url[:80]}"
    # endpoints may appear as text (the report names them); nothing may be *loaded* from a URL
    assert "@import" not in text and "url(" not in text
    assert parser.tags.get("script", 0) == 0
    return parser


def check_png(path: Path, min_size: tuple[int, int] = (300, 200)) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(path.read_bytes()), format="png")
    h, w = img.shape[:2]
    assert w >= min_size[0] and h >= min_size[1], f"{path.name} is only {w}x{h}"
    assert float(np.std(img[..., :3])) > 0.01, f"{path.name} looks blank"
    return img


def check_figure(fig: Figure, name: str) -> None:
    suptitle = fig.get_suptitle()
    assert suptitle, f"{name}: no figure title"
    for ax in fig.axes:
        has_data = bool(ax.lines or ax.collections or ax.patches)
        if not has_data:
            continue  # a "no data" panel says so in text; there is nothing to label
        # stacked panels sharing one time axis label it once, at the bottom, as a reader expects
        siblings = ax.get_shared_x_axes().get_siblings(ax)
        assert any(a.get_xlabel() for a in siblings), f"{name}: an axes has no x label"
        assert ax.get_ylabel(), f"{name}: an axes has no y label"
        assert ax.get_legend() is not None, f"{name}: axes {ax.get_title()!r} has no legend"
