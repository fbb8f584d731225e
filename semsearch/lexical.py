"""The lexical index: BM25 over index terms, as postings arrays held in memory.

In numpy rather than SQLite FTS5 (which it replaced): at 10 000 actions a common query word matches
thousands of actions, and summing precomputed postings with one bincount per query word takes well under
a millisecond. Each query word is scored once, over all the index terms it may match (its inflections,
family and typo neighbours, see query.py), so a word with three spellings in a fiche counts as one word
seen three times, not three words. Scores are divided by the most the query could score (every word
saturated): a fiche's lexical score is then in [0, 1] and says how much of the query it holds, whatever
the query's length, which is what lets the fusion and the matching threshold use one scale (fusion.py).

Only raw counts are stored; idf and length normalisation are computed at load, so a reindex that adds or
removes a few actions rebuilds these arrays from counts without reweighting anything by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Lexical columns (analysis.COLUMNS) and their weights on term frequencies. Cross-validation (docs/QUALITY.md)
# chose these flat weights over title and keywords x2 and x4: the title already counts through the passages'
# vectors, which read it, and through the whole fiche's.
COLUMNS: dict[str, float] = {"title": 1.0, "keywords": 1.0, "summary": 1.0, "body": 1.0}
K1, B = 1.2, 0.75  # Lucene's and most BM25 implementations' defaults
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
    def from_counts(cls, documents: Iterable[tuple[int, dict[str, Sequence[str]]]], size: int,
                    weights: dict[str, float] | None = None) -> Postings:
        """Postings of (action rowid, {column: terms in order}) pairs; `size` is one more than the largest rowid.
        `weights` replaces the column weights (the tuning compares several)."""
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        owners: list[int] = []
        counted: list[float] = []
        lengths = np.zeros(size, dtype=np.float32)
        for rowid, columns in documents:
            for column, weight in (weights or COLUMNS).items():
                terms = columns.get(column, ())
                lengths[rowid] += len(terms)
                term_ids.extend(vocabulary.setdefault(t, len(vocabulary)) for t in terms)
                owners.extend([rowid] * len(terms))
                counted.extend([weight] * len(terms))
        return cls._assemble(list(vocabulary), np.asarray(term_ids, dtype=np.int64),
                             np.asarray(owners, dtype=np.int64), np.asarray(counted, dtype=np.float64), lengths)

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
        # The file opened here, so that it is closed even when numpy cannot read it (a truncated file).
        with (directory / FILE).open("rb") as f, np.load(f) as data:
            return cls(data["terms"], data["offsets"], data["actions"], data["frequencies"], data["lengths"])


@dataclass(frozen=True)
class LexicalMatches:
    """The actions holding at least one query word, their normalised BM25, and each word's holders."""

    ids: np.ndarray  # int64 action rowids, ascending
    scores: np.ndarray  # float64 in [0, 1]: BM25 over the query words / the most the query could score
    holders: list[np.ndarray]  # per query word, the rowids holding it, ascending

    @classmethod
    def empty(cls) -> LexicalMatches:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), [])

    def held(self, rowid: int) -> list[bool]:
        """Which query words an action holds (why it matched, word by word)."""
        out = []
        for owners in self.holders:
            i = int(np.searchsorted(owners, rowid))
            out.append(i < len(owners) and int(owners[i]) == rowid)
        return out


class LexicalIndex:
    """BM25 of every action holding any of the query's words, from postings weighted once at load."""

    def __init__(self, postings: Postings) -> None:
        self.postings = postings
        self._term_index = {t: i for i, t in enumerate(postings.terms.tolist())}
        self._size = len(postings.lengths)
        self.documents = int(np.count_nonzero(postings.lengths))
        average = float(postings.lengths.sum()) / self.documents if self.documents else 1.0
        self._norm = K1 * (1 - B + B * postings.lengths.astype(np.float64) / max(average, 1e-9))

    def idf(self, holders: int) -> float:
        """Lucene's BM25 idf, never negative: a word in most fiches still counts a little."""
        return float(np.log(1 + (self.documents - holders + 0.5) / (holders + 0.5)))

    def match(self, words: Sequence[Iterable[str]]) -> LexicalMatches:
        """The actions holding at least one of the words, each word given as the index terms it may match.

        A word no fiche holds still counts in the most the query could score, with the idf of a word no
        fiche holds: a fiche holding "accueil" of "accueil des réfugiés ukrainiens" scores low.
        """
        holders: list[np.ndarray] = []
        scores = np.zeros(self._size)
        best = 0.0
        for terms in words:
            slices = [s for s in map(self._slice, set(terms)) if s.stop > s.start]
            if len(slices) == 1:  # one term: its postings are the holders, already sorted
                ids = self.postings.actions[slices[0]].astype(np.int64)
                tf = self.postings.frequencies[slices[0]].astype(np.float64)
            elif slices:
                owners = np.concatenate([self.postings.actions[s] for s in slices])
                summed = np.bincount(owners, weights=np.concatenate([self.postings.frequencies[s] for s in slices]),
                                     minlength=self._size)
                ids = np.flatnonzero(summed)
                tf = summed[ids]
            else:
                ids, tf = np.zeros(0, dtype=np.int64), np.zeros(0)
            idf = self.idf(len(ids))
            scores[ids] += idf * tf * (K1 + 1) / (tf + self._norm[ids])  # ids are distinct: no np.add.at needed
            holders.append(ids)
            best += idf * (K1 + 1)
        ids = np.flatnonzero(scores)
        return LexicalMatches(ids, scores[ids] / best if best else scores[ids], holders)

    def distinctive(self, rowid: int, count: int) -> list[str]:
        """The `count` terms of an action with the highest tf x idf among those another action holds too: what
        more-like-this searches with (a term of one fiche alone cannot bring up any other)."""
        positions = np.flatnonzero(self.postings.actions == rowid)
        term_ids = np.searchsorted(self.postings.offsets, positions, side="right") - 1
        holders = np.diff(self.postings.offsets)[term_ids]
        shared = holders > 1
        positions, term_ids, holders = positions[shared], term_ids[shared], holders[shared]
        weight = self.postings.frequencies[positions] * np.log(1 + (self.documents - holders + 0.5) / (holders + 0.5))
        best = term_ids[np.lexsort((term_ids, -weight))[:count]]
        return self.postings.terms[best].tolist()

    def holders(self, term: str) -> int:
        """How many actions hold a term."""
        found = self._slice(term)
        return found.stop - found.start

    def held(self, rowid: int, terms: Iterable[str]) -> set[str]:
        """Which of `terms` an action holds."""
        out = set()
        for term in terms:
            owners = self.postings.actions[self._slice(term)]
            i = int(np.searchsorted(owners, rowid))
            if i < len(owners) and owners[i] == rowid:
                out.add(term)
        return out

    def _slice(self, term: str) -> slice:
        i = self._term_index.get(term)
        if i is None:
            return slice(0, 0)
        return slice(int(self.postings.offsets[i]), int(self.postings.offsets[i + 1]))
