"""Filters and facet counts, in SQL over the `facets` table of an index.

Several values of one filter are OR-ed, different filters are AND-ed. Facet counts are disjunctive:
the counts of one facet are computed with every *other* filter applied, so a value's count is
exactly the number of results that ticking it would add, and unticked values stay visible.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

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
            raise InvalidQuery(name, f"unknown filter; known filters: {', '.join(FACETS)}")
        kept = [v for v in values if v]
        if kept:
            clean[name] = kept
    return clean


def _where(filters: Mapping[str, list[str]]) -> tuple[str, list[str]]:
    clauses, params = [], []
    for name, values in filters.items():
        marks = ", ".join("?" * len(values))
        clauses.append(f"rowid IN (SELECT action FROM facets WHERE facet = ? AND value IN ({marks}))")
        params += [name, *values]
    return " AND ".join(clauses) or "1", params


def restrict(db: sqlite3.Connection, actions: Iterable[int] | None, filters: Mapping[str, list[str]]) -> set[int]:
    """The action rowids among `actions` (all actions when None) that pass every filter."""
    where, params = _where(filters)
    if actions is None:
        rows = db.execute(f"SELECT rowid FROM actions WHERE {where}", params)
    else:
        rows = db.execute(
            f"SELECT rowid FROM actions WHERE rowid IN (SELECT value FROM json_each(?)) AND {where}",
            [json.dumps(sorted(actions)), *params],
        )
    return {r for (r,) in rows}


def facet_counts(
    db: sqlite3.Connection, actions: Iterable[int] | None, filters: Mapping[str, list[str]]
) -> dict[str, list[FacetValue]]:
    """Counts of every facet value over `actions`, each facet filtered by all the other filters."""
    pool = None if actions is None else sorted(actions)
    out: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        others = {k: v for k, v in filters.items() if k != facet}
        members = restrict(db, pool, others)
        rows = db.execute(
            "SELECT value, count(DISTINCT action) AS n FROM facets WHERE facet = ? "
            "AND action IN (SELECT value FROM json_each(?)) GROUP BY value ORDER BY n DESC, value",
            (facet, json.dumps(sorted(members))),
        )
        selected = set(filters.get(facet, ()))
        out[facet] = [FacetValue(value, n, value in selected) for value, n in rows]
    return out


class FacetTable:
    """The `facets` table held in memory as arrays, loaded once per index by the Searcher.

    Same answers as `restrict` and `facet_counts` (tests/test_search.py runs against both through the
    searcher), without sending thousands of rowids to SQLite as JSON on every request: at 10 000 actions
    those 16 queries over json_each cost more than the whole rest of a search (docs/BENCHMARKS.md).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        rowids = np.fromiter((r for (r,) in db.execute("SELECT rowid FROM actions")), dtype=np.int64)
        self._size = int(rowids.max()) + 1 if len(rowids) else 1
        self._exists = np.zeros(self._size, dtype=bool)
        self._exists[rowids] = True
        self._pairs: dict[str, tuple[np.ndarray, np.ndarray, list[str], dict[str, int]]] = {}
        for facet in FACETS:
            rows = db.execute("SELECT DISTINCT action, value FROM facets WHERE facet = ?", (facet,)).fetchall()
            values = sorted({v for _, v in rows})
            code = {v: i for i, v in enumerate(values)}
            actions = np.array([a for a, _ in rows], dtype=np.int64)
            codes = np.array([code[v] for _, v in rows], dtype=np.int64)
            self._pairs[facet] = (actions, codes, values, code)

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
            actions, codes, _, code = self._pairs[name]
            wanted = [code[v] for v in values if v in code]
            chosen = np.zeros(self._size, dtype=bool)
            chosen[actions[np.isin(codes, wanted)]] = True
            out &= chosen
        return out

    def restrict(self, actions: Iterable[int] | None, filters: Mapping[str, list[str]]) -> set[int]:
        return set(np.flatnonzero(self.pool(actions) & self.mask(filters)).tolist())

    def counts(self, actions: Iterable[int] | None, filters: Mapping[str, list[str]]) -> dict[str, list[FacetValue]]:
        pool = self.pool(actions)
        out: dict[str, list[FacetValue]] = {}
        for facet, (owners, codes, values, _) in self._pairs.items():
            members = pool & self.mask({k: v for k, v in filters.items() if k != facet})
            counts = np.bincount(codes[members[owners]], minlength=len(values))
            present = np.flatnonzero(counts)
            selected = set(filters.get(facet, ()))
            ranked = sorted(present.tolist(), key=lambda i: (-counts[i], values[i]))
            out[facet] = [FacetValue(values[i], int(counts[i]), values[i] in selected) for i in ranked]
        return out
