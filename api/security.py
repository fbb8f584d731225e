"""Two small ASGI guards at the edge of the service, in memory, per process.

`BodyLimitMiddleware` refuses a request body over MAX_BODY_BYTES with 413, before any route reads it: at once
from a Content-Length that says so, else by counting the bytes as they stream in (chunked uploads). A body
under the limit is buffered (64 KiB at most) and handed on unchanged; a JSON body whose bytes are not text
(invalid UTF-8) or that nests deeper than MAX_JSON_DEPTH is a 422 naming the body, as malformed JSON is,
instead of FastAPI's bare 400 (json.loads raises RecursionError on deep nesting, which FastAPI does not map).

`AdminGuard` slows down token guessing on /admin/*: after FAILURES_ALLOWED refused tokens (401 or 403) from
one client address within WINDOW_S seconds, that address gets 429 with Retry-After until the window has
passed. The token itself is checked by api.routes with hmac.compare_digest; this only counts the refusals.
The client address is the ASGI one. uvicorn replaces it with X-Forwarded-For only when the connection comes
from an address in SEMSEARCH_TRUSTED_PROXIES (`semsearch serve` sets it up; none by default): otherwise anyone
who can reach the port, localhost included, would get a fresh allowance with each forged header. Behind a
reverse proxy, name it there so that the caller's address is counted, not the proxy's (docs/OPERATIONS.md).
With several workers each process counts on its own, so the bound is FAILURES_ALLOWED per worker.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response, invalid_parameter

MAX_BODY_BYTES = 64 * 1024  # a search is well under 1 KiB; 8 filters x 20 values x 200 characters fit
MAX_JSON_DEPTH = 32  # a search body nests 2 levels (an object of lists)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
FAILURES_ALLOWED = 5
WINDOW_S = 60.0
ADMIN_PREFIX = "/admin/"
MAX_TRACKED = 10_000  # client addresses remembered at most, so a flood of addresses cannot grow memory


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        try:
            too_large = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_large = False  # a malformed Content-Length is the server's (h11's) business, not ours
        if too_large:
            await self._refuse(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._refuse(scope, receive, send)
            return
        problem = _json_problem(scope, body) if body else None
        if problem:
            # FastAPI answers such a body with a bare 400; the API's contract is a 422 naming the body.
            await invalid_parameter("body", problem, "body")(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when the client goes

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing more will come
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large",
                                  f"Requête trop volumineuse : {self.max_bytes} octets au plus.",
                                  {"limit_bytes": self.max_bytes}, headers={"Connection": "close"})
        await response(scope, receive, send)


def _json_problem(scope: Scope, body: bytes) -> str | None:
    """Why a JSON body cannot reach json.loads as FastAPI calls it: bytes that are no Unicode text, or
    nesting deep enough to exhaust the parser's recursion; None for any other body."""
    content_type = dict(scope.get("headers") or ()).get(b"content-type", b"").lower()
    if b"json" not in content_type:
        return None
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError:
        return "le corps JSON n'est ni en UTF-8, ni en UTF-16, ni en UTF-32"
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None  # too few brackets to nest that deep: the common case costs two counts
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):  # brackets inside strings do not nest
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return f"le corps JSON a plus de {MAX_JSON_DEPTH} niveaux d'imbrication" if deepest > MAX_JSON_DEPTH else None


class AdminGuard:
    """Refused admin tokens per client address, in a sliding window; thread-safe, bounded in memory."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed, self.window_s, self.clock = allowed, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again (0: now)."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) < self.allowed:
                return 0
            return max(1, math.ceil(recent[0] + self.window_s - self.clock()))

    def failed(self, client: str) -> None:
        with self._lock:
            if client not in self._failures and len(self._failures) >= MAX_TRACKED:
                now = self.clock()
                for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window_s]:
                    del self._failures[key]
                if len(self._failures) >= MAX_TRACKED:  # still full: forget the oldest address
                    del self._failures[next(iter(self._failures))]
            self._failures.setdefault(client, deque()).append(self.clock())
            self._recent(client)

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.get(client, deque())
        horizon = self.clock() - self.window_s
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            self._failures.pop(client, None)
        return recent


class AdminRateLimitMiddleware:
    """429 on /admin/* for an address with too many refused tokens; counts the 401 and 403 answers."""

    def __init__(self, app: ASGIApp, guard: AdminGuard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.guard.retry_after(client)
        if wait:
            response = error_response(429, "too_many_requests",
                                      "Trop de jetons refusés : réessayez plus tard.",
                                      {"retry_after_s": wait}, headers={"Retry-After": str(wait)})
            await response(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                self.guard.failed(client)
            await send(message)

        await self.app(scope, receive, counting)
