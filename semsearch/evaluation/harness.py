"""`semsearch eval`: every mode of the engine and every baseline, on every set, by the same code.

What is scored is what the user sees: for the engine, the results /search returns for a page of 10, then the
weaker neighbours the page lists under them, in that order (a query whose matching set is empty shows only
its pistes, if any);
for a baseline, its 10 best fiches. A query with a grade-2 fiche answered with an empty set ("Aucune fiche") is a
false empty, counted apart: the worst answer a search can give. The engine's whole order (its matching set, then
every other fiche) is kept as a diagnostic column only: no route returns it.

Each figure is a mean over folds of queries (5 folds, fixed seed) with its spread, never one number from one
pass: with 15 to 157 queries a set, the spread says how much of a difference is noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..fusion import MODES
from . import metrics as mt
from .judgments import Judged
from .methods import BASELINES, Run, baseline_runs, engine_runs, similar_runs
from .sets import Loaded

FOLDS = 5
RANK_METRICS = ("ndcg@10", "recall@5", "mrr")  # of the list shown
SET_METRICS = ("set_recall_2", "set_precision")  # of the matching set (engine modes)
WHOLE = "ndcg@10 ordre complet"  # diagnostic


def query_scores(run: Run, judged: Judged) -> dict[str, float]:
    """The metrics of one answered query (set metrics and false empties only for the engine's modes)."""
    g = judged.grades
    out = {"ndcg@10": mt.ndcg(run.shown, g), "recall@5": mt.recall(run.shown, g, 5),
           "mrr": mt.reciprocal_rank(run.shown, g)}
    if run.matched is not None:
        out |= {"set_recall_2": mt.set_recall(run.matched, g, 2), "set_precision": mt.set_precision(run.matched, g),
                "false_empty": float(run.total == 0 and 2 in g.values())}
    if run.ranked is not None:
        out[WHOLE] = mt.ndcg(run.ranked, g)
    return out


@dataclass
class MethodTable:
    """A method's metrics on a set: each as a Spread over folds, and per query for tracing a change."""

    metrics: dict[str, mt.Spread]
    per_query: list[dict[str, float]]
    noanswer_empty: int | None = None  # engine modes: no-answer queries whose matching set is empty
    noanswer_total: int = 0

    @property
    def false_empties(self) -> int | None:
        """Answered queries with a grade-2 fiche whose matching set is empty (engine modes)."""
        if not self.per_query or "false_empty" not in self.per_query[0]:
            return None
        return int(sum(q["false_empty"] for q in self.per_query))


def spread(per_query: Sequence[dict[str, float]], names: Sequence[str], seed: int = 0) -> dict[str, mt.Spread]:
    parts = mt.folds(len(per_query), FOLDS, seed)
    return {n: mt.Spread.of([float(np.mean([per_query[i][n] for i in part])) for part in parts])
            for n in names if per_query and n in per_query[0]}


@dataclass
class SetReport:
    name: str
    queries: int
    methods: dict[str, MethodTable]
    similar: dict[str, mt.Spread] = field(default_factory=dict)  # method -> recall@3 over folds of lists
    similar_per_list: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    similar_lists: int = 0


def report_set(loaded: Loaded) -> SetReport:
    searcher = loaded.searcher
    plain = loaded.plain or searcher.lexical
    runs = engine_runs(searcher, loaded.queries) | baseline_runs(searcher, plain, loaded.queries)
    refusals = engine_runs(searcher, loaded.noanswer) if loaded.noanswer else {}
    methods = {}
    for name, method_runs in runs.items():
        per_query = [query_scores(r, j) for r, j in zip(method_runs, loaded.queries)]
        table = MethodTable(spread(per_query, RANK_METRICS + SET_METRICS + (WHOLE,)), per_query)
        if name in refusals:
            table.noanswer_empty = sum(r.total == 0 for r in refusals[name])
            table.noanswer_total = len(loaded.noanswer)
        methods[name] = table
    out = SetReport(loaded.set.name, len(loaded.queries), methods)
    if loaded.similar:
        ranked = similar_runs(searcher, loaded.similar)
        for name, lists in ranked.items():
            per_list = [{"recall@3": mt.recall(r, j.grades, 3)} for r, j in zip(lists, loaded.similar)]
            out.similar[name] = spread(per_list, ["recall@3"])["recall@3"]
            out.similar_per_list[name] = per_list
        out.similar_lists = len(loaded.similar)
    return out


def combined(reports: Sequence[SetReport], name: str) -> SetReport:
    """Several sets' queries as one set (folds over all of them): the development sets together, queries of every
    style, are what the constants are chosen on. Similar lists are pooled the same way."""
    methods = {}
    for method in reports[0].methods:
        per_query = [q for r in reports for q in r.methods[method].per_query]
        table = MethodTable(spread(per_query, RANK_METRICS + SET_METRICS + (WHOLE,)), per_query)
        if any(r.methods[method].noanswer_empty is not None for r in reports):
            table.noanswer_empty = sum(r.methods[method].noanswer_empty or 0 for r in reports)
            table.noanswer_total = sum(r.methods[method].noanswer_total for r in reports)
        methods[method] = table
    out = SetReport(name, sum(r.queries for r in reports), methods)
    for method in reports[0].similar_per_list:
        per_list = [x for r in reports for x in r.similar_per_list.get(method, [])]
        out.similar[method] = spread(per_list, ["recall@3"])["recall@3"]
        out.similar_per_list[method] = per_list
    out.similar_lists = sum(r.similar_lists for r in reports)
    return out


def format_report(reports: Sequence[SetReport]) -> str:
    """The tables, as docs/QUALITY.md shows them (mean ± standard deviation over folds)."""
    lines = []
    for r in reports:
        lines += [f"\n{r.name} — {r.queries} requêtes", "",
                  ("| méthode | nDCG@10 | recall@5 | MRR | vides à tort | rappel ens. (2) | précision ens. "
                   "| sans réponse vides | nDCG@10 ordre complet (diagnostic) |"),
                  "|---|" + "---|" * 8]
        for name in [*MODES, *BASELINES]:
            t = r.methods.get(name)
            if t is None:
                continue
            cells = [str(t.metrics[m]) for m in RANK_METRICS]
            cells.append(f"{t.false_empties}/{r.queries}" if t.false_empties is not None else "—")
            cells += [str(t.metrics[m]) if m in t.metrics else "—" for m in (*SET_METRICS,)]
            cells.append(f"{t.noanswer_empty}/{t.noanswer_total}" if t.noanswer_total else "—")
            cells.append(str(t.metrics[WHOLE]) if WHOLE in t.metrics else "—")
            lines.append(f"| {name} | {' | '.join(cells)} |")
        if r.similar:
            lines.append("")
            lines += [f"projets comparables ({r.similar_lists} listes), recall@3 : "
                      + " ; ".join(f"{k} {v}" for k, v in r.similar.items())]
    return "\n".join(lines)


def to_json(reports: Sequence[SetReport]) -> dict:
    def cell(s: mt.Spread) -> dict[str, float | None]:
        return {k: (None if math.isnan(v) else round(v, 4)) for k, v in vars(s).items()}

    return {r.name: {"queries": r.queries,
                     "methods": {m: {"metrics": {k: cell(v) for k, v in t.metrics.items()},
                                     "false_empties": t.false_empties,
                                     "noanswer_empty": t.noanswer_empty, "noanswer_total": t.noanswer_total}
                                 for m, t in r.methods.items()},
                     "similar": {k: cell(v) for k, v in r.similar.items()}, "similar_lists": r.similar_lists}
            for r in reports}
