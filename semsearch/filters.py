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
