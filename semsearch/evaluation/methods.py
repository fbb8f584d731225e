"""What each method returns for each query: the engine's modes, and simple baselines over the same index.

Baselines, computed from the same passages, vectors and postings as the engine:
    bm25         BM25 over the whole fiche with the French analysis (folded Snowball stems, stop words), every
                 field weighted alike, the query's words as typed: no typo tolerance, no word families
    e5-fiche     cosine of the query with the vector of the whole fiche
    e5-passages  the best cosine of the query with one of the fiche's passages (the engine's passages, whose
                 vectors read the fiche's title first: a stronger baseline than bare passages)
    rrf          reciprocal rank fusion (k = 60) of bm25 and e5-passages
Baselines have no matching set: what they show is their PAGE best fiches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidQuery
from ..fusion import MODES
from ..lexical import LexicalIndex
from ..search import Searcher
from ..similar import SimilarWeights, page
from .judgments import Judged

BASELINES = ("bm25", "e5-fiche", "e5-passages", "rrf")
RRF_K = 60  # Cormack et al. (2009)


PAGE = 10  # what the evaluation scores: a first page of this many results, as /search returns it


@dataclass(frozen=True)
class Run:
    """One query's outcome. `shown`: what the user sees — for the engine, the results /search returns for a page
    of PAGE, then the weaker neighbours listed under them; for a baseline, its PAGE best fiches. The engine also
    has the size of its matching set (`total`, 0: "Aucune fiche"), the set, and its whole order (diagnostics)."""

    shown: list[str]
    total: int | None = None
    matched: list[str] | None = None
    ranked: list[str] | None = None


def engine_runs(searcher: Searcher, judged: Sequence[Judged], modes: Sequence[str] = MODES) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for mode in modes:
        runs = []
        for j in judged:
            try:
                results = searcher.search(j.query, limit=PAGE, mode=mode, facet_limit=1)
                shown, total = [h.action.id for h in results.hits + results.neighbours], results.total
            except InvalidQuery:  # refused (too long): the user sees no result
                shown, total = [], 0
            ranker = searcher.ranker
            whole = ranker.order(ranker.fuse(ranker.evidence(j.query, mode), mode))
            runs.append(Run(shown, total, whole.ids[:whole.matches], whole.ids))
        out[mode] = runs
    return out


def _order(searcher: Searcher, rowids: np.ndarray, scores: np.ndarray) -> list[str]:
    """Ids by descending score, ties by rowid (export order for a full build)."""
    order = np.lexsort((rowids, -scores))
    return [searcher.action_id(int(r)) for r in rowids[order]]


def baseline_scores(searcher: Searcher, plain: LexicalIndex, query: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(rowids, scores) of every action for each baseline; `plain`: BM25 over the whole fiche, columns unweighted."""
    index = searcher.index
    rowids = index.fiche_ids
    words = searcher.ranker.analyser.cut(query)
    found = plain.match([[w.term] for w in words])
    bm25 = np.zeros(len(rowids))
    bm25[np.searchsorted(rowids, found.ids)] = found.scores
    vector = searcher.encoder.encode_queries([query])[0]
    fiche = index.fiche_matrix @ vector
    passages = np.full(len(rowids), -1.0)
    if len(index.chunk_ids):
        owners = searcher.ranker.dense.chunk_action[index.chunk_ids]
        np.maximum.at(passages, np.searchsorted(rowids, owners), index.chunk_vectors(index.chunk_ids) @ vector)
    rrf = np.zeros(len(rowids))
    for scores in (bm25, passages):
        ranks = np.empty(len(rowids))
        ranks[np.lexsort((rowids, -scores))] = np.arange(1, len(rowids) + 1)
        rrf += 1.0 / (RRF_K + ranks)
    return {"bm25": (rowids, bm25), "e5-fiche": (rowids, fiche), "e5-passages": (rowids, passages),
            "rrf": (rowids, rrf)}


def baseline_runs(searcher: Searcher, plain: LexicalIndex, judged: Sequence[Judged]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {b: [] for b in BASELINES}
    for j in judged:
        for name, (rowids, scores) in baseline_scores(searcher, plain, j.query).items():
            out[name].append(Run(_order(searcher, rowids, scores)[:PAGE]))
    return out


def similar_runs(searcher: Searcher, judged: Sequence[Judged], k: int = 10) -> dict[str, list[list[str]]]:
    """The engine's similar actions, and the baseline: the plain cosine of the whole fiches' vectors, without
    the fiche itself and its copies, as the engine."""
    index = searcher.index
    engine, plain = [], []
    for j in judged:
        engine.append([h.action.id for h in searcher.similar(j.query, limit=k).hits])
        source = int(np.searchsorted(index.fiche_ids, searcher.rowid(j.query)))
        scores = index.fiche_matrix @ index.fiche_matrix[source]
        scores[np.searchsorted(index.fiche_ids, searcher.recommender.copies(searcher.rowid(j.query)))] = -np.inf
        plain.append(_order(searcher, index.fiche_ids, scores)[:k])
    return {"engine": engine, "e5-fiche": plain}


def similar_order(searcher: Searcher, action_id: str, weights: SimilarWeights) -> list[str]:
    """Every other action, most similar first, with these weights (the tuning tries many)."""
    recommender = searcher.recommender.with_weights(weights)
    ranked = page(recommender.candidates(searcher.rowid(action_id)).score, recommender.exists)
    return [searcher.action_id(int(r)) for r in ranked]
