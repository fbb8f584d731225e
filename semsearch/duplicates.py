"""Near duplicates for the federation: fiches that are the same action sent twice, or copied with small edits
(a yearly re-submission with a new date, a sentence more, a partner added).

Candidates come from what the index already holds: for each fiche, the NEIGHBOURS others whose fiche vectors
(the whole text's, cosine) are closest, by a matrix product in blocks (a few thousand fiches at most). Each
candidate pair then gets one score in [0, 1], the mean of three measures that see different edits:
    - the cosine of the two fiche vectors (the meaning of the whole fiche),
    - the Jaccard index of their lexical term sets (the index terms of title, keywords, summary and body),
    - the character similarity of their summaries (rapidfuzz's normalised Indel ratio; of their whole texts
      when a summary is empty).
Two fiches on the same theme written by two centres share meaning (cosine ~0.9) but few terms and little of
their summaries; an edited copy shares nearly everything. DEFAULT_THRESHOLD was chosen on labelled pairs built
from the sample (docs/QUALITY.md, `python -m semsearch.evaluation.duplicates`).

Exact duplicates never reach the index: the parser collapses them (corpus.py) and the manifest keeps their
export lines (Manifest.duplicate_lines); the report lists them first, with score 1.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from rapidfuzz import fuzz

from . import export as fmt
from . import store
from .chunking import whole_text
from .errors import InvalidQuery
from .loading import Index
from .records import Action
from .vectors import normalise

# Chosen on the labelled pairs of docs/QUALITY.md ("Doublons") as the threshold of best F1; see there.
DEFAULT_THRESHOLD = 0.69
NEIGHBOURS = 10  # candidates per fiche, by fiche-vector cosine
MIN_COSINE = 0.75  # below this no pair is a duplicate, whatever the other measures say
BLOCK = 1024  # rows of the cosine matrix computed at once (1024 x 10 000 float32: 40 MB)
DIFF_LINES = 6  # lines of the summaries' diff shown per pair
DIFF_CHARS = 160  # characters of one diff line at most
EXACT, NEAR = "exact", "proche"

# French label of each compared field: the export's own (export.LABELS), with the two the export has no label for.
FIELD_LABELS: dict[str, str] = {"title": "Titre", **fmt.LABEL_OF, "department": "Département"}


@dataclass(frozen=True)
class DuplicateFiche:
    """One side of a pair: the fiche in the index, or a record the parser collapsed (its id is then that of
    the fiche it copies)."""

    id: str
    title: str
    structure: str
    line: int | None = None  # line of the record in the export, known for exact duplicates only


@dataclass(frozen=True)
class DuplicatePair:
    kind: str  # EXACT (collapsed at parse time) or NEAR
    score: float  # 1 for exact duplicates
    first: DuplicateFiche
    second: DuplicateFiche
    cosine: float  # the three measures the score is the mean of
    terms: float
    summary: float
    fields: list[str]  # French labels of the fields that differ
    diff: list[str]  # the summaries' differences, a few lines: "- removed words", "+ added words"


@dataclass(frozen=True)
class DuplicateReport:
    threshold: float
    total: int  # pairs at or above the threshold, exact duplicates included
    offset: int
    limit: int
    source: str  # the export the index was built from
    pairs: list[DuplicatePair]


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:  # NaN too: it compares false
        raise InvalidQuery("threshold", "doit être un nombre entre 0 et 1")
    return float(threshold)


def score(cosine: float, terms: float, summary: float) -> float:
    """One similarity in [0, 1]: the plain mean of the three measures (none is trusted more than another)."""
    return (max(cosine, 0.0) + terms + summary) / 3


def candidates(matrix: np.ndarray, k: int = NEIGHBOURS, floor: float = MIN_COSINE) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cosine) of rows of `matrix` (unit vectors), i < j, where one is among the other's k nearest
    and their cosine is at least `floor`; each pair once, in (i, j) order."""
    n = len(matrix)
    k = min(k, n - 1)
    found: dict[tuple[int, int], float] = {}
    if k < 1:
        return []
    for start in range(0, n, BLOCK):
        block = matrix[start:start + BLOCK] @ matrix.T
        rows = np.arange(len(block))
        block[rows, rows + start] = -np.inf  # never itself
        near = np.argpartition(-block, k - 1, axis=1)[:, :k]
        for r, columns in enumerate(near.tolist()):
            i = r + start
            for j in columns:
                cos = float(block[r, j])
                if cos >= floor:
                    found[(min(i, j), max(i, j))] = cos
    return [(i, j, cos) for (i, j), cos in sorted(found.items())]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index of two sorted arrays of unique term ids."""
    if not len(a) and not len(b):
        return 1.0
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


def summary_similarity(a: str, b: str) -> float:
    """rapidfuzz's normalised Indel similarity of two summaries, spaces normalised, in [0, 1]."""
    a, b = " ".join(a.split()), " ".join(b.split())
    if not a and not b:
        return 1.0
    return fuzz.ratio(a, b) / 100


def differing_fields(a: Action, b: Action) -> list[str]:
    """French labels of the fields whose values differ, in the fiche's order (spaces and list order aside)."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("id")
        d.update({f"evaluation.{k}": v for k, v in d.pop("evaluation").items()})
        d.update({f"extra.{k}": v for k, v in d.pop("extra").items()})
    out = []
    for name in dict.fromkeys([*da, *db]):
        if _normal(da.get(name, "")) != _normal(db.get(name, "")):
            out.append(FIELD_LABELS.get(name, name.removeprefix("extra.")))
    return out


def _normal(value: object) -> object:
    if isinstance(value, list):
        return sorted(" ".join(v.split()) for v in value)
    return " ".join(str(value).split())


def summary_diff(a: str, b: str, lines: int = DIFF_LINES) -> list[str]:
    """The words removed from summary `a` ("- …") and added in `b` ("+ …"), one run a line, the first few."""
    old, new = a.split(), b.split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            out.append("- " + textwrap.shorten(" ".join(old[i1:i2]), DIFF_CHARS, placeholder=" …"))
        if op in ("replace", "insert"):
            out.append("+ " + textwrap.shorten(" ".join(new[j1:j2]), DIFF_CHARS, placeholder=" …"))
    if len(out) > lines:
        out = out[:lines - 1] + [f"… et {len(out) - lines + 1} autre(s) différence(s)"]
    return out


class DuplicateFinder:
    """Every candidate pair of an index scored once (on the first report), then cut at each report's threshold."""

    def __init__(self, index: Index) -> None:
        self.index = index

    @cached_property
    def rowids(self) -> dict[str, int]:
        return {id_: rowid for rowid, id_, _, _ in store.action_rows(self.index.db)}

    @cached_property
    def scored(self) -> list[DuplicatePair]:
        """Every near-duplicate candidate with its score, best first; without the fields that differ and the diff
        (`detailed` adds them to the pairs of a page: a diff costs a millisecond, and 10 000 fiches give 50 000
        candidates)."""
        index = self.index
        ids = index.fiche_ids
        pairs = candidates(normalise(index.fiche_matrix))
        if not pairs:
            return []
        rows = sorted({int(ids[i]) for i, _, _ in pairs} | {int(ids[j]) for _, j, _ in pairs})
        actions = dict(zip(rows, store.records(index.db, rows), strict=True))
        terms = _term_sets(index, rows)
        out = []
        for i, j, cos in pairs:
            a, b = actions[int(ids[i])], actions[int(ids[j])]
            t = jaccard(terms[int(ids[i])], terms[int(ids[j])])
            s = summary_similarity(a.summary, b.summary) if a.summary.strip() and b.summary.strip() \
                else summary_similarity(whole_text(a), whole_text(b))  # one summary empty: the whole fiches
            out.append(DuplicatePair(NEAR, round(score(cos, t, s), 4), _side(a), _side(b), round(cos, 4),
                                     round(t, 4), round(s, 4), [], []))  # fields and diff: for a page only
        out.sort(key=lambda p: (-p.score, p.first.id, p.second.id))
        return out

    def exact(self) -> list[DuplicatePair]:
        """The exact duplicates the parser collapsed, from the manifest's lines (fiches still in the index)."""
        lines = self.index.manifest.duplicate_lines
        if not lines:
            return []
        known = self.rowids
        out = []
        for action_id, (first, *others) in sorted(lines.items(), key=lambda item: item[1][0]):
            if action_id not in known:
                continue
            action = store.record(self.index.db, known[action_id])
            kept = _side(action, first)
            out.extend(DuplicatePair(EXACT, 1.0, kept, _side(action, line), 1.0, 1.0, 1.0, [], [])
                       for line in others)
        return out

    def report(self, threshold: float = DEFAULT_THRESHOLD, limit: int = 20, offset: int = 0) -> DuplicateReport:
        """The pairs at or above `threshold`, one page of them (the searcher checks the page's bounds)."""
        threshold = check_threshold(threshold)
        listed = self.exact() + [p for p in self.scored if p.score >= threshold]
        return DuplicateReport(threshold, len(listed), offset, limit, _source(self.index.manifest.source),
                               [self.detailed(p) for p in listed[offset:offset + limit]])

    def detailed(self, pair: DuplicatePair) -> DuplicatePair:
        """A near pair with the fields that differ and the summaries' diff."""
        if pair.kind == EXACT:
            return pair
        a, b = (store.record(self.index.db, self.rowids[side.id]) for side in (pair.first, pair.second))
        return replace(pair, fields=differing_fields(a, b), diff=summary_diff(a.summary, b.summary))


def _side(action: Action, line: int | None = None) -> DuplicateFiche:
    return DuplicateFiche(action.id, action.title, action.structure, line)


def _source(path: str) -> str:
    """The export's file name: a report never names a directory of the server."""
    return re.split(r"[/\\]", path)[-1]


def _term_sets(index: Index, rowids: list[int]) -> dict[int, np.ndarray]:
    """Sorted unique term ids of some actions, from the lexical postings (term -> actions) turned around."""
    postings = index.postings
    term_of = np.repeat(np.arange(len(postings.terms)), np.diff(postings.offsets))
    owners = postings.actions.astype(np.int64)
    keep = np.isin(owners, np.asarray(rowids, dtype=np.int64))
    owners, term_of = owners[keep], term_of[keep]
    order = np.lexsort((term_of, owners))
    owners, term_of = owners[order], term_of[order]
    bounds = np.searchsorted(owners, rowids + [np.iinfo(np.int64).max])
    return {r: term_of[bounds[k]:bounds[k + 1]] for k, r in enumerate(rowids)}
