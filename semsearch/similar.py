"""Projects comparable to one fiche: what the federation shows under each fiche (GET /similar/<id>).

    similarity = fiche x z(cosine of the centred fiche vectors)
               + words x z(more-like-this BM25 over the source's distinctive terms)
               + keywords x Jaccard of the keywords + public x [same public] + dimension x [same dimension]

The dense side compares whole fiches with the corpus mean removed (semantic.DenseSearch.like); the lexical
side is Elasticsearch's more_like_this: the source's MLT_TERMS terms of highest tf x idf, searched as a
query with BM25; the structured side counts what an editor looks at first. z are taken over the candidates.
The weights are chosen by cross-validation on the editors' lists (docs/QUALITY.md).

A recommendation (POST /recommend) starts from several fiches a centre likes, and some it does not want more of:

    recommendation = max over liked l of similarity(l) - UNLIKE_WEIGHT x max(0, max over unliked u of similarity(u))

each result shown with the liked fiche it is closest to and the reasons of that pair.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import InvalidQuery
from .filters import FacetTable
from .lexical import LexicalIndex
from .passages import Passage
from .records import Action
from .results import Explanation, Hit, LikedFiche
from .words import fold

MLT_TERMS = 25  # Elasticsearch's more_like_this max_query_terms
REASON_WORDS = 4  # shared distinctive words named in a recommendation's reasons
# A shared word is named among the reasons only when few fiches hold it (this share of them, or just the two):
# "ans", "financement" or "habitants" are in most fiches and say nothing of why two projects are alike.
RARE_SHARE = 0.05
EXCERPT = 90  # characters of the closest passage quoted in the reasons
# Liked and unliked fiches of one recommendation, together: each costs one similarity over the whole corpus (a
# fiche-matrix product and a more-like-this query), and a centre's selection is a handful of fiches.
MAX_EXAMPLES = 20
# How much closeness to an unliked fiche takes off. Half: a fiche as close to an unliked fiche as to a liked one
# keeps half its score, so "not this kind" moves such fiches down without emptying a theme the liked and unliked
# fiches share (no labelled recommendations to tune it on; a round, explainable value).
UNLIKE_WEIGHT = 0.5


@dataclass(frozen=True)
class SimilarWeights:
    """Chosen by cross-validation on the editors' lists (docs/QUALITY.md): same public did not help there (it stays
    among the reasons shown)."""

    fiche: float = 1.0
    words: float = 0.25
    keywords: float = 2.0
    public: float = 0.0
    dimension: float = 0.5


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

    def with_weights(self, weights: SimilarWeights) -> Recommender:
        """The same recommender with other weights (the tuning compares many)."""
        return Recommender(self.lexical, self.like, self.facets, self.actions, self.exists, self.identity, weights)

    def copies(self, rowid: int) -> np.ndarray:
        """Rowids of an action and of every copy of it (the same fiche exported twice)."""
        return np.flatnonzero(self.identity == self.identity[rowid])

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
        rare = max(2, int(RARE_SHARE * self.lexical.documents))
        named = sorted((t for t in shared_terms if self.lexical.holders(t) <= rare), key=self.lexical.holders)
        mine = {fold(k) for k in source.keywords}
        shared = [k for k in other.keywords if fold(k) in mine]
        reasons = []
        if source.public and fold(other.public) == fold(source.public):
            reasons.append(f"Même public : {other.public}")
        if source.dimension and fold(other.dimension) == fold(source.dimension):
            reasons.append(f"Même dimension : {other.dimension}")
        words = [display(t) for t in named[:REASON_WORDS]]
        if shared:
            reasons.append(f"Mots-clés communs : {', '.join(shared)}")
        if words:
            reasons.append(f"Mots en commun : {', '.join(words)}")
        passage = passage_of(rowid, set(named))
        if passage is not None:
            reasons.append(f"Passage proche : « {textwrap.shorten(passage.text, EXCERPT, placeholder=' …')} »")
        return Hit(other, score, passage, Explanation(reasons=reasons, shared_keywords=shared, shared_words=words))

    def blend(self, liked: list[int], unliked: list[int]) -> Blend:
        """Every action's similarity to several liked actions and away from unliked ones (rowids, liked not empty).

        The likes combine by their best, not their mean: a centre's fiches often span several themes, and the
        mean would favour fiches vaguely close to all of them over a fiche that is a close match for one; with
        the best, each result is anchored to one liked fiche, the one its reasons name. Closeness to the unliked
        fiches counts only above the average (the similarities are z-scores), so being unlike them is no merit.
        """
        per_like = [self.candidates(r) for r in liked]
        scores = np.vstack([c.score for c in per_like])
        score = scores.max(axis=0)
        if unliked:
            away = np.vstack([self.candidates(r).score for r in unliked]).max(axis=0)
            score = score - UNLIKE_WEIGHT * np.maximum(away, 0.0)
        given = np.isin(self.identity, self.identity[np.asarray(liked + unliked, dtype=np.int64)])
        score = np.where(self.exists & ~given, score, -np.inf)  # never a given fiche, nor a copy of one
        return Blend(score, scores.argmax(axis=0), per_like)

    def recommendation(self, liked: list[Action], blend: Blend, rowid: int, display: Callable[[str], str],
                       passage_of: Callable[[int, int, set[str]], Passage | None]) -> Hit:
        """A recommended action with the liked fiche it is closest to and the reasons of that pair;
        `passage_of(rowid, liked index, terms)`: the action's passage closest to that liked fiche."""
        near = int(blend.closest[rowid])
        source = liked[near]
        hit = self.hit(source, rowid, float(blend.score[rowid]), blend.liked[near].terms, display,
                       lambda r, terms: passage_of(r, near, terms))
        hit.explanation.closest_liked = LikedFiche(source.id, source.title)
        hit.explanation.reasons.insert(0, f"Proche de « {source.title} »")
        return hit


@dataclass(frozen=True)
class Blend:
    """Every action's recommendation score, and for each the liked fiche it is closest to."""

    score: np.ndarray  # per rowid; -inf for the given fiches, their copies and unused rowids
    closest: np.ndarray  # per rowid, the index in the liked list of the most similar liked fiche
    liked: list[Candidates]  # each liked fiche's similarities and distinctive terms, in the liked order


def examples(like: list[str], unlike: list[str]) -> tuple[list[str], list[str]]:
    """The liked and unliked ids of a recommendation, each once in the order given; InvalidQuery naming the
    parameter when there is no liked fiche, too many, or a fiche both liked and unliked."""
    like, unlike = list(dict.fromkeys(like)), list(dict.fromkeys(unlike))
    if not like:
        raise InvalidQuery("like", "au moins une fiche aimée est nécessaire (identifiants dans like)")
    if len(like) + len(unlike) > MAX_EXAMPLES:
        raise InvalidQuery("like" if len(like) > MAX_EXAMPLES or not unlike else "unlike",
                           f"{MAX_EXAMPLES} fiches au plus en tout (like et unlike), "
                           f"{len(like) + len(unlike)} données")
    both = [i for i in unlike if i in set(like)]
    if both:
        raise InvalidQuery("unlike", f"« {both[0]} » est aussi dans like : une fiche ne peut pas être à la fois "
                                     f"aimée et écartée")
    return like, unlike


def page(score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Rowids of the allowed candidates, most similar first (ties in rowid order)."""
    ids = np.flatnonzero(allowed & np.isfinite(score))
    return ids[np.lexsort((ids, -score[ids]))]

