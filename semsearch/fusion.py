"""Fusion of the lexical and dense evidence into one score per action, and the matching set it defines.

    evidence = words x L + passage x (z(best passage) - (1 - L) x chance(passages))
                         + fiche x (z(whole fiche) - (1 - L) x chance(fiches))

L is BM25 over the query's words divided by the most they could score, in [0, 1] (lexical.py); the z are in
standard deviations above the query's background (semantic.py), less what the best of the corpus's passages
or fiches reaches by chance, sqrt(2 ln n), in proportion to the share of the query the fiche does not hold:
a fiche found by meaning alone must beat chance among all of them, a fiche holding every query word is judged
on its own. Every term then keeps its meaning whatever the query and the corpus size, so the same constants can
say "this query is answered" — on 24 fiches or 10 000, where "atelier" holds thousands of fiches none of which
stands out from the others, and "apiculture" none.

Which fiches match is decided in two steps, per query. First, is the query answered at all: the best fiche's
evidence must reach `Cut.answer`, the least that told the queries nothing answers (gibberish, topics absent from
the corpus) from the others on the development sets. Then which fiches answer it: those whose evidence reaches
`Cut.alone` on its own, and those within `Cut.margin` of the best one. The margin is what keeps a query phrased as
staff phrase it ("mobiliser des bénévoles pour aider les personnes vulnérables", "familles monoparentales") from
coming back empty: words the fiche does not use ("mobiliser", a paraphrase) leave even the fiche that answers it
holding only part of the query, judged on meaning for the rest; an absolute threshold chosen on keyword queries
then dropped it, while relative to the best match it still stands out (words that only frame a request are
left out before: query.FRAMING).
In hybrid mode, once a fiche matches, every other fiche gets `feedback` x z(its similarity to the best match),
when positive: pseudo-relevance feedback, which lets the projects that resemble what was found (an editor's
"useful neighbours") join the set when their own evidence is close. They rank after every fiche the query found
by its own evidence: feedback adds, it never reorders what the query found — where one fiche answers (the
external set's questions), reordering around the best match put its look-alikes above the right answer. A query
that is not answered gets an empty set and no feedback. When something matches, the best fiches left out form a
separate, labelled tier of weaker neighbours ("voisin", ranking.NEIGHBOURS of them), never counted in `total`.
A query that is not answered is told plainly that nothing was found; in hybrid and lexical modes, when some fiches
hold one of its words, the best of them are listed in the same weaker tier ("pistes"), so that a query whose
evidence fell just short is never a dead end; gibberish, whose words no fiche holds, gets nothing.

A convex combination of normalised scores rather than reciprocal rank fusion: RRF throws the scores away,
so it cannot say when nothing matches, and on the development queries it ranked worse (docs/QUALITY.md).
Every constant below is chosen by cross-validation over queries (`semsearch eval --tune`, evaluation/tuning.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .lexical import LexicalMatches
from .semantic import SemanticMatches

MODES = ("hybrid", "semantic", "lexical")


@dataclass(frozen=True)
class Cut:
    """Where a mode's matching set starts, in units of that mode's evidence: the best fiche must reach `answer`
    for the query to be answered; then a fiche matches from `alone`, or within `margin` of the best fiche."""

    alone: float
    answer: float
    margin: float


@dataclass(frozen=True)
class Ranking:
    """The constants of the fusion: weights, then each mode's cut (docs/QUALITY.md has the cross-validation that
    chose them)."""

    passage: float = 1.0
    fiche: float = 1.0
    words: float = 3.0
    feedback: float = 2.0
    hybrid: Cut = Cut(alone=2.0, answer=-1.3, margin=3.0)
    # by meaning alone nothing told the queries nothing answers from paraphrases: every query is answered
    semantic: Cut = Cut(alone=-1.0, answer=-8.0, margin=2.0)
    # lexical evidence is words x the share of the query a fiche holds: from 0 to `words`
    lexical: Cut = Cut(alone=0.9, answer=0.3, margin=0.6)

    def cut(self, mode: str) -> Cut:
        return getattr(self, mode)


@dataclass(frozen=True)
class Fused:
    """Per action rowid: its score, and whether it is a match or may be a neighbour (the two never overlap)."""

    score: np.ndarray
    matches: np.ndarray  # bool
    found: np.ndarray  # bool: matches by its own evidence; ranked before those feedback brought in
    neighbours: np.ndarray  # bool: not a match; under an empty set, holds a query word (pistes)
    lexical: np.ndarray  # the lexical part alone (0 where no query word), for explanations
    semantic: np.ndarray  # the query's closeness in meaning alone (no chance term), for explanations
    feedback_from: int | None  # rowid of the best match whose neighbours were brought up, if any
    feedback: np.ndarray  # each action's similarity to it, in standard deviations (0 without feedback)


def evidence(mode: str, ranking: Ranking, lexical: LexicalMatches, semantic: SemanticMatches,
             size: int) -> tuple[np.ndarray, np.ndarray]:
    """(lexical part, dense part) of every action's evidence, indexed by rowid; a mode leaves out the other."""
    held = np.zeros(size)
    if mode != "semantic":
        held[lexical.ids] = lexical.scores
    dense = np.zeros(size) if mode == "lexical" else closeness(ranking, semantic, 1.0 - held)
    return ranking.words * held, dense


def closeness(ranking: Ranking, semantic: SemanticMatches, unheld: np.ndarray | float = 0.0) -> np.ndarray:
    """The dense evidence: passage and fiche closeness in standard deviations, less the best that chance reaches
    in proportion to the query's words an action does not hold (`unheld`, 0 to 1; 0: meaning alone)."""
    return ranking.passage * (semantic.passage_z - unheld * semantic.passage_chance) \
        + ranking.fiche * (semantic.fiche_z - unheld * semantic.fiche_chance)


def fuse(mode: str, ranking: Ranking, lexical: LexicalMatches, semantic: SemanticMatches, exists: np.ndarray,
         like: Callable[[np.ndarray], np.ndarray]) -> Fused:
    """The evidence of every existing action, feedback from the best match in hybrid mode, and the two tiers.

    Computed over every action, not the filtered ones: the set a filter leaves is this set intersected with
    the filter, so facet counts are exactly what ticking a value returns."""
    words, dense = evidence(mode, ranking, lexical, semantic, len(exists))
    score = np.where(exists, words + dense, -np.inf)
    meaning = np.zeros(len(exists)) if mode == "lexical" else closeness(ranking, semantic)
    cut = ranking.cut(mode)
    best = float(score.max()) if exists.any() else -np.inf
    if mode == "lexical":  # a fiche holding none of the query's words is never a lexical match
        score = np.where(words > 0, score, -np.inf)
    answered = best >= cut.answer  # never for -inf: no action
    start = min(cut.alone, best - cut.margin)
    found = (score >= start) if answered else np.zeros(len(exists), dtype=bool)
    feedback_from = None
    feedback = np.zeros(len(exists))
    if mode == "hybrid" and ranking.feedback and found.any():
        feedback_from = int(np.argmax(score))
        similarity = like(np.asarray([feedback_from]))[exists]
        spread = float(similarity.std())
        feedback[exists] = (similarity - float(similarity.mean())) / (spread if spread > 1e-9 else 1.0)
        score = np.where(found, score, score + ranking.feedback * np.maximum(feedback, 0.0))
    matches = (score >= start) if answered else found
    # Under a matching set, the best of the other fiches; under an empty one, "pistes": fiches that hold one of the
    # query's words, for a query whose evidence fell short (gibberish holds none: it gets nothing).
    neighbours = exists & ~matches & np.isfinite(score) & (matches.any() or words > 0)
    return Fused(score, matches, found, neighbours, words, meaning, feedback_from, feedback)
