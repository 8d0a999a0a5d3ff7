"""Token counting for workload generation: a real tokenizer, the endpoint's, or words.

Three modes, tried in this order by :func:`resolve_counter` and recorded in the manifest as
``tokenizer_mode`` so a reader knows how exact the input lengths are:

- ``hf``:       a Hugging Face tokenizer directory (``tokenizers`` or ``transformers``);
- ``endpoint``: vLLM's ``POST /tokenize`` on the server under test (exact for that server);
- ``words``:    one whitespace-separated word = one token, an approximation the run states.

Counting happens while prompts are built, before any clock starts; never on the hot path.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from catalog.registry import Registry


@dataclass
class TokenCounter:
    mode: str
    count: Callable[[str], int]
    source: str = ""  # path or URL the counts come from


COUNTERS: Registry[Callable[[str, str | None], TokenCounter]] = Registry("tokenizer mode")


@COUNTERS.register("words")
def words_counter(_: str = "", __: str | None = None) -> TokenCounter:
    return TokenCounter("words", lambda text: len(text.split()), "whitespace words")


@COUNTERS.register("hf")
def hf_counter(path: str, _: str | None = None) -> TokenCounter:
    """Count like the server does for a completion prompt (special tokens included)."""
    p = Path(path)
    tok_file = p / "tokenizer.json" if p.is_dir() else p
    if tok_file.is_file():
        try:
            from tokenizers import Tokenizer
        except ImportError:
            pass
        else:
            tok = Tokenizer.from_file(str(tok_file))
            return TokenCounter(
                "hf", lambda text: len(tok.encode(text, add_special_tokens=True).ids), str(p)
            )
    try:
        from transformers import AutoTokenizer  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ValueError(
            f"cannot load tokenizer {path}: install 'tokenizers' or 'transformers'"
        ) from exc
    try:
        hf = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except Exception as exc:  # transformers raises many kinds; the message is what matters
        raise ValueError(f"cannot load tokenizer {path}: {exc}") from exc
    return TokenCounter("hf", lambda text: len(hf(text)["input_ids"]), str(p))


#: A /tokenize answer larger than this is not vLLM's (a token list of a long prompt is ~100 KiB).
MAX_TOKENIZE_BYTES = 8 << 20
PROBE_BYTES = 64 << 10


@COUNTERS.register("endpoint")
def endpoint_counter(base_url: str, model: str | None = None) -> TokenCounter:
    url = base_url.rstrip("/") + "/tokenize"
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn: list[http.client.HTTPConnection] = []  # one keep-alive connection for all counts

    def post(body: bytes) -> dict[str, Any]:
        if not conn:
            conn.append(cls(parts.hostname or "127.0.0.1", parts.port, timeout=30))
        c = conn[0]
        c.request("POST", parts.path, body=body, headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        data = resp.read(MAX_TOKENIZE_BYTES + 1)
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}: {data[:120]!r}")
        if len(data) > MAX_TOKENIZE_BYTES:
            raise OSError(f"answer larger than {MAX_TOKENIZE_BYTES >> 20} MiB")
        out: dict[str, Any] = json.loads(data)
        return out

    def count(text: str) -> int:
        body = json.dumps({"model": model, "prompt": text}).encode()
        try:
            try:
                out = post(body)
            except (http.client.HTTPException, ConnectionError):
                conn.clear()  # the server closed the idle connection: retry once on a new one
                out = post(body)
            return int(out["count"]) if "count" in out else len(out["tokens"])
        except (http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            conn.clear()
            why = f"{type(exc).__name__}: {exc}"
            raise OSError(f"a /tokenize answer was cut off or malformed ({why})") from None

    return TokenCounter("endpoint", count, url)


def endpoint_tokenizes(base_url: str, model: str | None = None, timeout_s: float = 3.0) -> bool:
    """True when the endpoint answers ``POST /tokenize`` the way vLLM does."""
    url = base_url.rstrip("/") + "/tokenize"
    body = json.dumps({"model": model, "prompt": "hello world"}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            out = json.loads(r.read(PROBE_BYTES))
    except (OSError, ValueError, http.client.HTTPException):  # cut off, malformed, refused, slow
        return False
    return isinstance(out, dict) and ("count" in out or "tokens" in out)


def resolve_counter(tokenizer: str | None, base_url: str | None, model: str | None) -> TokenCounter:
    """A tokenizer path wins; else the endpoint's /tokenize if it answers; else words."""
    if tokenizer:
        return COUNTERS.get("hf")(tokenizer, None)
    if base_url and endpoint_tokenizes(base_url, model):
        return COUNTERS.get("endpoint")(base_url, model)
    return COUNTERS.get("words")("", None)
