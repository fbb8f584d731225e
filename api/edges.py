"""HEAD on every GET route, as HTTP wants it: the same status and headers as GET, no body.

Starlette answers HEAD only where a route lists it (the page does), so `HEAD /health` was a 405. Rather
than list HEAD on every JSON route (each would become an operation in /openapi.json), the request goes on
as a GET and the body is dropped here; Content-Length still gives the size a GET would get.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] in ("http.response.body", "http.response.pathsend"):
                if message.get("more_body", False):
                    return  # the rest of a streamed body: nothing goes out until the last message
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
