"""`semsearch eval --tune`: every constant of the ranking chosen by cross-validation over queries.

What is chosen, on the sets marked `tuned` (dev + devplus, their no-answer queries included):
  - the chunking (passage length, sentence overlap, whether a passage's vector also reads the fiche title),
  - the lexical column weights,
  - the fusion weights and the feedback weight (fusion.Ranking), with the matching threshold, since feedback
    only follows a match; then the thresholds of the semantic and lexical modes (set F1 alone),
  - the weights of similar actions (similar.SimilarWeights), on the editors' lists.
The objective on training queries is the mean nDCG@10 of the answered queries plus the mean set F1 of all
queries, a query nothing answers scoring 1 when its set is empty.  Each fold's constants are chosen on the other folds and measured on it; the constants that ship are those chosen on every query, and the spread of
the fold figures says how much to trust them. Nothing here is tuned per query or per fiche.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..chunking import Chunking
from ..encoders import Encoder
from ..fusion import Ranking
from ..nlp import FrenchNLP
from ..search import NEIGHBOURS, QueryEvidence, Searcher
from ..similar import SimilarWeights
from . import metrics as mt
from .harness import FOLDS
from .judgments import Judged
from .sets import EvalSet, Loaded, index_dir, load, recounted

log = logging.getLogger(__name__)

CHUNKINGS = tuple(Chunking(words, 1, context) for context in ("none", "title") for words in (40, 80, 120, 200))
COLUMN_WEIGHTS: dict[str, dict[str, float]] = {
    "plates": {"title": 1.0, "keywords": 1.0, "summary": 1.0, "body": 1.0},
    "titre x2": {"title": 2.0, "keywords": 2.0, "summary": 1.0, "body": 1.0},
    "titre x4": {"title": 4.0, "keywords": 3.0, "summary": 1.5, "body": 1.0},
}
WEIGHTS = {"fiche": (0.0, 0.5, 1.0, 1.5), "words": (0.5, 1.0, 2.0, 3.0, 4.0, 6.0), "feedback": (0.0, 1.0, 2.0, 3.0)}
MATCH = tuple(np.arange(-4.0, 8.01, 1.0).round(2))  # hybrid and semantic thresholds
LEXICAL_MATCH = tuple(np.arange(0.1, 1.01, 0.05).round(2))
SUMMARY = ("ndcg@10", "recall@5", "set_precision", "set_recall", "set_recall_2", "shown_recall")
SIMILAR = {"fiche": (1.0,), "words": (0.0, 0.25, 0.5, 1.0), "keywords": (0.0, 0.5, 1.0),
           "public": (0.0, 0.5, 1.0), "dimension": (0.0, 0.25, 0.5)}


@dataclass(frozen=True)
class Item:
    """A query of a tuned set, with what the searcher found for it (computed once, fused many times)."""

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
    out = []
    for s in sets:
        for j in [*s.queries, *s.noanswer]:
            out.append(Item(j, s.searcher, s.searcher.evidence(j.query, "hybrid")))
    return out


def _liker(searcher: Searcher) -> Callable[[np.ndarray], np.ndarray]:
    cache: dict[int, np.ndarray] = {}

    def like(rowids: np.ndarray) -> np.ndarray:
        key = int(rowids[0])
        if key not in cache:
            cache[key] = searcher.dense.like(rowids)
        return cache[key]

    return like


def _scores(item: Item, ranking: Ranking, mode: str, like: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    s = item.searcher
    ranked = s.order(s.fuse(item.evidence, mode, ranking, like))
    matched = ranked.ids[:ranked.matches]
    g = item.judged.grades
    out = {"f1": mt.set_f1(matched, g), "answered": float(bool(g))}
    if g:
        shown = ranked.ids[:ranked.matches + NEIGHBOURS] if ranked.matches else []
        out |= {"ndcg@10": mt.ndcg(ranked.ids, g), "recall@5": mt.recall(ranked.ids, g, 5),
                "set_precision": mt.set_precision(matched, g), "set_recall": mt.set_recall(matched, g),
                "set_recall_2": mt.set_recall(matched, g, 2), "shown_recall": mt.set_recall(shown, g)}
    else:
        out["empty"] = float(not matched)
    return out


def _objective(rows: Sequence[dict[str, float]], f1: str = "f1") -> float:
    answered = [r["ndcg@10"] for r in rows if r["answered"]]
    return (float(np.mean(answered)) if answered else 0.0) + float(np.mean([r[f1] for r in rows]))


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
    similar_folds: list[tuple[SimilarWeights, float]] = field(default_factory=list)
    similar_shipped: SimilarWeights = field(default_factory=SimilarWeights)


def _grid(space: dict[str, Sequence[float]]) -> Iterable[dict[str, float]]:
    keys = list(space)
    for values in itertools.product(*(space[k] for k in keys)):
        yield dict(zip(keys, values))


def tune(sets: Sequence[EvalSet], work: Path, encoder: Encoder, nlp: FrenchNLP, progress: bool = False,
         chunkings: Sequence[Chunking] = CHUNKINGS, columns: dict[str, dict[str, float]] = COLUMN_WEIGHTS) -> TuningReport:
    tuned = [s for s in sets if s.tuned]
    # Every candidate's per-item scores, computed once: the folds only choose among them.
    table: dict[tuple[int, str, int], list[dict[str, float]]] = {}
    candidates: list[tuple[Chunking, str, Ranking, list[Item], list[Callable]]] = []
    searchers_by_columns: dict[tuple[int, str], list[Loaded]] = {}
    for c, chunking in enumerate(chunkings):
        loaded = [load(s, work, encoder, nlp, chunking, progress) for s in tuned]
        for name, weights in columns.items():
            variant = [replace(ld, searcher=_with_columns(ld, work, weights, nlp, chunking)) for ld in loaded]
            searchers_by_columns[c, name] = variant
            items = _items(variant)
            likes = {id(ld.searcher): _liker(ld.searcher) for ld in variant}
            for w in _grid(WEIGHTS):
                for tau in MATCH:
                    ranking = Ranking(passage=1.0, fiche=w["fiche"], words=w["words"], feedback=w["feedback"],
                                      hybrid=float(tau))
                    k = len(candidates)
                    candidates.append((chunking, name, ranking, items, [likes[id(i.searcher)] for i in items]))
                    table[c, name, k] = [_scores(i, ranking, "hybrid", lk) for i, lk in zip(items, candidates[k][4])]
            log.info("réglage : %s, colonnes %s évaluées", chunking, name)
    keys = list(table)
    n = len(next(iter(table.values())))
    parts = mt.folds(n, FOLDS)

    def choose(train: np.ndarray) -> int:
        return max(range(len(keys)), key=lambda k: _objective([table[keys[k]][i] for i in train]))

    def finish(k: int, train: np.ndarray) -> Ranking:
        """The chosen candidate with the semantic and lexical modes' thresholds, chosen on train."""
        ranking, items, likes = candidates[keys[k][2]][2:]
        at = [(items[i], likes[i]) for i in train]

        def threshold(mode: str, grid: Sequence[float]) -> float:
            return max(grid, key=lambda t: float(np.mean([_scores(i, replace(ranking, **{mode: t}), mode, lk)["f1"]
                                                          for i, lk in at])))

        return replace(ranking, semantic=threshold("semantic", MATCH),
                       lexical=threshold("lexical", [t * ranking.words for t in LEXICAL_MATCH]))

    folds = []
    everything = np.arange(n)
    for test in parts:
        train = np.setdiff1d(everything, test)
        k = choose(train)
        ranking = finish(k, train)
        chunking, name = candidates[keys[k][2]][:2]
        rows = table[keys[k]]
        tested = [rows[i] for i in test]
        answered = [r for r in tested if r["answered"]]
        summary = {m: float(np.mean([r[m] for r in answered])) for m in SUMMARY}
        summary["empty"] = sum(r.get("empty", 0) for r in tested)
        summary["noanswer"] = sum(1 for r in tested if not r["answered"])
        folds.append(FoldResult(Choice(chunking, name, ranking), summary))
    k = choose(everything)
    shipped = Choice(*candidates[keys[k][2]][:2], finish(k, everything))
    report = TuningReport(folds, shipped)
    _tune_similar(report, searchers_by_columns[chunkings.index(shipped.chunking), shipped.columns])
    return report


def _tune_similar(report: TuningReport, loaded: Sequence[Loaded]) -> None:
    lists = [(ld.searcher, j) for ld in loaded for j in ld.similar]
    if not lists:
        return
    grid = [SimilarWeights(**w) for w in _grid(SIMILAR)]
    per: list[list[float]] = []
    for weights in grid:
        per.append([mt.recall(searcher.similar_order(j.query, weights), j.grades, 3) for searcher, j in lists])
    scores = np.asarray(per)
    parts = mt.folds(len(lists), FOLDS)
    for test in parts:
        train = np.setdiff1d(np.arange(len(lists)), test)
        best = int(np.argmax(scores[:, train].mean(axis=1)))
        report.similar_folds.append((grid[best], float(scores[best, test].mean())))
    report.similar_shipped = grid[int(np.argmax(scores.mean(axis=1)))]


def format_tuning(report: TuningReport) -> str:
    lines = [("| pli | découpage | colonnes | fiche | mots | rétroaction | seuil | nDCG@10 | recall@5 | "
              "précision ens. | rappel ens. | rappel ens. (2) | rappel ens. + voisins | sans réponse vides |"),
             "|---" * 14 + "|"]
    for f, r in enumerate(report.folds, start=1):
        c, t = r.chosen, r.test
        ch = c.chunking
        lines.append(f"| {f} | {ch.words} mots, {ch.overlap} phrase, {ch.context} | {c.columns} | {c.ranking.fiche} | "
                     f"{c.ranking.words} | {c.ranking.feedback} | {c.ranking.hybrid} | {t['ndcg@10']:.3f} | "
                     f"{t['recall@5']:.3f} | {t['set_precision']:.3f} | {t['set_recall']:.3f} | "
                     f"{t['set_recall_2']:.3f} | {t['shown_recall']:.3f} | {int(t['empty'])}/{int(t['noanswer'])} |")
    for m in SUMMARY:
        lines.append(f"{m}: {mt.Spread.of([r.test[m] for r in report.folds])}")
    lines.append(f"sans réponse vides : {sum(int(r.test['empty']) for r in report.folds)}/"
                 f"{sum(int(r.test['noanswer']) for r in report.folds)}")
    lines.append(f"\nchoisi sur toutes les requêtes : {report.shipped}")
    if report.similar_folds:
        lines.append("\nprojets comparables, recall@3 par pli : " + " ; ".join(
            f"{score:.3f} ({w})" for w, score in report.similar_folds))
        lines.append(f"recall@3 : {mt.Spread.of([s for _, s in report.similar_folds])}")
        lines.append(f"choisi sur toutes les listes : {report.similar_shipped}")
    return "\n".join(lines)
