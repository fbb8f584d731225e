"""The live index the routes search, swapped without stopping the service.

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
The service knows nothing of HTTP: it raises the library's errors, and api/errors.py answers them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semsearch import engine, jobs
from semsearch.config import Settings
from semsearch.encoders import Encoder, load_encoder
from semsearch.errors import IndexNotLoaded, SemsearchError
from semsearch.search import Searcher

logger = logging.getLogger("semsearch.api")
CHECK_EVERY_S = 1.0


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
    load_error: str | None = None  # why the build on disk is not the live one, for /ready
    _live: _Live | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards _live and its leases
    _loading: threading.Lock = field(default_factory=threading.Lock)  # one index load at a time
    _failed_build: str | None = None  # a build that failed to load, not retried every second
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the encoder and the index (seconds); without an index, start unready and wait."""
        self.encoder = self.encoder or load_encoder(self.settings.encoder, self.settings.models_dir,
                                                    device=self.settings.device)
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
                        f"l'index de {index_dir} ne peut pas être chargé, le service ne démarre pas : {exc} ; ou faites "
                        f"pointer {index_dir / 'current'} vers une bonne construction de builds/"
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
        self._live = _Live(searcher, jobs.timestamp(), owned=False)
        self.encoder = self.encoder or searcher.encoder

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
                raise IndexNotLoaded(self.load_error)
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
            old, self._live = self._live, _Live(searcher, jobs.timestamp(), owned=True)
            self.load_error = None
            done = old is not None and old.users == 0
            if old:
                old.retired = True
        if old and done and old.owned:
            old.searcher.index.close()
        logger.info("index %s en service", searcher.index.manifest.build_id)

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
                searcher = engine.open_searcher(self.settings, self.encoder)
            except SemsearchError as exc:
                self._failed_build, self.load_error = linked, str(exc)
                kept = "le précédent reste en service" if self._live is not None else "rien à servir pour l'instant"
                logger.error("index %s non chargé, %s : %s", linked, kept, exc)
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
                logger.exception("erreur inattendue au chargement de l'index %s", linked)
                self._failed_build = linked

    # -- rebuilding ----------------------------------------------------------------------------------
    def start_reindex(self) -> str:
        """Start a build of the configured export in a child process; the watcher loads it once it is
        `current`. jobs.BuildRunning while one runs, BuildError when none can start (the lock, the status
        file or the process refused): api/errors.py answers them."""
        return jobs.start_build(self.settings).started_at or jobs.timestamp()


class IndexUnusableError(SemsearchError):
    """At start-up, the index directory holds a build that cannot be loaded."""
