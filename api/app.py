"""The application factory: the routes over a `Service` (api/service.py, the live index), the error
handlers, the pages, and the middleware that stamps every answer with the build it searched.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semsearch.config import Settings
from semsearch.encoders import Encoder
from semsearch.search import Searcher

from . import docs, edges, errors, pages, routes, security
from .service import IndexUnusableError, Service

logger = logging.getLogger("semsearch.api")
VERSION_HEADER = "X-Index-Version"


class _EdgeMiddleware:
    """Stamps X-Index-Version on every response and turns any unexpected exception into a logged 500."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # The build the request searched (set by the lease), else the live one.
                version = scope.get("state", {}).get("index_version") or self.service.build_id or "none"
                MutableHeaders(scope=message)[VERSION_HEADER] = version
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except Exception:
            logger.exception("erreur non traitée sur %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = errors.error_response(500, "internal_error",
                                              "Erreur interne du service ; elle a été journalisée.")
            await response(scope, receive, stamped)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: Service = app.state.service
    try:
        await run_in_threadpool(service.start)  # seconds of model loading, off the event loop
    except IndexUnusableError as exc:
        logger.critical("%s", exc)  # one clear line; uvicorn then exits with status 3
        raise
    try:
        yield
    finally:
        await run_in_threadpool(service.stop)


def create_app(settings: Settings | None = None, *, searcher: Searcher | None = None,
               encoder: Encoder | None = None) -> FastAPI:
    """The service. Settings are read from the environment once, here, unless given; pass an already
    loaded searcher (or encoder) to skip loading it at startup."""
    settings = settings or Settings.from_env()
    service = Service(settings, encoder)
    if searcher is not None:
        service.adopt(searcher)
    app = FastAPI(
        title="semsearch",
        version="0.1.0",
        description=(
            "Recherche sémantique dans les fiches actions des centres sociaux : recherche en texte libre "
            "(mots et sens), actions similaires, fiches complètes et facettes. Essayez "
            "`GET /search?q=précarité alimentaire en rural`."
        ),
        lifespan=_lifespan,
        # /docs is served from the service's own files (api/docs.py); no ReDoc, which would need a CDN.
        docs_url=None, redoc_url=None,
        # No redirect from /path/ to /path: Starlette's would echo the Host header into Location; a 404 says
        # the route does not exist, in the error shape.
        redirect_slashes=False,
    )
    app.state.settings, app.state.service = settings, service
    errors.install(app)
    app.include_router(routes.router)
    pages.install(app)  # GET / and /fiche/{id}: the search page, calling the routes above
    docs.install(app)
    # Inside the edge middleware, so 413 and 429 carry X-Index-Version too (api/security.py).
    app.state.admin_guard = security.AdminGuard()
    app.add_middleware(security.BodyLimitMiddleware, max_bytes=security.MAX_BODY_BYTES)
    app.add_middleware(security.AdminRateLimitMiddleware, guard=app.state.admin_guard)
    app.add_middleware(_EdgeMiddleware, service=service)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=[VERSION_HEADER])
    app.add_middleware(errors.PlainErrorMiddleware)  # outside CORS: its refusals are in the error shape too
    # Searches and the page's files shrink to a quarter; inside HEAD so that HEAD gets GET's headers.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(edges.HeadMiddleware)  # outermost: every layer answers HEAD as GET, the body goes last
    return app
