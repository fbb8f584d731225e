"""Search quality as numbers: graded query sets in, nDCG@10 / recall@5 / MRR / recall@3 out.

The query-set format is the one of ../shared/eval (copied into eval/): `query<TAB>title=grade|...`
for search, `title<TAB>title|title` for similar actions; titles are mapped to ids through the index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ParseError
from .search import MODES, Searcher


@dataclass(frozen=True)
class Judged:
    query: str
    grades: dict[str, int]  # action title -> grade (2: what the user looks for, 1: a useful neighbour)


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    rows = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) != 2:
                raise ParseError(path, no, "expected two tab-separated columns")
            rows.append((no, parts))
    return rows


def read_queries(path: Path) -> list[Judged]:
    out = []
    for no, (query, judged) in _rows(path):
        grades = {}
        for entry in judged.split("|"):
            title, sep, grade = entry.rpartition("=")
            if not sep or not grade.strip().isdigit():
                raise ParseError(path, no, f"bad judgment {entry!r}; expected title=grade")
            grades[title.strip()] = int(grade)
        out.append(Judged(query.strip(), grades))
    return out


def read_similar(path: Path) -> list[Judged]:
    return [Judged(source.strip(), {t.strip(): 2 for t in targets.split("|")}) for _, (source, targets) in _rows(path)]


def ndcg(ranked: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    gain = sum((2 ** grades.get(t, 0) - 1) / math.log2(i + 2) for i, t in enumerate(ranked[:k]))
    ideal = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(sorted(grades.values(), reverse=True)[:k]))
    return gain / ideal if ideal else 0.0


def recall(ranked: Sequence[str], grades: dict[str, int], k: int) -> float:
    relevant = {t for t, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], grades: dict[str, int]) -> float:
    best = max(grades.values(), default=0)
    return next((1.0 / (i + 1) for i, t in enumerate(ranked) if grades.get(t, 0) == best and best), 0.0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate_search(searcher: Searcher, judged: list[Judged], modes: Sequence[str] = MODES) -> dict[str, dict]:
    """Mean metrics per mode, plus the per-query figures so regressions can be traced to a query."""
    table: dict[str, dict] = {}
    for mode in modes:
        per_query = {}
        for j in judged:
            ranked = [h.action.title for h in searcher.search(j.query, mode=mode, limit=10).hits]
            per_query[j.query] = {"ndcg@10": ndcg(ranked, j.grades), "recall@5": recall(ranked, j.grades, 5),
                                  "mrr": reciprocal_rank(ranked, j.grades), "top": ranked[:3]}
        metrics = {m: _mean([q[m] for q in per_query.values()]) for m in ("ndcg@10", "recall@5", "mrr")}
        table[mode] = {**metrics, "queries": per_query}
    return table


def evaluate_similar(searcher: Searcher, judged: list[Judged]) -> dict:
    ids = dict(searcher.index.db.execute("SELECT json_extract(data, '$.title'), id FROM actions"))
    per_source = {}
    for j in judged:
        if j.query not in ids:
            raise ParseError("similar set", None, f"no action titled {j.query!r} in the index")
        ranked = [h.action.title for h in searcher.similar(ids[j.query], limit=10).hits]
        per_source[j.query] = {"recall@3": recall(ranked, j.grades, 3), "top": ranked[:3]}
    return {"recall@3": _mean([s["recall@3"] for s in per_source.values()]), "sources": per_source}
