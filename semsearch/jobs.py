"""Index builds asked of a running service: one at a time per index directory, each in a child process, with
its status in a file that every worker reads.

A build loads its own encoder and spaCy and holds an export's passages and vectors while it runs (hundreds of
MB at 10 000 actions); in a child process that memory goes back to the system when the build ends, whatever
the allocator keeps, and a build that crashes or is killed cannot take the service down. The service's
watcher (api/service.py) loads the new build once `current` points to it, as after `semsearch reindex`.

One at a time: the child holds an flock on index_dir/reindex.lock until it exits (the kernel releases it
even on SIGKILL), so a second request, to any worker of any process, is refused while it runs.
Its status, index_dir/reindex.json, is written by the child and read by every worker: /ready says the same
whichever answers.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .config import Settings, to_env
from .cores import serving_env
from .errors import BuildError, SemsearchError

log = logging.getLogger(__name__)

STATUS_FILE = "reindex.json"
LOCK_FILE = "reindex.lock"
NICE = 10  # below the service's searches, which share the cores with it
LOCK_TRIES = 10


def timestamp() -> str:
    """Now, in UTC to the second: the times a build's status and the service report."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class BuildStatus:
    """The last build asked of the service (none yet: every field empty)."""

    running: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    build_id: str | None = None  # of the last build that succeeded
    error: str | None = None  # why the last build failed; None once one succeeds
    failed_at: str | None = None
    warnings: int = 0  # what the export parser fixed or skipped in the last build
    pid: int | None = None  # of the child while it runs (for an operator; liveness is the lock's)


class BuildRunning(SemsearchError):
    """A build is already running for this index directory."""

    def __init__(self, started_at: str | None) -> None:
        self.started_at = started_at
        super().__init__(f"une construction de l'index est déjà en cours (commencée à {started_at})")


def read_status(index_dir: Path) -> BuildStatus:
    """The status every worker reports; a build whose process is gone without saying so is reported failed,
    at the time of its last word."""
    path = index_dir / STATUS_FILE
    try:
        status = BuildStatus(**json.loads(path.read_text(encoding="utf-8")))
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except (OSError, ValueError, TypeError):
        return BuildStatus()
    if status.running and not _locked(index_dir):
        status.running, status.pid = False, None
        status.error, status.failed_at = "la reconstruction s'est arrêtée sans finir (processus tué ?)", written
    return status


def _write_status(index_dir: Path, status: BuildStatus) -> None:
    tmp = index_dir / f".{STATUS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(asdict(status), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, index_dir / STATUS_FILE)  # a reader sees the old status or the new one


def _locked(index_dir: Path) -> bool:
    """Whether a build holds the lock: from before its status says "running" until its process ends."""
    try:
        fd = os.open(index_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the shared lock taken just now, if it was
    return False


@contextmanager
def exclusive(index_dir: Path) -> Iterator[int]:
    """The build lock of an index directory, held for a block (its file descriptor, which a child process may
    inherit to hold it longer); BuildRunning when another build holds it. `semsearch reindex` takes it too."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        for _ in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.01)  # a worker's _locked() holds it shared for microseconds
        else:
            raise BuildRunning(read_status(index_dir).started_at)
        yield fd
    finally:
        os.close(fd)


def start_build(settings: Settings) -> BuildStatus:
    """Start a build of settings.source into settings.index_dir in a child process; BuildRunning while one runs,
    BuildError when it cannot start. Returns the status the child starts from."""
    index_dir = settings.index_dir
    try:
        with exclusive(index_dir) as lock:
            previous = read_status(index_dir)
            status = BuildStatus(running=True, started_at=timestamp(), build_id=previous.build_id, error=previous.error,
                                 failed_at=previous.failed_at)
            _write_status(index_dir, status)
            try:
                child = subprocess.Popen(
                    [sys.executable, "-m", "semsearch.jobs", str(lock)], env=serving_env({**os.environ, **to_env(settings)}),
                    pass_fds=(lock,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True)
            except OSError as exc:
                status.running, status.failed_at = False, timestamp()
                status.error = f"la reconstruction n'a pas pu démarrer : {exc}"
                _write_status(index_dir, status)
                raise
    except OSError as exc:
        raise BuildError(f"impossible de lancer une construction de l'index dans {index_dir} : {exc}") from exc
    # The child holds the lock now (its inherited descriptor), until it exits.
    threading.Thread(target=_reap, args=(child,), name="semsearch-build-reaper", daemon=True).start()
    status.pid = child.pid
    return status


def _reap(child: subprocess.Popen) -> None:
    """Wait for the child (no zombie) and pass on its log lines ("LEVEL message") to the service's log."""
    _, err = child.communicate()
    for line in err.splitlines():
        level, _, message = line.partition(" ")
        named = logging.getLevelName(level)
        if isinstance(named, int):
            log.log(named, "construction : %s", message)
        else:  # a traceback's lines
            log.warning("construction : %s", line)


def _run(lock: int) -> int:
    """The child: build, record how it went, then release the lock it inherited (descriptor `lock`) at once:
    the interpreter takes a while to exit, and the next build may be asked as soon as the status says done."""
    from .corpus import load_actions
    from .encoders import load_encoder
    from .index import build_index
    from .nlp import FrenchNLP

    os.nice(NICE)
    settings = Settings.from_env()
    index_dir = settings.index_dir
    status = read_status(index_dir)
    status.running, status.pid, status.warnings = True, os.getpid(), 0
    _write_status(index_dir, status)
    try:
        corpus = load_actions(settings.source)
        status.warnings = len(corpus.warnings)
        for warning in corpus.warnings:
            log.warning("export : %s", warning)
        # Every core, at a lower priority (NICE) than the searches of the service that asked for this build.
        encoder = load_encoder(settings.encoder, settings.models_dir, passage_threads=None, device=settings.device)
        manifest = build_index(corpus, index_dir, encoder, FrenchNLP(settings.spacy_model), progress=False)
    except SemsearchError as exc:  # the export, the disk: the message says what to do
        log.error("la construction de l'index a échoué, l'index en service est inchangé : %s", exc)
        status.error, status.failed_at, code = str(exc), timestamp(), 2
    except Exception as exc:  # a bug: its traceback in the service's log
        log.exception("la construction de l'index a échoué, l'index en service est inchangé")
        status.error, status.failed_at, code = repr(exc), timestamp(), 1
    else:
        status.build_id, status.error, status.failed_at, code = manifest.build_id, None, None, 0
    status.running, status.pid, status.finished_at = False, None, timestamp()
    _write_status(index_dir, status)
    os.close(lock)
    return code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    sys.exit(_run(int(sys.argv[1])))
