"""Projects comparable to one fiche: what the federation shows under each fiche (GET /similar/<id>).

    similarity = fiche x z(cosine of the centred fiche vectors)
               + words x z(more-like-this BM25 over the source's distinctive terms)
               + keywords x Jaccard of the keywords + public x [same public] + dimension x [same dimension]

The dense side compares whole fiches with the corpus mean removed (semantic.DenseSearch.like); the lexical
side is Elasticsearch's more_like_this: the source's MLT_TERMS terms of highest tf x idf, searched as a
query with BM25; the structured side counts what an editor looks at first. z are taken over the candidates.
The weights are chosen by cross-validation on the editors' lists (docs/QUALITY.md).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .filters import FacetTable
from .lexical import LexicalIndex
from .passages import Passage
from .records import Action
from .results import Explanation, Hit
from .words import fold

MLT_TERMS = 25  # Elasticsearch's more_like_this max_query_terms
REASON_WORDS = 4  # shared distinctive words named in a recommendation's reasons
EXCERPT = 90  # characters of the closest passage quoted in the reasons


@dataclass(frozen=True)
class SimilarWeights:
    """Chosen by cross-validation on the editors' lists (docs/QUALITY.md): same public or dimension did not help
    there (both stay among the reasons shown)."""

    fiche: float = 1.0
    words: float = 0.25
    keywords: float = 0.5
    public: float = 0.0
    dimension: float = 0.0


def _standard(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    spread = float(values[among].std()) if among.any() else 0.0
    return (values - (float(values[among].mean()) if among.any() else 0.0)) / (spread if spread > 1e-9 else 1.0)


@dataclass(frozen=True)
class Candidates:
    """Every other action's similarity to the source, and the parts the reasons are made of."""

    score: np.ndarray  # per rowid; -inf for the source, its copies and unused rowids
    terms: list[str]  # the source's distinctive terms, most distinctive first


class Recommender:
    """Similarity of every action to one, from the parts a Searcher already holds."""

    def __init__(self, lexical: LexicalIndex, like: Callable[[np.ndarray], np.ndarray], facets: FacetTable,
                 actions: Callable[[int], Action], exists: np.ndarray, identity: np.ndarray,
                 weights: SimilarWeights) -> None:
        self.lexical, self.like, self.facets, self.actions, self.weights = lexical, like, facets, actions, weights
        self.exists, self.identity = exists, identity
        self._keywords = facets.sizes("keyword")  # keywords of each action, for the Jaccard index

    def candidates(self, source: int) -> Candidates:
        w = self.weights
        others = self.exists & (self.identity != self.identity[source])  # never itself, nor a copy of itself
        score = w.fiche * _standard(self.like(np.asarray([source])), others)
        terms = self.lexical.distinctive(source, MLT_TERMS)
        if w.words and terms:
            words = np.zeros(len(self.exists))
            found = self.lexical.match([[t] for t in terms])
            words[found.ids] = found.scores
            score += w.words * _standard(words, others)
        action = self.actions(source) if w.keywords or w.public or w.dimension else None
        if action is not None and w.keywords and action.keywords:
            shared = np.zeros(len(self.exists))
            for value in set(action.keywords):
                shared[self.facets.holders("keyword", value)] += 1
            union = len(set(action.keywords)) + self._keywords[:len(shared)] - shared
            score += w.keywords * shared / np.maximum(union, 1)
        for facet, weight in (("public", w.public), ("dimension", w.dimension)):
            if action is not None and weight:
                for value in action.facet_values(facet):
                    score[self.facets.holders(facet, value)] += weight
        return Candidates(np.where(others, score, -np.inf), terms)

    def hit(self, source: Action, rowid: int, score: float, terms: list[str], display: Callable[[str], str],
            passage_of: Callable[[int, set[str]], Passage | None]) -> Hit:
        """A recommendation with its reasons in plain French."""
        other = self.actions(rowid)
        held = self.lexical.held(rowid, terms)
        shared_terms = [t for t in terms if t in held]
        mine = {fold(k) for k in source.keywords}
        shared = [k for k in other.keywords if fold(k) in mine]
        reasons = []
        if source.public and fold(other.public) == fold(source.public):
            reasons.append(f"Même public : {other.public}")
        if source.dimension and fold(other.dimension) == fold(source.dimension):
            reasons.append(f"Même dimension : {other.dimension}")
        words = [display(t) for t in shared_terms[:REASON_WORDS]]
        if shared:
            reasons.append(f"Mots-clés communs : {', '.join(shared)}")
        if words:
            reasons.append(f"Mots en commun : {', '.join(words)}")
        passage = passage_of(rowid, set(shared_terms))
        if passage is not None:
            reasons.append(f"Passage proche : « {textwrap.shorten(passage.text, EXCERPT, placeholder=' …')} »")
        return Hit(other, score, passage, Explanation(reasons=reasons, shared_keywords=shared, shared_words=words))


def page(candidates: Candidates, allowed: np.ndarray) -> np.ndarray:
    """Rowids of the allowed candidates, most similar first (ties in rowid order)."""
    ids = np.flatnonzero(allowed & np.isfinite(candidates.score))
    return ids[np.lexsort((ids, -candidates.score[ids]))]

