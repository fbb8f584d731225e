"""The lexical index: BM25 over folded stems, as postings arrays held in memory.

In numpy rather than SQLite FTS5 (which it replaced): at 10 000 actions a common query word matches
thousands of actions, and FTS5 ranks each match through its bm25() callback, ~50 ms a query; summing
precomputed per-(term, action) weights with one bincount takes well under a millisecond. The scores are
FTS5's own bm25 (k1 = 1.2, b = 0.75, column weights applied to term frequencies, document length over all
columns, idf = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6), so rankings did not move when it changed.

Only raw counts are stored; idf and length normalisation are computed at load, so a reindex that adds or
removes a few actions rebuilds these arrays from counts without reweighting anything by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Lexical columns and their weights: a word in the title or keywords says more than one in the body.
COLUMNS: dict[str, float] = {"title": 4.0, "keywords": 3.0, "summary": 1.5, "body": 1.0}
K1, B = 1.2, 0.75  # FTS5's and most BM25 implementations' defaults
FILE = "lexical.npz"


@dataclass(frozen=True)
class Postings:
    """Per term, the actions it occurs in and its column-weighted frequency there; per action, its length.

    `terms` is sorted; the postings of terms[i] are [offsets[i], offsets[i+1]) of `actions`/`frequencies`,
    sorted by action. `lengths[a]` is the number of indexed words of action rowid a (0 for unused rowids).
    """

    terms: np.ndarray  # str, sorted
    offsets: np.ndarray  # int64, len(terms) + 1
    actions: np.ndarray  # int32
    frequencies: np.ndarray  # float32
    lengths: np.ndarray  # float32, indexed by action rowid

    @classmethod
    def from_counts(cls, documents: Iterable[tuple[int, dict[str, Sequence[str]]]], size: int) -> Postings:
        """Postings of (action rowid, {column: terms in order}) pairs; `size` is one more than the largest rowid."""
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        owners: list[int] = []
        weights: list[float] = []
        lengths = np.zeros(size, dtype=np.float32)
        for rowid, columns in documents:
            for column, weight in COLUMNS.items():
                terms = columns.get(column, ())
                lengths[rowid] += len(terms)
                term_ids.extend(vocabulary.setdefault(t, len(vocabulary)) for t in terms)
                owners.extend([rowid] * len(terms))
                weights.extend([weight] * len(terms))
        return cls._assemble(list(vocabulary), np.asarray(term_ids, dtype=np.int64),
                             np.asarray(owners, dtype=np.int64), np.asarray(weights, dtype=np.float64), lengths)

    def patch(self, removed: np.ndarray, documents: Iterable[tuple[int, dict[str, Sequence[str]]]],
              size: int) -> Postings:
        """These postings without the actions `removed`, with `documents` added: what from_counts gives for
        the patched corpus, at the cost of a sort of the postings rather than a pass over every action's words."""
        keep = ~np.isin(self.actions, removed)
        vocabulary = self.terms.tolist()
        term_ids = np.repeat(np.arange(len(vocabulary)), np.diff(self.offsets))[keep]
        lengths = np.zeros(size, dtype=np.float32)
        lengths[:len(self.lengths)] = self.lengths[:size]
        lengths[removed] = 0
        added = Postings.from_counts(documents, size)
        index = {t: i for i, t in enumerate(vocabulary)}
        for term in added.terms.tolist():
            if term not in index:
                index[term] = len(vocabulary)
                vocabulary.append(term)
        added_ids = np.asarray([index[t] for t in added.terms.tolist()], dtype=np.int64)
        lengths += added.lengths
        return Postings._assemble(
            vocabulary,
            np.concatenate([term_ids, np.repeat(added_ids, np.diff(added.offsets))]),
            np.concatenate([self.actions[keep].astype(np.int64), added.actions.astype(np.int64)]),
            np.concatenate([self.frequencies[keep], added.frequencies]).astype(np.float64),
            lengths,
        )

    @classmethod
    def _assemble(cls, vocabulary: list[str], term_ids: np.ndarray, owners: np.ndarray, weights: np.ndarray,
                  lengths: np.ndarray) -> Postings:
        """Sum the weights of each (term, action) pair and lay them out term by term, terms sorted."""
        order = np.argsort(np.asarray(vocabulary, dtype=object)) if vocabulary else np.zeros(0, dtype=np.int64)
        rank = np.empty(len(vocabulary), dtype=np.int64)
        rank[order] = np.arange(len(vocabulary))
        keys = rank[term_ids] * len(lengths) + owners if len(term_ids) else np.zeros(0, dtype=np.int64)
        pairs, inverse = np.unique(keys, return_inverse=True)
        frequencies = np.bincount(inverse, weights=weights, minlength=len(pairs)).astype(np.float32)
        pair_terms = pairs // len(lengths)
        used, first = np.unique(pair_terms, return_index=True)  # terms left without postings are dropped
        offsets = np.append(first, len(pairs)).astype(np.int64)
        terms = np.asarray([vocabulary[order[r]] for r in used.tolist()], dtype=str) if len(used) \
            else np.zeros(0, dtype="<U1")
        return cls(terms, offsets, (pairs % len(lengths)).astype(np.int32), frequencies, lengths)

    def save(self, directory: Path) -> None:
        np.savez(directory / FILE, terms=self.terms, offsets=self.offsets, actions=self.actions,
                 frequencies=self.frequencies, lengths=self.lengths)

    @classmethod
    def load(cls, directory: Path) -> Postings:
        with np.load(directory / FILE) as data:
            return cls(data["terms"], data["offsets"], data["actions"], data["frequencies"], data["lengths"])


class LexicalIndex:
    """BM25 scores of every action matching any of the query's terms, from postings weighted once at load."""

    def __init__(self, postings: Postings) -> None:
        self.postings = postings
        self._term_index = {t: i for i, t in enumerate(postings.terms.tolist())}
        self._size = len(postings.lengths)
        documents = int(np.count_nonzero(postings.lengths))
        average = float(postings.lengths.sum()) / documents if documents else 1.0
        hits = np.diff(postings.offsets)
        idf = np.log((documents - hits + 0.5) / (hits + 0.5))
        idf = np.where(idf <= 0, 1e-6, idf)
        f = postings.frequencies.astype(np.float64)
        norm = K1 * (1 - B + B * postings.lengths[postings.actions].astype(np.float64) / max(average, 1e-9))
        self._scores = np.repeat(idf, hits) * f * (K1 + 1) / (f + norm)

    def match(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(action rowids, bm25) of the actions holding at least one of `terms`, higher is better.

        A term given twice counts twice, as a phrase repeated in an FTS5 query does.
        """
        slices = [self._slice(t) for t in terms]
        slices = [s for s in slices if s.stop > s.start]
        if not slices:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        actions = np.concatenate([self.postings.actions[s] for s in slices])
        scores = np.bincount(actions, weights=np.concatenate([self._scores[s] for s in slices]), minlength=self._size)
        ids = np.flatnonzero(np.bincount(actions, minlength=self._size)).astype(np.int64)  # O(actions), no sort
        return ids, scores[ids]

    def contains(self, action: int, terms: Iterable[str]) -> bool:
        """Whether the action is indexed under any of `terms` (why a result matched, word by word)."""
        for term in terms:
            s = self._slice(term)
            owners = self.postings.actions[s]
            i = int(np.searchsorted(owners, action))
            if i < len(owners) and owners[i] == action:
                return True
        return False

    def _slice(self, term: str) -> slice:
        i = self._term_index.get(term)
        if i is None:
            return slice(0, 0)
        return slice(int(self.postings.offsets[i]), int(self.postings.offsets[i + 1]))
