"""The application factory and the live index the routes search, swapped without stopping the service.

`Service` holds the loaded Searcher. Each request leases the Searcher that is live when it starts and
keeps it to the end, so a swap never changes an index under a request; a replaced Searcher is closed
once its last request has finished. A new index becomes live in two ways:
  - POST /admin/reindex starts a build in a child process (semsearch/jobs.py: its memory goes back to the
    system when it ends, one build at a time across workers, its status in a file every worker reports);
  - a watcher thread reads the `index_dir/current` symlink once a second (os.readlink: one system call,
    no file opened) and loads the build it points to when its name differs from the live build id, which
    picks up `semsearch reindex` run beside the server and, with several workers, the other workers'
    rebuilds. An index directory that holds one build directly, without `current`, is never reloaded.
A build or load that fails leaves the previous Searcher serving, and /ready reports the failure.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semsearch import engine, jobs
from semsearch.config import Settings
from semsearch.encoders import Encoder, load_encoder
from semsearch.errors import BuildError, SemsearchError
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher

from . import docs, edges, errors, pages, routes, security
from .errors import ApiError

logger = logging.getLogger("semsearch.api")
VERSION_HEADER = "X-Index-Version"
CHECK_EVERY_S = 1.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class _Live:
    searcher: Searcher
    loaded_at: str
    owned: bool  # opened by the service, so closed by it; an injected Searcher belongs to its caller
    users: int = 0
    retired: bool = False


@dataclass
class Service:
    settings: Settings
    encoder: Encoder | None = None
    nlp: FrenchNLP | None = None
    load_error: str | None = None  # why the build on disk is not the live one, for /ready
    _live: _Live | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards _live and its leases
    _loading: threading.Lock = field(default_factory=threading.Lock)  # one index load at a time
    _failed_build: str | None = None  # a build that failed to load, not retried every second
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the encoder, spaCy and the index (seconds); without an index, start unready and wait."""
        self.encoder = self.encoder or load_encoder(self.settings.encoder, self.settings.models_dir)
        self.nlp = self.nlp or FrenchNLP(self.settings.spacy_model)
        if self._live is None:
            # No index at all: start unready (/ready 503 with the reason) until the watcher finds a build.
            # An index that is there but cannot be loaded (damaged files, dangling `current`): refuse to
            # start, so the process exits non-zero with the reason instead of serving 503s (OPERATIONS.md).
            try:
                self.reload()
            except SemsearchError as exc:
                index_dir = self.settings.index_dir
                if self._linked_build() is not None or (index_dir / "manifest.json").exists():
                    raise IndexUnusableError(
                        f"the index in {index_dir} cannot be loaded, refusing to start: {exc}; or point "
                        f"{index_dir / 'current'} at a good build in builds/"
                    ) from exc
        self._spawn(self._watch, "semsearch-index-watcher")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            live, self._live = self._live, None
        if live and live.owned:
            live.searcher.index.close()

    def adopt(self, searcher: Searcher) -> None:
        """Serve a Searcher loaded by the caller (tests, embedding); the service will not close it."""
        self._live = _Live(searcher, _now(), owned=False)
        self.encoder, self.nlp = self.encoder or searcher.encoder, self.nlp or searcher.nlp

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # -- serving ------------------------------------------------------------------------------------
    @property
    def build_id(self) -> str | None:
        live = self._live
        return live.searcher.index.manifest.build_id if live else None

    @property
    def loaded_at(self) -> str | None:
        live = self._live
        return live.loaded_at if live else None

    def reindex_status(self) -> dict[str, Any]:
        """The last build asked of any worker of this index directory (semsearch/jobs.py)."""
        status = vars(jobs.read_status(self.settings.index_dir))
        return {k: v for k, v in status.items() if k != "pid"}

    @contextmanager
    def lease(self) -> Iterator[Searcher]:
        """The live Searcher, kept open until the block ends even if another one is swapped in meanwhile."""
        with self._lock:
            live = self._live
            if live is None:
                raise ApiError(503, "not_ready", "L'index de recherche n'est pas encore chargé.",
                               {"reason": errors.public_paths(self.load_error, self.settings.index_dir)})
            live.users += 1
        try:
            yield live.searcher
        finally:
            with self._lock:
                live.users -= 1
                done = live.retired and live.users == 0
            if done and live.owned:
                live.searcher.index.close()

    def _swap(self, searcher: Searcher) -> None:
        with self._lock:
            old, self._live = self._live, _Live(searcher, _now(), owned=True)
            self.load_error = None
            done = old is not None and old.users == 0
            if old:
                old.retired = True
        if old and done and old.owned:
            old.searcher.index.close()
        logger.info("index %s live", searcher.index.manifest.build_id)

    # -- reloading ----------------------------------------------------------------------------------
    def _linked_build(self) -> str | None:
        """Name of the build `current` points to (= its build id), or None without a symlink."""
        try:
            return Path(os.readlink(self.settings.index_dir / "current")).name
        except OSError:
            return None

    def reload(self) -> None:
        """Load the build on disk unless it is already live; a failure keeps the live Searcher."""
        with self._loading:
            linked = self._linked_build()
            if self._live is not None and linked in (None, self.build_id):
                return
            try:
                searcher = engine.open_searcher(self.settings, self.encoder, self.nlp)
            except SemsearchError as exc:
                self._failed_build, self.load_error = linked, str(exc)
                kept = "the previous one keeps serving" if self._live is not None else "nothing to serve yet"
                logger.error("index %s not loaded, %s: %s", linked, kept, exc)
                raise
            self._swap(searcher)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            linked = self._linked_build()
            if linked is None or linked == self.build_id or linked == self._failed_build:
                continue
            try:
                self.reload()
            except SemsearchError:
                pass  # logged and reported by reload; retried when `current` points elsewhere
            except Exception:  # never let the watcher die: later builds must still be picked up
                logger.exception("unexpected error while loading index %s", linked)
                self._failed_build = linked

    # -- rebuilding ----------------------------------------------------------------------------------
    def start_reindex(self) -> str:
        """Start a build of the configured export in a child process; the watcher loads it once it is `current`."""
        try:
            return jobs.start_build(self.settings).started_at or _now()
        except jobs.BuildRunning as exc:
            raise ApiError(409, "reindex_running", "Une reconstruction de l'index est déjà en cours.",
                           {"started_at": exc.started_at}) from exc
        except BuildError as exc:  # the index directory refuses the lock or the status, or no process starts
            logger.error("%s", exc)
            raise ApiError(503, "reindex_unavailable", "La reconstruction de l'index n'a pas pu démarrer ; "
                           "la cause est dans le journal du service.") from exc


class IndexUnusableError(SemsearchError):
    """At start-up, the index directory holds a build that cannot be loaded."""


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
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
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
               encoder: Encoder | None = None, nlp: FrenchNLP | None = None) -> FastAPI:
    """The service. Settings are read from the environment once, here, unless given; pass an already
    loaded searcher (or encoder and nlp) to skip loading them at startup."""
    settings = settings or Settings.from_env()
    service = Service(settings, encoder, nlp)
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
    app.add_middleware(edges.HeadMiddleware)  # outermost: every layer answers HEAD as GET, the body goes last
    return app
