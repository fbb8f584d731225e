"""The dense side of a search: each action's best passage and its whole fiche, against the query's background.

Cosines of e5 vectors between unrelated French texts sit around 0.80-0.87 and move with the query, so a raw
cosine says little on its own. Each is read instead in standard deviations above the query's own background:
the mean and spread of its cosines with every passage (or with a fixed sample of them when an IVF index holds
them), and with every fiche for the fiche vectors. "Stands out from the background" then means the same for a
short query and a long one, which is what the matching threshold needs (fusion.py).

The more fiches, the further the best of them stands out by chance alone: the largest of n unrelated scores
lies about sqrt(2 ln n) standard deviations above their mean (`chance`, n: the passages, or the fiches). The
fusion subtracts it from fiches found by meaning alone (fusion.py), so a threshold chosen on 64 fiches keeps
its meaning at 10 000, where a bare z-score would let a query nothing answers match dozens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cores import CoreShare, faiss_threads
from .loading import Index
from .vectors import inner_products

# Passages the IVF index returns; an action with none among them scores at most the last one's cosine.
ANN_CANDIDATES = 512
# Passages whose cosines stand for the background when an IVF index holds them: the mean and spread of 2 048
# cosines are within ~2 % of every passage's, for a fifth of a millisecond.
BACKGROUND_SAMPLE = 2048
_SEED = 1234


@dataclass(frozen=True)
class SemanticMatches:
    """Per action rowid (arrays of the index's rowid range): how far its best passage and its whole fiche stand
    above the query's background, and which passage that is (0: none among the candidates); and how far the
    best of the passages, or of the fiches, would stand by chance."""

    passage_z: np.ndarray
    fiche_z: np.ndarray
    cosines: np.ndarray  # the best passage's cosine, for explanations
    chunks: np.ndarray
    passage_chance: float = 0.0
    fiche_chance: float = 0.0

    @classmethod
    def empty(cls, size: int) -> SemanticMatches:
        """No dense evidence (lexical mode)."""
        return cls(np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size, dtype=np.int64))


def _standardise(scores: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Scores in standard deviations above the background."""
    spread = float(background.std())
    return (scores - float(background.mean())) / (spread if spread > 1e-9 else 1.0)


def chance(population: int) -> float:
    """How many standard deviations the best of `population` unrelated scores reaches: sqrt(2 ln n)."""
    return float(np.sqrt(2 * np.log(max(population, 2))))


class DenseSearch:
    """Cosines of a query vector with the passages (exact below vectors.ANN_ABOVE, IVF above) and the fiches."""

    def __init__(self, index: Index, chunk_action: np.ndarray, size: int, cores: CoreShare) -> None:
        self.index, self.cores, self.size = index, cores, size
        self.chunk_action = chunk_action  # chunk rowid -> action rowid
        self._sample: np.ndarray | None = None
        if index.chunk_ann is not None:
            ids = np.random.default_rng(_SEED).choice(index.chunk_ids, min(BACKGROUND_SAMPLE, len(index.chunk_ids)),
                                                      replace=False)
            self._sample = index.chunk_vectors(np.sort(ids))
        # Fiches are compared with each other (feedback, similar actions) centred on the corpus mean: what every
        # fiche shares ("centre social", "habitants") no longer makes them alike. Kept as the mean and each
        # centred vector's norm rather than a second matrix: (r - m).t / |r - m| = (r.t - m.t) / |r - m|.
        matrix = index.fiche_matrix
        self._mean = matrix.mean(axis=0) if len(matrix) else np.zeros(index.manifest.dimension, dtype=np.float32)
        self._norms = np.maximum(np.linalg.norm(matrix - self._mean, axis=1), 1e-9) if len(matrix) else np.zeros(0)
        self._row = np.full(size, -1, dtype=np.int64)  # action rowid -> row of fiche_matrix
        self._row[index.fiche_ids] = np.arange(len(index.fiche_ids))

    def match(self, vector: np.ndarray) -> SemanticMatches:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        passage_z = np.zeros(self.size)
        cosines = np.zeros(self.size)
        chunks = np.zeros(self.size, dtype=np.int64)
        index = self.index
        # The fiche products before the IVF scan: after it, FAISS's OpenMP threads spin a while
        # (semsearch/cores.py) and took the core these products ran on (0.75 ms at 10 000 actions, 0.3 alone).
        fiche_z = np.zeros(self.size)
        if len(index.fiche_ids):
            fiche = inner_products(index.fiche_matrix, query)
            fiche_z[index.fiche_ids] = _standardise(fiche.astype(np.float64), fiche)
        if len(index.chunk_ids):
            if index.chunk_ann is None:  # exact: one matrix-vector product gives every cosine
                scores = inner_products(index.chunk_matrix, query)
                ids, background, floor = index.chunk_ids, scores, -np.inf
            else:
                background = inner_products(self._sample, query)
                with faiss_threads(self.cores):
                    found, found_ids = index.chunk_ann.search(query.reshape(1, -1),
                                                              min(ANN_CANDIDATES, len(index.chunk_ids)))
                keep = found_ids[0] >= 0
                scores, ids = found[0][keep], found_ids[0][keep]
                # A full list is cut at its last score: which passages tied with it came back depends on how the
                # scan's threads met, so none of them does.
                floor = float(scores[-1]) if keep.all() else -np.inf
                if keep.all():
                    scores, ids = scores[scores > floor], ids[scores > floor]
            actions = self.chunk_action[ids]
            order = np.lexsort((ids, -scores))  # best score first, then the lowest chunk rowid
            _, first = np.unique(actions[order], return_index=True)
            picked = order[first]
            standard = _standardise(scores.astype(np.float64), background.astype(np.float64))
            # Every action has passages (its title at least); with IVF those outside the candidates score the floor.
            passage_z[index.fiche_ids] = _standardise(np.asarray([floor]), background)[0] \
                if floor > -np.inf else (float(standard.min()) if len(standard) else 0.0)
            passage_z[actions[picked]] = standard[picked]
            cosines[actions[picked]] = scores[picked]
            chunks[actions[picked]] = ids[picked]
        return SemanticMatches(passage_z, fiche_z, cosines, chunks, chance(len(index.chunk_ids)),
                               chance(len(index.fiche_ids)))

    def like(self, rowids: np.ndarray) -> np.ndarray:
        """Cosine of every action's centred fiche vector with the mean of some actions' (0 for unused rowids)."""
        rows = self._row[np.asarray(rowids, dtype=np.int64)]
        matrix = self.index.fiche_matrix
        target = ((matrix[rows] - self._mean) / self._norms[rows, None]).mean(axis=0)
        norm = float(np.linalg.norm(target))
        out = np.zeros(self.size)
        if norm > 1e-9:
            centred = inner_products(matrix, target) - float(self._mean @ target)
            out[self.index.fiche_ids] = centred / (self._norms * norm)
        return out
