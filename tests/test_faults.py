"""Faults during a reindex and a damaged index at start-up.

A build is killed at each stage (in-process exceptions for after parsing, mid-embedding, mid-write and just
before the swap; a real SIGKILL of `semsearch reindex` mid-embedding): the previous index keeps loading and
answering, the running service keeps serving it and says why in /ready, no half build is ever `current`,
leftovers are cleaned, and the next build succeeds. A damaged index at start-up stops the service with one
clear message and a non-zero exit (it does not fall back to an older build: see docs/OPERATIONS.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from processes import wait_until

from api import create_app
from api.service import IndexUnusableError
from semsearch import builds, derive, engine, jobs
from semsearch import index as ix
from semsearch.config import Settings
from semsearch.corpus import read_jsonl
from semsearch.encoders import Encoder
from semsearch.errors import IndexDamagedError
from semsearch.nlp import FrenchNLP

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "jeton-de-test-pannes"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Killed(Exception):
    """Stands for the process dying at that point."""


def _live_build(index_dir: Path) -> str:
    return Path(os.readlink(index_dir / "current")).name


def _answers(index_dir: Path, encoder: Encoder, nlp: FrenchNLP, build: str) -> None:
    """The index on disk loads, is the expected build and answers a search."""
    searcher = engine.open_searcher(Settings.from_env({}, index_dir=index_dir), encoder)
    try:
        assert searcher.index.manifest.build_id == build
        some = searcher.listing(limit=1).actions[0]
        assert searcher.search(some.title, limit=3).hits[0].action.id == some.id
    finally:
        searcher.index.close()


def _tmp_dirs(index_dir: Path) -> list[Path]:
    return sorted((index_dir / "builds").glob(".tmp-*"))


def _on_call(n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, except that its n-th call dies."""
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise Killed(f"killed at call {n} of {real.__name__}")
        return real(*args, **kwargs)

    return wrapper


STAGES = {
    # after the export is parsed, before any analysis is written
    "after parsing": lambda mp, enc: mp.setattr(ix, "cached_analyses", _on_call(1, ix.cached_analyses)),
    # the second batch of passages (the first one is already in the cache)
    "mid-embedding": lambda mp, enc: mp.setattr(enc, "encode_passages", _on_call(2, enc.encode_passages)),
    # store and chunk vectors written, the fiche vectors not
    "mid-write": lambda mp, enc: mp.setattr(ix.dense, "write_fiches", _on_call(1, ix.dense.write_fiches)),
    # the build directory is complete and renamed, `current` not yet moved
    "before the swap": lambda mp, enc: mp.setattr(ix, "point_current", _on_call(1, ix.point_current)),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_build_killed_at_each_stage_leaves_the_service_on_the_previous_index(
        stage: str, index_dir: Path, small: dict, encoder: Encoder, nlp: FrenchNLP,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _live_build(index_dir)
    settings = Settings.from_env({}, index_dir=index_dir, source=small["two"])
    monkeypatch.setattr(derive, "BATCH", 8)  # several embedding batches even for two actions
    with TestClient(create_app(settings, encoder=encoder)) as c:
        with monkeypatch.context() as mp:
            STAGES[stage](mp, encoder)
            with pytest.raises(Killed):
                engine.rebuild(settings, progress=False, encoder=encoder, nlp=nlp)
        r = c.get("/search", params={"q": "jeunes"})
        assert r.status_code == 200 and r.headers["X-Index-Version"] == before
        assert _live_build(index_dir) == before and _tmp_dirs(index_dir) == []
        _answers(index_dir, encoder, nlp, before)

        # The next build, without the fault, succeeds and is served.
        after = engine.rebuild(settings, progress=False, encoder=encoder, nlp=nlp).build_id
        wait_until(lambda: c.get("/ready").json()["index"]["build_id"] == after, 30)
        assert _tmp_dirs(index_dir) == [] and c.get("/facets").json()["total"] == 2


def test_an_admin_build_killed_in_its_child_process_leaves_the_service_serving(
        index_dir: Path, small: dict, encoder: Encoder) -> None:
    """The service builds in a child process: killing it (as the OOM killer would) costs the service nothing,
    /ready says the build stopped, and the next one goes through."""
    before = _live_build(index_dir)
    settings = Settings.from_env({}, index_dir=index_dir, source=small["eighteen"], admin_token=TOKEN)
    with TestClient(create_app(settings, encoder=encoder)) as c:
        assert c.post("/admin/reindex", headers=AUTH).status_code == 202
        wait_until(lambda: jobs.read_status(index_dir).pid is not None, 60)
        os.kill(jobs.read_status(index_dir).pid, signal.SIGKILL)
        wait_until(lambda: not c.get("/ready").json()["reindex"]["running"], 30)
        ready = c.get("/ready").json()
        assert "arrêtée sans finir" in ready["reindex"]["error"] and ready["index"]["build_id"] == before
        assert c.get("/search", params={"q": "jeunes"}).headers["X-Index-Version"] == before
        assert c.post("/admin/reindex", headers=AUTH).status_code == 202  # the lock went with the process
        wait_until(lambda: not c.get("/ready").json()["reindex"]["running"], 180)
        ready = c.get("/ready").json()
        assert ready["reindex"]["error"] is None and ready["reindex"]["build_id"] != before
        wait_until(lambda: c.get("/ready").json()["index"]["build_id"] == ready["reindex"]["build_id"], 30)
        assert c.get("/facets").json()["total"] == 18


def test_two_workers_share_one_build_and_one_status(index_dir: Path, small: dict, encoder: Encoder) -> None:
    """Two services on one index directory stand for two workers: a build asked of one is refused by the other
    while it runs, and both report the same status."""
    settings = Settings.from_env({}, index_dir=index_dir, source=small["two"], admin_token=TOKEN)
    with TestClient(create_app(settings, encoder=encoder)) as one, \
            TestClient(create_app(settings, encoder=encoder)) as two:
        assert one.post("/admin/reindex", headers=AUTH).status_code == 202
        refused = two.post("/admin/reindex", headers=AUTH)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "reindex_running"
        assert one.get("/ready").json()["reindex"] == two.get("/ready").json()["reindex"]
        wait_until(lambda: not two.get("/ready").json()["reindex"]["running"], 180)
        assert one.get("/ready").json()["reindex"] == two.get("/ready").json()["reindex"]
        built = one.get("/ready").json()["reindex"]["build_id"]
        for c in (one, two):
            wait_until(lambda c=c: c.get("/ready").json()["index"]["build_id"] == built, 30)


def test_sigkill_of_semsearch_reindex_mid_embedding(index_dir: Path, small: dict, encoder: Encoder,
                                                    nlp: FrenchNLP, tmp_path: Path) -> None:
    """A real process, really killed: the half build stays on disk as builds/.tmp-*, is never `current`,
    and the next build removes it and reuses the passages the killed one had already cached."""
    before = _live_build(index_dir)
    command = [sys.executable, "-m", "semsearch.cli", "reindex", "--out", str(index_dir),
               "--source", str(small["eighteen"]), "--quiet"]
    log = tmp_path / "reindex.log"
    with log.open("wb") as out:
        build = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The SQLite store is written and closed before the first passage is embedded: from then on, and
        # until chunk_vectors.npy appears, the process is embedding.
        deadline = time.monotonic() + 120
        while not any((t / "actions.sqlite").exists() for t in _tmp_dirs(index_dir)):
            assert build.poll() is None, log.read_text(encoding="utf-8", errors="replace")
            assert time.monotonic() < deadline, "the build never reached the embedding stage"
            time.sleep(0.05)
        cache = sqlite3.connect(f"file:{index_dir / ix.CACHE_FILE}?mode=ro", uri=True, timeout=30)
        try:
            known = _count(cache)
            while _count(cache) == known:  # until the first batch of new passages is committed
                assert build.poll() is None and time.monotonic() < deadline, "no batch was embedded"
                time.sleep(0.05)
        finally:
            cache.close()
        os.kill(build.pid, signal.SIGKILL)
        assert build.wait(timeout=30) == -signal.SIGKILL
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    leftovers = _tmp_dirs(index_dir)
    assert len(leftovers) == 1 and not (leftovers[0] / "chunk_vectors.npy").exists()  # killed mid-embedding
    assert _live_build(index_dir) == before
    _answers(index_dir, encoder, nlp, before)

    manifest = ix.build_index(read_jsonl(small["eighteen"]), index_dir, encoder, nlp, progress=False)
    assert _tmp_dirs(index_dir) == []  # the dead build's directory is gone
    assert manifest.passages_reused > 0  # what it had embedded was kept in the cache, transactionally
    _answers(index_dir, encoder, nlp, manifest.build_id)


def _count(cache: sqlite3.Connection) -> int:
    return cache.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def test_a_build_in_progress_is_not_taken_for_a_stale_one(index_dir: Path) -> None:
    live = index_dir / "builds" / ".tmp-20990101T000000000000Z-live"
    live.mkdir()
    (live / builds.OWNER_FILE).write_text(f"{os.uname().nodename} {os.getpid()}\n", encoding="utf-8")
    builds.remove_stale_builds(index_dir / "builds")
    assert live.exists()


# -- a damaged index at start-up ------------------------------------------------------------------------------
def _truncate_sqlite(build: Path) -> None:
    db = build / "actions.sqlite"
    db.write_bytes(db.read_bytes()[:4096])


DAMAGES = {
    "truncated actions.sqlite": _truncate_sqlite,
    "missing chunk_vectors.npy": lambda build: (build / "chunk_vectors.npy").unlink(),
    "garbage manifest.json": lambda build: (build / "manifest.json").write_bytes(b"\x00{not json"),
    "dangling current": lambda build: shutil.rmtree(build),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_index_at_start_up_refuses_to_start_with_a_clear_message(
        damage: str, index_dir: Path, encoder: Encoder) -> None:
    DAMAGES[damage]((index_dir / "current").resolve())
    with pytest.raises(IndexDamagedError):  # the CLI's own commands say so too (exit status 3)
        engine.open_searcher(Settings.from_env({}, index_dir=index_dir), encoder)
    app = create_app(Settings.from_env({}, index_dir=index_dir), encoder=encoder)
    with pytest.raises(IndexUnusableError, match="ne peut pas être chargé, le service ne démarre pas"), TestClient(app):
        pass


def test_semsearch_serve_on_a_damaged_index_exits_non_zero_naming_the_problem(index_dir: Path) -> None:
    (index_dir / "current").resolve().joinpath("manifest.json").write_text("{", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "semsearch.cli", "serve", "--port", "0", "--index",
                           str(index_dir)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert "le service ne démarre pas" in done.stderr and "manifest.json" in done.stderr


def test_a_build_that_cannot_start_is_a_503_and_said_in_ready(index_dir: Path, small: dict, encoder: Encoder,
                                                             nlp: FrenchNLP, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(11, "Resource temporarily unavailable")  # EAGAIN: fork refused, as at a process limit

    settings = Settings.from_env({}, index_dir=index_dir, source=small["two"], admin_token=TOKEN)
    with TestClient(create_app(settings, encoder=encoder)) as c:
        monkeypatch.setattr(subprocess, "Popen", no_process)
        r = c.post("/admin/reindex", headers=AUTH)
        assert r.status_code == 503 and r.json()["error"]["code"] == "reindex_unavailable"
        ready = c.get("/ready").json()["reindex"]
        assert ready["running"] is False and "n'a pas pu démarrer" in ready["error"]
        time.sleep(1.1)
        assert c.get("/ready").json()["reindex"] == ready  # the same answer every time, from every worker
