"""In-process timings: searches, the encoder alone and "similar", as percentiles over distinct queries."""

from __future__ import annotations

import statistics
import time

import numpy as np

from semsearch.search import Searcher

from . import QUERIES


class QueryStream:
    """Hands out the next distinct queries of a long list, so no measurement repeats a query it already sent."""

    def __init__(self, queries: list[str]) -> None:
        self.queries, self.position = queries, 0

    def take(self, k: int) -> list[str]:
        out = [self.queries[(self.position + i) % len(self.queries)] for i in range(k)]
        self.position += k
        return out


# -- measurements -------------------------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1000
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "samples": len(a)}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def timed(call, items: list) -> dict[str, float]:
    times = []
    for item in items:
        t = time.perf_counter()
        call(item)
        times.append(time.perf_counter() - t)
    return percentiles(times)


def latency(searcher: Searcher, stream: QueryStream | None, per_run: int, runs: int, filters: dict | None,
            mode: str, cached: bool = False) -> dict[str, float]:
    """Percentiles of in-process searches; `stream` None means the 16 dev queries, repeated per_run // 16 times.

    cached: each run's distinct queries are searched once before being timed, so their vectors come from the
    query-vector cache: the search without the encoder, to set beside "encoder alone". `empty`: the share of the
    timed searches answered with an empty page ("Aucune fiche"), which costs less than a page of results.
    """
    totals: list[int] = []

    def search(q: str) -> None:
        totals.append(searcher.search(q, filters, limit=10, mode=mode).total)

    def run() -> dict[str, float]:
        queries = stream.take(per_run) if stream else QUERIES * max(1, per_run // len(QUERIES))
        if cached:
            timed(search, queries)
        return timed(search, queries)

    timed(search, stream.take(4) if stream else QUERIES[:4])  # warm-up, not counted
    totals.clear()
    return median_of([run() for _ in range(runs)]) | {"empty": float(np.mean(np.asarray(totals) == 0))}


def encoder_latency(searcher: Searcher, stream: QueryStream, per_run: int, runs: int) -> dict[str, float]:
    """The encoder alone on distinct queries as the search sends them (respelled): the floor under every search
    that is not in the query-vector cache."""
    def encode(q: str) -> None:
        searcher.encoder.encode_queries([q])

    return median_of([timed(encode, [searcher.analyser.meaning(q) for q in stream.take(per_run)])
                      for _ in range(runs)])


def similar_latency(searcher: Searcher, ids: list[str], runs: int) -> dict[str, float]:
    def similar(i: str) -> None:
        searcher.similar(i, limit=5)

    timed(similar, ids[:4])
    return median_of([timed(similar, ids) for _ in range(runs)])
