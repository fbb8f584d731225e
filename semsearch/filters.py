"""Filters and facet counts, in SQL over the `facets` table of an index.

Several values of one filter are OR-ed, different filters are AND-ed. Facet counts are disjunctive:
the counts of one facet are computed with every *other* filter applied, so a value's count is
exactly the number of results that ticking it would add, and unticked values stay visible.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import store
from .errors import InvalidQuery
from .records import FACETS

Filters = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


def check(filters: Filters | None) -> dict[str, list[str]]:
    """Drop empty filters and refuse unknown facet names, naming the parameter."""
    clean: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name not in FACETS:
            raise InvalidQuery(name, f"filtre inconnu ; filtres possibles : {', '.join(FACETS)}")
        kept = [v for v in values if v]
        if kept:
            clean[name] = kept
    return clean


class FacetTable:
    """The `facets` table held in memory as arrays, loaded once per index by the Searcher.

    In memory rather than SQL: sending thousands of matching rowids to SQLite as JSON for 16 GROUP BY
    queries cost more than the whole rest of a search at 10 000 actions (docs/BENCHMARKS.md).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        rowids = store.action_rowids(db)
        self._size = int(rowids.max()) + 1 if len(rowids) else 1
        self._exists = np.zeros(self._size, dtype=bool)
        self._exists[rowids] = True
        # Per facet, the actions holding each value in one array, value after value (alphabetical), and where each
        # value's run starts: a value's count is a sum over its run, and all of a facet's counts one reduceat.
        self._pairs: dict[str, tuple[np.ndarray, np.ndarray, list[str], dict[str, int]]] = {}
        for facet in FACETS:
            rows = store.facet_pairs(db, facet)
            values = sorted({v for _, v in rows})
            code = {v: i for i, v in enumerate(values)}
            actions = np.array([a for a, _ in rows], dtype=np.int64)
            codes = np.array([code[v] for _, v in rows], dtype=np.int64)
            order = np.lexsort((actions, codes))
            bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))  # every value has a run
            self._pairs[facet] = (actions[order], bounds, values, code)

    def holders(self, facet: str, value: str) -> np.ndarray:
        """Rowids of the actions with this value of the facet (none for an unknown value)."""
        owners, bounds, _, code = self._pairs[facet]
        c = code.get(value)
        return owners[bounds[c]:bounds[c + 1]] if c is not None else np.zeros(0, dtype=np.int64)

    def sizes(self, facet: str) -> np.ndarray:
        """How many values of the facet each action rowid has."""
        return np.bincount(self._pairs[facet][0], minlength=self._size)

    def pool(self, actions: Iterable[int] | None) -> np.ndarray:
        """Boolean mask over rowids of `actions` (every action when None), unknown rowids left out."""
        if actions is None:
            return self._exists.copy()
        ids = np.fromiter(actions, dtype=np.int64) if not isinstance(actions, np.ndarray) else actions
        ids = ids[(ids > 0) & (ids < self._size)]
        mask = np.zeros(self._size, dtype=bool)
        mask[ids] = True
        return mask & self._exists

    def mask(self, filters: Mapping[str, list[str]]) -> np.ndarray:
        out = self._exists.copy()
        for name, values in filters.items():
            owners, bounds, _, code = self._pairs[name]
            chosen = np.zeros(self._size, dtype=bool)
            for c in {code[v] for v in values if v in code}:
                chosen[owners[bounds[c]:bounds[c + 1]]] = True
            out &= chosen
        return out

    def restrict(self, actions: Iterable[int] | None, filters: Mapping[str, list[str]]) -> set[int]:
        return set(np.flatnonzero(self.pool(actions) & self.mask(filters)).tolist())

    def counts(self, actions: Iterable[int] | None, filters: Mapping[str, list[str]],
               limit: int | None = None) -> dict[str, list[FacetValue]]:
        """Values of each facet by descending count (ties alphabetical), at most `limit` per facet plus any
        selected value beyond it: at 10 000 actions `structure` alone has thousands of values."""
        pool = self.pool(actions)
        masks = {name: self.mask({name: values}) for name, values in filters.items()}
        out: dict[str, list[FacetValue]] = {}
        for facet, (owners, bounds, values, code) in self._pairs.items():
            members = pool.copy()
            for name, mask in masks.items():
                if name != facet:
                    members &= mask
            counts = (np.add.reduceat(members.view(np.uint8)[owners], bounds[:-1], dtype=np.int64) if len(owners)
                      else np.zeros(0, dtype=np.int64))
            present = np.flatnonzero(counts)
            # One integer per value, count descending then alphabetical (codes are in alphabetical order), so the
            # first `limit` are selected in linear time: at 50 000 actions `structure` has tens of thousands.
            key = (counts.max(initial=0) - counts[present]) * len(values) + present
            selected = set(filters.get(facet, ()))
            if limit is not None and len(present) > limit:
                top = np.argpartition(key, limit - 1)[:limit]
                ranked = present[top[np.argsort(key[top])]]
                shown = set(ranked.tolist())
                extra = [code[v] for v in sorted(selected) if v in code and counts[code[v]] and code[v] not in shown]
                ranked = np.concatenate([ranked, np.asarray(extra, dtype=np.int64)])
            else:
                ranked = present[np.argsort(key)]
            out[facet] = [FacetValue(values[i], int(counts[i]), values[i] in selected) for i in ranked.tolist()]
        return out
