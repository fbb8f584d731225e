"""Bounded load on loopback while a reindex swaps the index under it: zero failed requests, every answer
carries exactly one X-Index-Version, and its body is the content of that build and no other.

The server is tests/test_server.py's real uvicorn process over three actions; the rebuild reads an export
of two other actions, so the two builds' answers cannot be mistaken for each other.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import httpx
from processes import wait_until
from test_server import TOKEN, live_server  # noqa: F401  (the fixture, reused)

from semsearch.corpus import Corpus, write_jsonl

THREADS = 4
MAX_SECONDS = 240  # per thread: the bound, whatever happens to the rebuild (a count ran out before a slow swap)
QUERIES = ["jeunes", "atelier", "lien social", "familles", "précarité"]


def test_load_during_a_swap_never_fails_and_every_answer_is_from_one_build(
        live_server: dict, corpus: Corpus) -> None:  # noqa: F811
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
        wait_until(lambda: counts[before] >= 2 * THREADS, 60)  # load is on the old build
        assert client.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
        wait_until(lambda: not client.get("/ready").json()["reindex"]["running"], 120)
        after = client.get("/ready").json()["reindex"]["build_id"]  # loaded by the watcher within a second
        wait_until(lambda: counts[after] >= 2 * THREADS, 60)  # and then on the new one
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
