"""`semsearch eval --tune`: every constant of the ranking chosen by cross-validation over queries.

What is chosen, on the sets marked `tuned` (dev, staff, devplus and devplus-phrased together: short keywords,
phrases with a verb, paraphrases and described needs, with their queries nothing answers):
  - the lexical column weights and the chunking, among those given (the shipped ones unless asked: they are fixed
    at build time),
  - the fusion weights and the feedback weight (fusion.Ranking) with the hybrid mode's cut (fusion.Cut: the
    evidence that answers a query, the margin below the best fiche, the evidence that matches alone); then the
    semantic and lexical modes' cuts,
  - the weights of similar actions (similar.SimilarWeights), on the editors' lists.
The objective is what the user sees (Ranker.shown, the page /search returns): per answered query, the nDCG@10 of
the page (results then neighbours) plus the F2 of the matching set (recall counting four times as much as
precision: the set must hold what the user looks for, and still mean something), less FALSE_EMPTY when the set
is empty though a grade-2 fiche answers the query (a false empty); per query nothing answers, 2 when the set is
empty. Among cuts that do equally well, the one that answers most queries is kept (the grids run from it). Each
fold's constants are chosen on the other folds and measured on it; the constants that ship are those chosen on
every query, and the spread of the fold figures says how much to trust them. Nothing here is tuned per query or
per fiche.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..chunking import DEFAULT_CHUNKING, Chunking
from ..encoders import Encoder
from ..fusion import Cut, Ranking
from ..lexical import COLUMNS
from ..nlp import FrenchNLP
from ..ranking import QueryEvidence
from ..search import Searcher
from ..similar import SimilarWeights
from . import metrics as mt
from .harness import FOLDS, query_scores
from .judgments import Judged
from .methods import PAGE, Run, similar_order
from .sets import EvalSet, Loaded, index_dir, load, recounted

log = logging.getLogger(__name__)

# The chunkings a full search compares (tune(..., chunkings=CHUNKINGS)): every set indexed once for each.
CHUNKINGS = tuple(Chunking(words, 1, context) for context in ("none", "title") for words in (40, 80, 120, 200))
COLUMN_WEIGHTS: dict[str, dict[str, float]] = {
    "plates": dict(COLUMNS),
    "titre x2": {"title": 2.0, "keywords": 2.0, "summary": 1.0, "body": 1.0},
    "titre x4": {"title": 4.0, "keywords": 3.0, "summary": 1.5, "body": 1.0},
}
WEIGHTS = {"fiche": (0.5, 1.0), "words": (1.0, 2.0, 3.0), "feedback": (0.0, 1.0, 2.0)}
HYBRID = {"alone": (2.0, 3.0, 4.0), "answer": (-2.4, -2.0, -1.6, -1.45, -1.3, -1.15, -1.0, -0.7, -0.4),
          "margin": (3.0, 4.0, 6.0, 8.0, 10.0)}
SEMANTIC = {"alone": (-1.0, 0.0, 1.0), "answer": (-8.0, -6.0, -4.0, -3.0, -2.0, -1.0), "margin": (1.0, 2.0, 3.0, 4.0)}
LEXICAL = {"alone": (0.3, 0.5, 0.7), "answer": (0.1, 0.2, 0.3), "margin": (0.1, 0.2, 0.4)}  # x words
SUMMARY = ("ndcg@10", "recall@5", "set_recall_2", "set_precision", "false_empty")
# What a false empty costs against a query nothing answers left non-empty (which earns 2 when empty)
FALSE_EMPTY = 4.0
SIMILAR = {"fiche": (1.0,), "words": (0.0, 0.25, 0.5, 1.0), "keywords": (0.0, 0.5, 1.0, 2.0, 3.0),
           "public": (0.0, 0.5), "dimension": (0.0, 0.25, 0.5, 1.0)}


@dataclass(frozen=True)
class Item:
    """A query of a tuned set, with what the searcher found for it (computed once, fused many times: every mode
    reads its part of the same evidence)."""

    judged: Judged
    searcher: Searcher
    evidence: QueryEvidence


def _with_columns(loaded: Loaded, work: Path, weights: dict[str, float], nlp: FrenchNLP,
                  chunking: Chunking) -> Searcher:
    """The set's searcher with its postings recounted under other column weights."""
    base = loaded.searcher
    postings = recounted(base, index_dir(work, loaded.set, chunking), nlp, chunking, weights)
    return Searcher(replace(base.index, postings=postings), base.encoder)


def _items(sets: Sequence[Loaded]) -> list[Item]:
    return [Item(j, s.searcher, s.searcher.ranker.evidence(j.query, "hybrid"))
            for s in sets for j in [*s.queries, *s.noanswer]]


def _liker(searcher: Searcher) -> Callable[[np.ndarray], np.ndarray]:
    cache: dict[int, np.ndarray] = {}

    def like(rowids: np.ndarray) -> np.ndarray:
        key = int(rowids[0])
        if key not in cache:
            cache[key] = searcher.dense.like(rowids)
        return cache[key]

    return like


def _scores(item: Item, ranking: Ranking, mode: str, like: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """What the user sees for one query under some constants, scored."""
    s = item.searcher
    fused = s.ranker.fuse(item.evidence, mode, ranking, like)
    shown = s.ranker.shown(fused, PAGE)
    g = item.judged.grades
    if not g:
        empty = float(shown.total == 0)
        return {"objective": 2 * empty, "answered": 0.0, "empty": empty}
    matched = [s.action_id(int(r)) for r in np.flatnonzero(fused.matches)]
    out = query_scores(Run(shown.ids, shown.total, matched), item.judged) | {"answered": 1.0}
    out["objective"] = out["ndcg@10"] + mt.set_f1(matched, g, beta=2.0) - FALSE_EMPTY * out["false_empty"]
    return out


def _objective(rows: Sequence[dict[str, float]]) -> float:
    return float(np.mean([r["objective"] for r in rows])) if rows else 0.0


@dataclass
class Choice:
    chunking: Chunking
    columns: str
    ranking: Ranking


@dataclass
class FoldResult:
    chosen: Choice
    test: dict[str, float]


@dataclass
class TuningReport:
    folds: list[FoldResult]
    shipped: Choice
    queries: int = 0
    similar_folds: list[tuple[SimilarWeights, float]] = field(default_factory=list)
    similar_shipped: SimilarWeights = field(default_factory=SimilarWeights)


def _grid(space: dict[str, Sequence[float]]) -> Iterable[dict[str, float]]:
    keys = list(space)
    for values in itertools.product(*(space[k] for k in keys)):
        yield dict(zip(keys, values))


def _rankings(base: Ranking) -> list[Ranking]:
    """Every candidate of the hybrid mode: fusion weights and cut."""
    return [replace(base, fiche=w["fiche"], words=w["words"], feedback=w["feedback"], hybrid=Cut(**c))
            for w in _grid(WEIGHTS) for c in _grid(HYBRID)]


def _mode_cut(ranking: Ranking, mode: str, at: Sequence[tuple[Item, Callable]]) -> Cut:
    """The semantic or lexical mode's cut that does best on `at`, the hybrid constants fixed."""
    scale = ranking.words if mode == "lexical" else 1.0
    cuts = [Cut(**{k: round(v * scale, 3) for k, v in c.items()})
            for c in _grid(SEMANTIC if mode == "semantic" else LEXICAL)]
    return max(cuts, key=lambda c: _objective([_scores(i, replace(ranking, **{mode: c}), mode, lk) for i, lk in at]))


def tune(sets: Sequence[EvalSet], work: Path, encoder: Encoder, nlp: FrenchNLP, progress: bool = False,
         chunkings: Sequence[Chunking] = (DEFAULT_CHUNKING,),
         columns: dict[str, dict[str, float]] | None = None) -> TuningReport:
    """`chunkings` and `columns` (lexical column weights): the shipped ones unless others are given; both are
    fixed at build time, so another choice needs every index rebuilt (docs/QUALITY.md compares them)."""
    columns = columns or {"plates": COLUMN_WEIGHTS["plates"]}
    tuned = [s for s in sets if s.tuned]
    # Every candidate's per-item scores, computed once: the folds only choose among them.
    table: list[list[dict[str, float]]] = []
    candidates: list[tuple[Chunking, str, Ranking, list[Item], list[Callable]]] = []
    by_columns: dict[tuple[Chunking, str], list[Loaded]] = {}
    for chunking in chunkings:
        loaded = [load(s, work, encoder, nlp, chunking, progress) for s in tuned]
        for name, weights in columns.items():
            variant = [replace(ld, searcher=_with_columns(ld, work, weights, nlp, chunking)) for ld in loaded]
            by_columns[chunking, name] = variant
            items = _items(variant)
            likes = {id(ld.searcher): _liker(ld.searcher) for ld in variant}
            item_likes = [likes[id(i.searcher)] for i in items]
            for ranking in _rankings(Ranking()):
                candidates.append((chunking, name, ranking, items, item_likes))
                table.append([_scores(i, ranking, "hybrid", lk) for i, lk in zip(items, item_likes)])
            log.info("réglage : %s, colonnes %s évaluées", chunking, name)
    n = len(table[0])
    parts = mt.folds(n, FOLDS)

    def choose(train: np.ndarray) -> tuple[int, Choice]:
        k = max(range(len(table)), key=lambda c: _objective([table[c][i] for i in train]))
        chunking, name, ranking, items, likes = candidates[k]
        at = [(items[i], likes[i]) for i in train]
        ranking = replace(ranking, semantic=_mode_cut(ranking, "semantic", at),
                          lexical=_mode_cut(ranking, "lexical", at))
        return k, Choice(chunking, name, ranking)

    def measured(k: int, test: np.ndarray) -> dict[str, float]:
        """The hybrid mode's figures on held-out queries (the modes' cuts do not change them)."""
        rows = [table[k][i] for i in test]
        answered = [r for r in rows if r["answered"]]
        summary = {m: float(np.mean([r[m] for r in answered])) for m in SUMMARY}
        summary["false_empty"] = sum(r["false_empty"] for r in answered)
        summary["empty"] = sum(r.get("empty", 0) for r in rows)
        summary["noanswer"] = sum(1 for r in rows if not r["answered"])
        return summary

    folds = []
    for test in parts:
        k, choice = choose(np.setdiff1d(np.arange(n), test))
        folds.append(FoldResult(choice, measured(k, test)))
    shipped = choose(np.arange(n))[1]
    report = TuningReport(folds, shipped, n)
    _tune_similar(report, by_columns[shipped.chunking, shipped.columns])
    return report


def _tune_similar(report: TuningReport, loaded: Sequence[Loaded]) -> None:
    lists = [(ld.searcher, j) for ld in loaded for j in ld.similar]
    if not lists:
        return
    grid = [SimilarWeights(**w) for w in _grid(SIMILAR)]
    per: list[list[float]] = []
    for weights in grid:
        per.append([mt.recall(similar_order(searcher, j.query, weights), j.grades, 3) for searcher, j in lists])
    scores = np.asarray(per)
    parts = mt.folds(len(lists), FOLDS)
    for test in parts:
        train = np.setdiff1d(np.arange(len(lists)), test)
        best = int(np.argmax(scores[:, train].mean(axis=1)))
        report.similar_folds.append((grid[best], float(scores[best, test].mean())))
    report.similar_shipped = grid[int(np.argmax(scores.mean(axis=1)))]


def format_tuning(report: TuningReport) -> str:
    lines = [f"{report.queries} requêtes de tous les styles, {FOLDS} plis", "",
             ("| pli | découpage | colonnes | fiche | mots | rétroaction | coupe hybride | nDCG@10 affiché | recall@5 | "
              "rappel ens. (2) | précision ens. | vides à tort | sans réponse vides |"),
             "|---" * 13 + "|"]
    for f, r in enumerate(report.folds, start=1):
        c, t = r.chosen, r.test
        ch, rk = c.chunking, c.ranking
        lines.append(f"| {f} | {ch.words} mots, {ch.overlap} phrase, {ch.context} | {c.columns} | {rk.fiche} | "
                     f"{rk.words} | {rk.feedback} | {_cut(rk.hybrid)} | {t['ndcg@10']:.3f} | {t['recall@5']:.3f} | "
                     f"{t['set_recall_2']:.3f} | {t['set_precision']:.3f} | {int(t['false_empty'])} | {int(t['empty'])}/{int(t['noanswer'])} |")
    for m in SUMMARY[:-1]:
        lines.append(f"{m}: {mt.Spread.of([r.test[m] for r in report.folds])}")
    lines.append(f"vides à tort : {sum(int(r.test['false_empty']) for r in report.folds)} ; sans réponse vides : "
                 f"{sum(int(r.test['empty']) for r in report.folds)}/{sum(int(r.test['noanswer']) for r in report.folds)}")
    lines.append(f"\nchoisi sur toutes les requêtes : {report.shipped}")
    if report.similar_folds:
        lines.append("\nprojets comparables, recall@3 par pli : " + " ; ".join(
            f"{score:.3f} ({w})" for w, score in report.similar_folds))
        lines.append(f"recall@3 : {mt.Spread.of([s for _, s in report.similar_folds])}")
        lines.append(f"choisi sur toutes les listes : {report.similar_shipped}")
    return "\n".join(lines)


def _cut(c: Cut) -> str:
    return f"répond dès {c.answer}, marge {c.margin}, seul dès {c.alone}"
