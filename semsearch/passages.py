"""The evidence shown for a result: its best passage with the matched words highlighted, and where else in the
fiche the other query words were found.

Highlights come from the spans the analysis stored with each passage (analysis.Span): a word is highlighted
exactly when its index term is one a query word matched, so every highlighted word is a matched word, and the
words listed as found in the passage are exactly the highlighted ones. Query words the fiche holds elsewhere
are listed with the sections (or fields: partners, structure...) that hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from .analysis import StoredPassage
from .chunking import section_label
from .query import QueryWord
from .records import Action

# Fields the lexical index reads that no passage holds, with their French names.
FIELDS: dict[str, str] = {"dimension": "Dimension", "public": "Public", "territory": "Territoire",
                          "structure": "Structure", "department": "Département", "partners": "Partenaires",
                          "initiative": "Initiative"}


@dataclass
class Passage:
    section: str
    label: str  # French name of the section, for display
    text: str
    highlights: list[tuple[int, int]]  # character spans of the matched words

    def marked(self, start: str = "<mark>", end: str = "</mark>", *, html: bool = True) -> str:
        """The text with the matched words between `start` and `end`: by default safe HTML (the text escaped
        first, then the marks put in), with html=False plain text for a terminal."""
        quote = escape if html else str
        out, last = [], 0
        for a, b in self.highlights:
            out += [quote(self.text[last:a]), start, quote(self.text[a:b]), end]
            last = b
        return "".join(out + [quote(self.text[last:])])


@dataclass(frozen=True)
class Found:
    """A query word the fiche holds outside the passage shown, and where."""

    word: str
    places: list[str]


@dataclass
class Evidence:
    passage: Passage | None
    in_passage: list[str] = field(default_factory=list)  # query words highlighted in the passage, as it writes them
    elsewhere: list[Found] = field(default_factory=list)


def _field_text(action: Action, name: str) -> str:
    value = getattr(action, name)
    return " ; ".join(value) if isinstance(value, list) else value


def evidence(terms_of: Callable[[str], frozenset[str]], action: Action, passages: Sequence[StoredPassage],
             words: Sequence[QueryWord], held: Sequence[bool], cosines: Sequence[float] | None) -> Evidence:
    """The passage to show for a result and which query words it holds.

    `passages`: the action's, in display order (store.passages_of); `held[w]`: whether the fiche holds query
    word w (the lexical index says so); `cosines`: each passage's cosine with the query, None in lexical mode.
    The passage holding the most query words wins (the title-and-keywords passage only when no other does),
    then the closest in meaning, then the first.
    """
    if not passages:
        return Evidence(None)
    closeness = list(cosines) if cosines is not None else [0.0] * len(passages)
    wanted = [w for w, h in zip(words, held) if h]

    def holds(p: StoredPassage) -> list[QueryWord]:
        return [w for w in wanted if w.terms & p.terms]

    best = max(range(len(passages)),  # max keeps the first of equals: display order
               key=lambda i: (len(holds(passages[i])), passages[i].section != "overview", closeness[i]))
    chosen = passages[best]
    shown = holds(chosen)
    terms = set().union(*(w.terms for w in shown)) if shown else set()
    spans = chosen.spans
    text = chosen.text
    highlights = [(s.start, s.end) for s in spans if s.term in terms]
    passage = Passage(chosen.section, section_label(chosen.section), text, highlights)
    # each word as the passage first writes it ("précarité" for a query typed "precarite")
    written = [next(text[s.start:s.end].lower() for s in spans if s.term in w.terms) for w in shown]
    elsewhere = []
    for w in wanted:
        if w in shown:
            continue
        places = list(dict.fromkeys(section_label(p.section) for p in passages if w.terms & p.terms))
        places += [label for name, label in FIELDS.items()
                   if w.terms & terms_of(_field_text(action, name))]
        elsewhere.append(Found(w.text or w.surface, places or ["la fiche"]))
    return Evidence(passage, list(dict.fromkeys(written)), elsewhere)


def closest(passages: Sequence[StoredPassage], cosines: np.ndarray, terms: set[str]) -> Passage | None:
    """The passage of an action closest to another fiche (similar actions), with the words of `terms`
    highlighted; `cosines`: each passage's with that fiche's vector, in the same order."""
    if not passages:
        return None
    p = passages[int(np.argmax(cosines))]
    highlights = [(s.start, s.end) for s in p.spans if s.term in terms]
    return Passage(p.section, section_label(p.section), p.text, highlights)
