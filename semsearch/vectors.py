"""The dense side of an index: chunk vectors, the approximate index over them, and the fiche vectors.

Chunk vectors are always kept whole in `chunk_vectors.npy` (memory-mapped at load): the exact search scans
them, passages and "similar" read single rows, and a reindex copies the unchanged rows instead of
re-reading the cache. Above ANN_ABOVE chunks an exact scan costs too much per query (123 000 chunks at
10 000 actions are 190 MB to read, ~20 ms), so `chunks.faiss` then holds an inverted-file index (IVF):
IVF rather than HNSW because FAISS can remove ids from it, so a reindex patches it instead of rebuilding
a graph (minutes at 10 000 actions), and because its k-means cells keep near-duplicate passages together.
Its vectors are stored in float16 (a scalar quantizer): half the memory of a serving process's largest part
(154 -> 77 MB at 10 000 actions), for cosines off by ~1e-4, far below what separates two passages' scores.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from .cores import split_scans

VECTORS_FILE, IDS_FILE, ANN_FILE = "chunk_vectors.npy", "chunk_ids.npy", "chunks.faiss"
FICHE_VECTORS_FILE, FICHE_IDS_FILE = "fiche_vectors.npy", "fiche_ids.npy"
# Exact search up to here: ~46 MB scanned, ~5 ms on one core (docs/BENCHMARKS.md). About 2 500 actions.
ANN_ABOVE = 30_000
# IVF shape, measured in docs/BENCHMARKS.md: 4 sqrt(n) cells (finer cells scan fewer vectors for the same
# recall: at 200 000 chunks, 1 800 cells probed 56 at a time beat 450 probed 56 at a time, 1.3 ms vs 5.4 ms,
# at recall@10 0.99), k-means on TRAIN_PER_CELL sampled vectors per cell, and a query probes one cell in
# PROBE_FRACTION but at least MIN_PROBES: a query's neighbours spread over a number of cells that grows more
# slowly than the cells. At 10 000 actions (1 803 cells) 75 probes gave tie-tolerant recall@10 0.979 and 0.985
# on 300 queries over two synthetic corpora, 100 probes 0.990 and 0.991 (0.6 -> 0.8 ms a query on one core).
# Above HNSW_QUANTIZER_CELLS the cells are found through a small HNSW graph, so assigning
# a million vectors to thousands of cells does not compare each with every centroid.
CELLS_PER_SQRT = 4
TRAIN_PER_CELL = 32
KMEANS_ITERATIONS = 10
PROBE_FRACTION = 24
MIN_PROBES = 100
HNSW_QUANTIZER_CELLS = 1024


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def inner_products(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """`matrix @ vector` for float32 rows, through FAISS's SIMD loop: OpenBLAS's one-thread matrix-vector
    product reads a matrix of 10 000 fiche vectors at half the speed once a search has filled the caches with
    other things (1.1 against 0.52 ms, docs/BENCHMARKS.md); the same sums to ~1e-7."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    vector = np.ascontiguousarray(vector, dtype=np.float32)
    if matrix.ndim != 2 or vector.shape != matrix.shape[1:]:  # FAISS reads what it is told, checks nothing
        raise ValueError(f"produit impossible : vecteurs de forme {matrix.shape}, requête de forme "
                         f"{vector.shape}")
    out = np.empty(len(matrix), dtype=np.float32)
    if len(matrix):
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(vector), faiss.swig_ptr(matrix),
                                     len(vector), len(matrix))
    return out


def ann_index(vectors: np.ndarray, ids: np.ndarray, dimension: int) -> faiss.IndexIVF:
    """An IVF index over `vectors` with FAISS ids `ids`, trained here (spherical k-means, fixed seed)."""
    cells = max(1, min(int(CELLS_PER_SQRT * math.sqrt(len(ids))), len(ids) // TRAIN_PER_CELL or 1))
    if cells >= HNSW_QUANTIZER_CELLS:
        quantizer: faiss.Index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
    else:
        quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, cells, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT, False)  # the vectors, not residuals
    index.cp.niter, index.cp.spherical, index.cp.seed = KMEANS_ITERATIONS, True, 1234
    index.cp.max_points_per_centroid = TRAIN_PER_CELL
    clustering = faiss.IndexFlatIP(dimension)  # k-means itself compares exactly; only assignment uses HNSW
    index.clustering_index = clustering
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    index.train(data)
    index.add_with_ids(data, ids.astype(np.int64))
    set_probes(index)
    return index


def set_probes(index: faiss.IndexIVF) -> None:
    """How many cells a query probes: set at build time and again at load, so that an index built (or patched)
    under an older setting searches with the current one."""
    index.nprobe = min(index.nlist, max(MIN_PROBES, index.nlist // PROBE_FRACTION))
    quantizer = faiss.downcast_index(index.quantizer)
    if isinstance(quantizer, faiss.IndexHNSWFlat):
        quantizer.hnsw.efSearch = 2 * index.nprobe  # the graph must find the nprobe nearest cells, not ~16


def patch_ann(index: faiss.IndexIVF, removed: np.ndarray, vectors: np.ndarray, ids: np.ndarray) -> None:
    """Remove chunk ids and add new ones in place, keeping the trained cells (no k-means again)."""
    if len(removed):
        index.remove_ids(faiss.IDSelectorBatch(removed.astype(np.int64)))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))


def write_chunks(directory: Path, vectors: np.ndarray, ids: np.ndarray, ann: faiss.Index | None) -> None:
    np.save(directory / VECTORS_FILE, np.ascontiguousarray(vectors, dtype=np.float32))
    np.save(directory / IDS_FILE, ids.astype(np.int64))
    if ann is not None:
        faiss.write_index(ann, str(directory / ANN_FILE))


def read_chunks(directory: Path, *, for_search: bool = True) -> tuple[np.ndarray | None, np.ndarray, faiss.Index | None]:
    """(vectors, ids, the IVF index or None when the build searches exactly).

    For search, the vectors are read into memory only when they are searched exactly; an IVF index already
    holds them (read back by id through a hash-table direct map), and a memory-mapped copy beside it would
    add its pages to the service's resident memory as passages are read. A reindex maps them instead.
    """
    ids = np.load(directory / IDS_FILE)
    ann = faiss.read_index(str(directory / ANN_FILE)) if (directory / ANN_FILE).exists() else None
    if not for_search:
        return np.load(directory / VECTORS_FILE, mmap_mode="r"), ids, ann
    if ann is None:
        return np.load(directory / VECTORS_FILE), ids, None
    ann.set_direct_map_type(faiss.DirectMap.Hashtable)
    ivf = faiss.extract_index_ivf(ann)
    set_probes(ivf)
    split_scans(ivf)
    return None, ids, ann


def write_fiches(directory: Path, action_ids: np.ndarray, vectors: np.ndarray) -> None:
    """One vector per action, of its whole text (chunking.whole_text), rows in action rowid order."""
    order = np.argsort(action_ids, kind="stable")
    np.save(directory / FICHE_IDS_FILE, action_ids[order].astype(np.int64))
    np.save(directory / FICHE_VECTORS_FILE, np.ascontiguousarray(vectors[order], dtype=np.float32))


def read_fiches(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """(action rowids ascending, their fiche vectors)."""
    return np.load(directory / FICHE_IDS_FILE), np.load(directory / FICHE_VECTORS_FILE)
