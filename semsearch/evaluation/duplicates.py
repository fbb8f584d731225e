"""Labelled pairs for the near-duplicate report (semsearch.duplicates), and the choice of its threshold.

Positives are edited copies of the sample's real fiches, made here by program (seeded, so the same every run):
each fiche gets one copy with one kind of edit, the kinds dealt round the fiches in a shuffled order:
    year       every year in the summary and description moved on by one (a yearly re-submission),
    added      a sentence added at the end of the summary,
    removed    one sentence of the summary removed (the longest summary sentence kept),
    words      three words of the summary replaced by others of the same fiche,
    partner    a partner added to "Avec qui cette action a-t-elle été menée ?",
    typos      four typos (two letters swapped) in the summary,
    resubmit   year, added and partner together.
Negatives are every other pair of the index (original and copy fiches of different actions): among them the
pairs of distinct sample fiches on the same theme, which the fiche-vector candidates bring up first.
The copies keep their original's title, so their ids get a "-2" suffix only when the structure also matches.

`python -m semsearch.evaluation.duplicates [--work DIR]` builds the index of the sample and its copies (about
two minutes), prints precision and recall by threshold and the threshold of best F1 (docs/QUALITY.md).
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..corpus import Corpus, make_ids
from ..duplicates import DuplicatePair
from ..records import Action

SEED = 17
KINDS = ("year", "added", "removed", "words", "partner", "typos", "resubmit")
ADDED_SENTENCES = (
    "L'action a été reconduite cette année avec le même groupe d'habitants.",
    "Un bilan a été présenté au conseil d'administration du centre social.",
    "De nouveaux bénévoles ont rejoint l'équipe en cours d'année.",
)
PARTNERS = ("Caisse d'Allocations Familiales", "Mairie", "Conseil départemental", "Association de quartier")
_YEAR = re.compile(r"\b(20[0-3]\d)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\b[^\W\d_]{5,}\b")


def edit(action: Action, kind: str, rng: random.Random) -> Action:
    """A copy of `action` with one kind of edit (KINDS); the copy has no id yet."""
    a = replace(action, id="", keywords=list(action.keywords), partners=list(action.partners))
    summary = a.summary
    if kind in ("year", "resubmit"):
        def later(text: str) -> str:
            return _YEAR.sub(lambda m: str(int(m.group(1)) + 1), text)
        a.summary, a.description = later(a.summary), later(a.description)
        if a.summary == summary:  # no year to move on: the date is added, as a re-submission would
            a.summary = f"{a.summary} (édition {2023 + rng.randrange(3)})"
    if kind in ("added", "resubmit"):
        a.summary = f"{a.summary} {rng.choice(ADDED_SENTENCES)}".strip()
    if kind in ("partner", "resubmit"):
        a.partners.append(rng.choice([p for p in PARTNERS if p not in a.partners]))
    if kind == "removed":
        sentences = _SENTENCE.split(summary)
        if len(sentences) > 1:
            keep = max(range(len(sentences)), key=lambda i: len(sentences[i]))
            drop = rng.choice([i for i in range(len(sentences)) if i != keep])
            a.summary = " ".join(s for i, s in enumerate(sentences) if i != drop)
        else:  # one sentence: its last third goes
            words = summary.split()
            a.summary = " ".join(words[:max(1, 2 * len(words) // 3)])
    if kind == "words":
        words = list(_WORD.finditer(summary))
        pool = sorted({m.group() for m in _WORD.finditer(a.description or summary)})
        chosen = sorted(rng.sample(range(len(words)), min(3, len(words))), reverse=True)
        text = summary
        for i in chosen:
            m = words[i]
            text = text[:m.start()] + rng.choice(pool) + text[m.end():]
        a.summary = text
    if kind == "typos":
        text = list(summary)
        spots = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
        for i in rng.sample(spots, min(4, len(spots))):
            text[i], text[i + 1] = text[i + 1], text[i]
        a.summary = "".join(text)
    return a


@dataclass(frozen=True)
class Labelled:
    corpus: Corpus  # the sample's fiches, then one edited copy of each
    positives: set[frozenset[str]]  # {original id, copy id} of each copy
    kinds: dict[frozenset[str], str]  # the edit of each positive


def labelled_corpus(corpus: Corpus, seed: int = SEED) -> Labelled:
    """The sample and one edited copy of each of its fiches, and which pairs are duplicates."""
    rng = random.Random(seed)
    originals = list(corpus.actions)
    order = list(range(len(originals)))
    rng.shuffle(order)
    kinds = {i: KINDS[n % len(KINDS)] for n, i in enumerate(order)}
    copies = [edit(a, kinds[i], rng) for i, a in enumerate(originals)]
    actions = [replace(a) for a in originals] + copies
    for action, action_id in zip(actions, make_ids(actions), strict=True):
        action.id = action_id
    n = len(originals)
    positives = {frozenset((actions[i].id, actions[n + i].id)) for i in range(n)}
    labels = {frozenset((actions[i].id, actions[n + i].id)): kinds[i] for i in range(n)}
    return Labelled(Corpus(actions, corpus.source, corpus.checksum + "-copies"), positives, labels)


@dataclass(frozen=True)
class Point:
    threshold: float
    listed: int
    true: int
    precision: float
    recall: float
    f1: float


def sweep(scored: list[DuplicatePair], positives: set[frozenset[str]], steps: int = 100) -> list[Point]:
    """Precision and recall of the pairs listed at each threshold 0.00, 0.01, … 1.00 (a listed pair is right when
    it is one of the positives; positives never scored count as missed)."""
    out = []
    for step in range(steps + 1):
        t = step / steps
        listed = [frozenset((p.first.id, p.second.id)) for p in scored if p.score >= t]
        true = sum(pair in positives for pair in listed)
        precision = true / len(listed) if listed else 1.0
        recall = true / len(positives)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(Point(t, len(listed), true, precision, recall, f1))
    return out


def best(points: list[Point]) -> Point:
    """The threshold of best F1; among equals, the middle of the run (furthest from both kinds of error)."""
    top = max(p.f1 for p in points)
    ties = [p for p in points if p.f1 == top]
    return ties[len(ties) // 2]


def main(argv: list[str] | None = None) -> None:
    from ..config import ROOT, Settings
    from ..corpus import load_actions
    from ..duplicates import DuplicateFinder
    from ..encoders import load_encoder
    from ..index import build_index
    from ..loading import load_index
    from ..nlp import FrenchNLP

    parser = argparse.ArgumentParser(description="Seuil du rapport de doublons, choisi sur des paires étiquetées.")
    parser.add_argument("--work", type=Path, help="dossier de l'index (défaut : un dossier temporaire)")
    parser.add_argument("--source", type=Path, default=ROOT / "data" / "actions-maine-et-loire.txt")
    args = parser.parse_args(argv)
    labelled = labelled_corpus(load_actions(args.source))
    work = args.work or Path(tempfile.mkdtemp(prefix="duplicates-"))
    settings = Settings()
    encoder = load_encoder(settings.encoder, settings.models_dir, passage_threads=None, device=settings.device)
    build_index(labelled.corpus, work, encoder, FrenchNLP(settings.spacy_model), progress=False)
    index = load_index(work, encoder.name)
    scored = DuplicateFinder(index).scored
    found = {frozenset((p.first.id, p.second.id)): p for p in scored}
    n = len(labelled.corpus.actions)
    print(f"{n} fiches, {len(labelled.positives)} paires positives, {n * (n - 1) // 2 - len(labelled.positives)} "
          f"paires négatives, {len(scored)} paires candidates")
    for pair, kind in sorted(labelled.kinds.items(), key=lambda item: item[1]):
        p = found.get(pair)
        said = "non candidate" if p is None else f"{p.score:.3f} (cos {p.cosine:.3f}, termes {p.terms:.3f}, " \
                                                 f"résumé {p.summary:.3f})"
        print(f"  + {kind:9} {said}")
    negatives = [p for p in scored if frozenset((p.first.id, p.second.id)) not in labelled.positives]
    for p in negatives[:8]:
        print(f"  - {p.score:.3f} (cos {p.cosine:.3f}, termes {p.terms:.3f}, résumé {p.summary:.3f}) "
              f"{p.first.title[:30]!r} / {p.second.title[:30]!r}")
    originals = {a.id for a in labelled.corpus.actions[:n // 2]}
    hard = [p for p in negatives if {p.first.id, p.second.id} <= originals]
    print(f"négatives candidates : {len(negatives)}, dont {len(hard)} paires de fiches distinctes de l'échantillon ; "
          f"score le plus haut {max((p.score for p in negatives), default=0):.3f} ; positive la plus basse "
          f"{min(p.score for p in found.values() if frozenset((p.first.id, p.second.id)) in labelled.positives):.3f}")
    points = sweep(scored, labelled.positives)
    for point in points:
        if point.threshold * 20 == int(point.threshold * 20):
            print(f"  seuil {point.threshold:.2f} : {point.listed} listées, précision {point.precision:.3f}, "
                  f"rappel {point.recall:.3f}, F1 {point.f1:.3f}")
    chosen = best(points)
    print(f"meilleur F1 : seuil {chosen.threshold:.2f}, précision {chosen.precision:.3f}, rappel {chosen.recall:.3f}, "
          f"F1 {chosen.f1:.3f} ({chosen.true}/{chosen.listed})")
    runs = [p for p in points if p.f1 == chosen.f1]
    print(f"même F1 de {runs[0].threshold:.2f} à {runs[-1].threshold:.2f}")


if __name__ == "__main__":
    main()
