"""A query's ranking, from its words and meaning to the actions a page shows: query analysis (query.py), lexical
(lexical.py) and dense (semantic.py) evidence, their fusion (fusion.py), then the page's rows: a page of the
matching set, ties in export order, and the weaker neighbours under it.

The Searcher ranks every search through one Ranker; the evaluation tries other constants on the same evidence
through the same Ranker (`Searcher.ranker`), so what it scores is what /search shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .encoders import Encoder
from .fusion import Fused, Ranking, fuse
from .lexical import LexicalIndex, LexicalMatches
from .query import QueryAnalyser, QueryWord
from .semantic import DenseSearch, SemanticMatches

QUERY_VECTORS_CACHED = 1024  # ~1.5 MB
NEIGHBOURS = 5  # weaker neighbours listed under the results, or pistes when nothing matched


@dataclass(frozen=True)
class QueryEvidence:
    """What a query finds before fusion: its words, their lexical matches, the dense side (None in lexical mode)."""

    words: list[QueryWord]
    lexical: LexicalMatches
    semantic: SemanticMatches | None
    vector: np.ndarray | None  # the query's vector, None in lexical mode


@dataclass(frozen=True)
class Page:
    """The rowids a page shows: a page of the matching set, then the weaker neighbours under it."""

    total: int  # the matching set, filters applied
    results: np.ndarray
    neighbours: np.ndarray


@dataclass(frozen=True)
class Shown:
    """What a page shows, by action id: its results, then the weaker neighbours under them."""

    results: list[str]
    neighbours: list[str]
    total: int

    @property
    def ids(self) -> list[str]:
        return self.results + self.neighbours


@dataclass(frozen=True)
class Ranked:
    """Every action in the engine's order: the matching set first, then the others, each by descending score."""

    ids: list[str]
    matches: int


class Ranker:
    """The parts a ranking needs, loaded once by the Searcher: `exists` and `position` per action rowid (export
    order breaks ties, so a patched build ranks as a full one), `action_id` for the ids of rowids."""

    def __init__(self, analyser: QueryAnalyser, lexical: LexicalIndex, dense: DenseSearch, encoder: Encoder,
                 exists: np.ndarray, position: np.ndarray, action_id: Callable[[int], str],
                 ranking: Ranking) -> None:
        self.analyser, self.lexical, self.dense, self.encoder = analyser, lexical, dense, encoder
        self.exists, self.position, self.action_id, self.ranking = exists, position, action_id, ranking
        # The encoder is most of a search's time for a short query; a faceted search page sends the same text again
        # for every page and every ticked filter, so recent vectors are kept.
        self.vector: Callable[[str], np.ndarray] = lru_cache(maxsize=QUERY_VECTORS_CACHED)(self._encode)

    def _encode(self, text: str) -> np.ndarray:
        vector = self.encoder.encode_queries([text])[0]
        vector.setflags(write=False)  # shared by every search of that text
        return vector

    def evidence(self, query: str, mode: str = "hybrid") -> QueryEvidence:
        words = self.analyser.words(query)
        # Semantic mode ranks without the words but still says which of them a result holds.
        lexical = self.lexical.match([w.terms for w in words])
        semantic = vector = None
        if mode != "lexical":
            vector = self.vector(self.analyser.meaning(query))
            semantic = self.dense.match(vector)
        return QueryEvidence(words, lexical, semantic, vector)

    def fuse(self, found: QueryEvidence, mode: str, ranking: Ranking | None = None,
             like: Callable[[np.ndarray], np.ndarray] | None = None) -> Fused:
        """The fusion of some evidence, with the shipped constants or others (the tuning tries many, with a `like`
        that remembers its answers)."""
        semantic = found.semantic or SemanticMatches.empty(len(self.exists))
        return fuse(mode, ranking or self.ranking, found.lexical, semantic, self.exists, like or self.dense.like)

    def page(self, fused: Fused, allowed: np.ndarray, offset: int, limit: int) -> Page:
        members = np.flatnonzero(fused.matches & allowed)
        results = _ranked(members, fused, self.position, offset + limit)[offset:offset + limit]
        # Neighbours sit under the matches the filters leave; with none left, the user is told to widen them. An
        # unanswered query's neighbours are its pistes.
        answered = bool(fused.matches.any())
        weaker = np.flatnonzero(fused.neighbours & allowed) if len(members) or not answered \
            else np.zeros(0, dtype=np.int64)
        return Page(len(members), results, _top(weaker, fused.score[weaker], self.position, NEIGHBOURS))

    def shown(self, fused: Fused, limit: int) -> Shown:
        """The ids a first page of `limit` shows, without filters: what the evaluation scores."""
        page = self.page(fused, self.exists, 0, limit)
        return Shown([self.action_id(int(r)) for r in page.results],
                     [self.action_id(int(r)) for r in page.neighbours], page.total)

    def order(self, fused: Fused) -> Ranked:
        """Every action, matches first: the evaluation's diagnostic and the peers bench's top 10."""
        matches = np.flatnonzero(fused.matches & self.exists)
        others = np.flatnonzero(~fused.matches & self.exists)
        ids = [_ranked(matches, fused, self.position, len(matches)),
               _top(others, fused.score[others], self.position, len(others))]
        return Ranked([self.action_id(int(r)) for r in np.concatenate(ids)], len(matches))

    def rank_of(self, scores: np.ndarray, rowid: int) -> int:
        """1-based rank of one action among all by descending score, ties in export order."""
        mine = scores[rowid]
        ahead = self.exists & ((scores > mine) | ((scores == mine) & (self.position < self.position[rowid])))
        return int(np.count_nonzero(ahead)) + 1


def _top(ids: np.ndarray, scores: np.ndarray, position: np.ndarray, k: int) -> np.ndarray:
    """The k best ids by descending score, ties in export order; sorts only those at or above the k-th."""
    if len(ids) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    return ids[np.lexsort((position[ids], -scores))][:k]


def _ranked(matches: np.ndarray, fused: Fused, position: np.ndarray, k: int) -> np.ndarray:
    """The k first matches: those the query found by its own evidence, then those feedback brought in."""
    own = matches[fused.found[matches]]
    first = _top(own, fused.score[own], position, k)
    if len(first) >= k:
        return first
    joined = matches[~fused.found[matches]]
    return np.concatenate([first, _top(joined, fused.score[joined], position, k - len(first))])
