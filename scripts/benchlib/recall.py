"""Recall of the approximate chunk index against an exact search over the same vectors."""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np

from semsearch import vectors as dense
from semsearch.semantic import ANN_CANDIDATES


def approximate_index(build: Path) -> tuple[np.ndarray, np.ndarray, faiss.Index, str]:
    """(chunk vectors, chunk ids, the approximate index the service would search, where it comes from): the
    build's own when it has one, else one built here as the library would above vectors.ANN_ABOVE."""
    vectors, ids, ann = dense.read_chunks(build, for_search=False)
    if ann is not None:
        return vectors, ids, ann, "the build's own"
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors, ids, dense.ann_index(data, ids, data.shape[1]), "vectors.ann_index"


def describe(index: faiss.Index) -> str:
    try:
        ivf = faiss.extract_index_ivf(index)
        return f"{type(faiss.downcast_index(ivf)).__name__} nlist {ivf.nlist} nprobe {ivf.nprobe}"
    except RuntimeError:
        return type(faiss.downcast_index(index)).__name__


def recall_at_10(build: Path, queries: np.ndarray) -> dict:
    """Approximate top-10 chunk ids against exact inner product over the same vectors.

    strict: |found ∩ exact top-10| / 10. tolerant (as ann-benchmarks): a found id counts when its exact inner
    product is at least the 10th exact score - 1e-3, since near-duplicate passages make exact ties common.
    candidates: the Jaccard index of the passages the search reads (the ANN_CANDIDATES best, above the last of a
    full list) through the approximate index against the same selection from an exact search: every fiche's
    passage evidence comes from them, where recall@10 only sees the top of the page.
    """
    t = time.perf_counter()
    vectors, ids, ann, source = approximate_index(build)
    build_s = time.perf_counter() - t
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    scores, truth = exact.search(queries, 10)
    _, found = ann.search(queries, 10)
    order = np.argsort(ids, kind="stable")
    strict, tolerant = [], []
    for q, s, true_rows, got in zip(queries, scores, truth, found):
        got = got[got >= 0]
        strict.append(len(set(ids[true_rows]) & set(got)) / 10)
        rows = np.sort(order[np.searchsorted(ids[order], got)])
        tolerant.append(int(np.sum(np.asarray(vectors[rows]) @ q >= s[-1] - 1e-3)) / 10)
    candidates = [len(a & b) / max(1, len(a | b)) for a, b in zip(_candidate_sets(exact, queries, ids),
                                                                _candidate_sets(ann, queries, None))]
    return {"strict": float(np.mean(strict)), "tolerant": float(np.mean(tolerant)), "queries": len(queries),
            "candidates_jaccard": float(np.mean(candidates)),
            "index": describe(ann), "source": source, "ann_build_s": build_s}


def _candidate_sets(index: faiss.Index, queries: np.ndarray, ids: np.ndarray | None) -> list[set[int]]:
    """The passages each query reads, selected as semantic.DenseSearch selects them from an approximate index:
    the ANN_CANDIDATES best, above the last of a full list (ids: maps an exact index's rows to chunk ids; None:
    the index returns chunk ids)."""
    found, rows = index.search(queries, min(ANN_CANDIDATES, index.ntotal))
    out = []
    for d, r in zip(found, rows):
        keep = r >= 0
        if r[-1] >= 0:
            keep &= d > d[-1]
        out.append(set((ids[r[keep]] if ids is not None else r[keep]).tolist()))
    return out

