"""The service's bearer token and how requests prove they hold it.

- Every ``/api`` route needs ``Authorization: Bearer <token>``, compared in constant time
  (``hmac.compare_digest``).
- The dashboard (``GET /``) and the read-only ``GET /api/...`` links it shows (reports, files)
  also accept a session cookie, so a browser can follow them. The cookie is not the token: it
  is a random session id (256 bits) the service keeps in memory, HttpOnly and SameSite=Strict,
  and it is refused on any request that changes state (POST, DELETE), which therefore always
  need the header (no CSRF).
- A session expires after :data:`SESSION_TTL_S` (the cookie's Max-Age says the same), ends at
  ``/logout`` (revoked on the server, not only deleted in the browser) and with the service:
  a restart signs every browser out.
- A browser gets the cookie by opening ``/?token=<token>`` (or the login form); the service
  answers with a redirect to ``/`` so the token does not stay in the address bar.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from profiler.errors import UserError

COOKIE = "tee_llm_prof_session"
SAFE_METHODS = frozenset({"GET", "HEAD"})
SESSION_TTL_S = 12 * 3600  # a working day; then sign in again
MAX_SESSIONS = 1000  # the oldest are dropped beyond this (a flood of logins cannot grow memory)


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token in ``path``; a new random one (written 0600) when the file does not exist.
    Returns (token, created)."""
    path = Path(path)
    if path.exists():
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise UserError(f"cannot read the token file {path}: {exc.strerror}") from None
        if len(token) < 16:
            raise UserError(f"the token in {path} is shorter than 16 characters; use a longer one")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            print(f"warning: {path} is readable by other users (mode {mode:o}); chmod 600 it")
        return token, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL + 0600 at creation: the token is never readable by others, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


class Auth:
    def __init__(
        self, token: str, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._token = token.encode()
        self._ttl = ttl_s
        self._clock = clock
        self._sessions: dict[str, float] = {}  # session id → when it expires (clock time)

    def token_ok(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token)

    def new_session(self) -> str:
        now = self._clock()
        self._sessions = {k: t for k, t in self._sessions.items() if t > now}
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = now + self._ttl
        return sid

    def session_ok(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        expires = self._sessions.get(candidate)
        if expires is None:
            return False
        if expires <= self._clock():
            self._sessions.pop(candidate, None)
            return False
        return True

    def revoke(self, candidate: str | None) -> None:
        if candidate:
            self._sessions.pop(candidate, None)

    def bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def allowed(self, request: web.Request) -> bool:
        """The bearer header, or (for reads only) a live dashboard session cookie."""
        if self.bearer_ok(request):
            return True
        return request.method in SAFE_METHODS and self.session_ok(request.cookies.get(COOKIE))

    def set_session(self, response: web.StreamResponse, secure: bool) -> None:
        response.set_cookie(
            COOKIE,
            self.new_session(),
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
            max_age=int(self._ttl),
        )


def unauthorized(message: str = "missing or wrong bearer token") -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=f'{{"error": "{message}"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="tee-llm-prof"'},
    )
