"""Words without spaCy: clean-up, folding, stems, and a query cut into the words the fiches were cut into.

Building an index tags and lemmatises fiches with spaCy (nlp.py); a search needs only each query word's
index term, and that term depends on the word as written alone (its folded Snowball stem, or the acronym).
So the service never loads spaCy: importing it and its French rules costs ~4 s and ~250 MB per process.

What a search must reproduce is the tokenizer's cut. It is taken from the fiches themselves: a piece of a
query written as a word of the lexicon ("grand-mère", "aujourd'hui") stays whole, anything else is cut at
elisions ("d'écriture" -> "écriture"), hyphens and slashes as spaCy's French rules cut words it does not know.
tests/test_words.py checks the cut against spaCy's on every passage of the sample.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import snowballstemmer

_SPACES = re.compile(r"[ \t\u00a0\u2009\u202f]+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "\u00ad": None})
EDGES = "-'./"  # stripped from both ends of a word
MIN_STEM = 4
# A run of word characters and the joiners spaCy keeps inside a token (elisions, hyphens, dots of
# abbreviations and addresses, slashes); punctuation around it is never part of a word.
_PIECE = re.compile(r"[\w@]+(?:['\-./(][\w@]+)*[+']?")
_ELISION = re.compile(r"^(\w+')(.+)$")
# Where spaCy's French infixes cut an unknown word: hyphens, slashes, and a full stop between a lower-case and
# a capital letter ("ici.Indiquez").
_JOINERS = re.compile(r"[-/]|(?<=[a-zà-ÿ])\.(?=[A-ZÀ-Þ])")


def clean(text: str) -> str:
    """Unicode NFC, one kind of apostrophe, collapsed spaces, no control characters; keeps newlines."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    text = "".join(ch for ch in text if ch in "\n" or unicodedata.category(ch)[0] != "C")
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def fold(text: str) -> str:
    """Lower-case and strip accents: what users type when they type fast."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").replace("œ", "oe").replace("æ", "ae")


@dataclass(frozen=True)
class Term:
    """One content word of an analysed text.

    `term` is what the lexical index keys on: the Snowball stem of the folded word as written, so that a word
    meets its inflections and derivations with the same stem (précaires/précaire, accompagner/accompagnement)
    whatever the accents, or, for an acronym, the acronym itself (CAF never meets "cafés"). `family` is the
    tagger's lemma and word class ("devoir/v"): the search lets words of one family meet when their stems
    differ (travaux/travail), never across classes (devoirs/devons).
    """

    text: str  # as written, lower-cased: how the fiches spell the word
    surface: str  # folded: how a user may type it
    term: str
    family: str = ""  # "" where no tagger ran (query words)
    start: int = 0  # the word's characters in the analysed (cleaned) text
    end: int = 0

    @property
    def acronym(self) -> bool:
        return self.term.isupper()


def is_caps(text: str) -> bool:
    """Written in capitals, two letters or more: an acronym unless a space joins it to another such word."""
    return text.isupper() and sum(ch.isalpha() for ch in text) >= 2


def acronyms(caps: list[bool], spaced: list[bool]) -> set[int]:
    """Positions of the tokens written as acronyms, given whether each is in capitals and followed by a space:
    not one word of a run of capitals ("CENTRE SOCIAL", a shouted title) that a space joins to another."""
    out = set()
    for i, cap in enumerate(caps):
        joined_before = i > 0 and caps[i - 1] and spaced[i - 1]
        joined_after = i + 1 < len(caps) and caps[i + 1] and spaced[i]
        if cap and not joined_before and not joined_after:
            out.add(i)
    return out


class Stemmer:
    """The folded Snowball stem of a word, or the word itself, singular, when the stem is too short to say
    anything ("café" and "Caf", the family benefits office, both give "caf")."""

    def __init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer("french")
        self._lock = threading.Lock()  # a snowballstemmer object keeps per-call state: not thread-safe
        self.stem: Callable[[str], str] = lru_cache(maxsize=65536)(self._stem)  # words repeat a lot

    def _stem(self, word: str) -> str:
        folded = fold(word)
        with self._lock:  # service threads stem query words at once (IndexError and wrong stems seen)
            stem = self._stemmer.stemWord(folded).strip(EDGES)
        if len(stem) >= MIN_STEM:
            return stem
        single = folded.rstrip("sx")
        return single if len(single) >= 2 else folded


def content_term(text: str, acronym: bool, stop_words: Collection[str], stem: Callable[[str], str],
                 start: int = 0) -> Term | None:
    """The index term of one token as written, None for an elision, a stop word, punctuation or a number."""
    surface = fold(text)
    if surface.endswith("'"):  # an elision: l' d' qu' n' s' j' m' t' c'
        return None
    word = surface.strip(EDGES)
    if len(word) < 2 or not any(ch.isalpha() for ch in word) or word in stop_words:
        return None
    # Offsets from the token as written: folding changes lengths ("œuvre" -> "oeuvre").
    begin = start + len(text) - len(text.lstrip(EDGES))
    end = start + len(text.rstrip(EDGES))
    return Term(text.lower().strip(EDGES), word, word.upper() if acronym else stem(word), "", begin, end)


class Words:
    """A text cut into content words as the index's analysis cut the fiches, without spaCy.

    `known`: the folded words of the fiches (the lexicon's surfaces); `stop_words`: those of the analysis."""

    def __init__(self, known: Collection[str], stop_words: Collection[str], stemmer: Stemmer | None = None) -> None:
        self.known = known
        self.stop_words = frozenset(stop_words)
        self.stem = (stemmer or Stemmer()).stem
        # The terms of a short text (a fiche's partners, structure...), asked again by every search that shows it.
        self.terms_of: Callable[[str], frozenset[str]] = lru_cache(maxsize=16384)(
            lambda text: frozenset(t.term for t in self(text)))

    def _whole(self, piece: str) -> bool:
        word = fold(piece).strip(EDGES)
        return word in self.known or word in self.stop_words

    def _cut(self, piece: str, start: int) -> list[tuple[str, int]]:
        """A piece of text as tokens: the longest start of it that the fiches use as one word, then the rest the
        same way; a start they do not use ends at the first elision, hyphen or slash ("d'écriture" -> "d'",
        "écriture"; "centre-ville" -> "centre", "-ville"), where spaCy's French rules cut a word they do not know."""
        out = []
        while piece:
            ends = [m.start() for m in _JOINERS.finditer(piece, 1)] + [len(piece)]
            end = next((e for e in reversed(ends) if self._whole(piece[:e])), None)
            if end is None:
                elided = _ELISION.match(piece)
                end = len(elided.group(1)) if elided and not piece.endswith("'") else ends[0]
            out.append((piece[:end], start))
            piece, start = piece[end:], start + end
        return out

    def __call__(self, text: str) -> list[Term]:
        text = clean(text)
        tokens = [cut for m in _PIECE.finditer(text) for cut in self._cut(m.group(), m.start())]
        # A space alone between two tokens joins them; punctuation between them is a token of its own for spaCy.
        gaps = [text[s + len(t):nxt] for (t, s), (_, nxt) in pairwise(tokens)]
        flagged = acronyms([is_caps(t) for t, _ in tokens], [g.isspace() for g in gaps] + [False])
        out = []
        for i, (token, start) in enumerate(tokens):
            term = content_term(token, i in flagged, self.stop_words, self.stem, start)
            if term is not None:
                out.append(term)
        return out
