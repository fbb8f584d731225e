"""French text analysis: clean-up, sentences, and the folded stems the lexical index is built on.

The lexical side indexes `fold(snowball(lemma))` for every content word, so inflections meet
(précaires -> précaire), accents don't matter (precarite == précarité), and derivations that
Snowball leaves one letter apart (précar/précair) meet through the search's typo tolerance.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
import spacy
from spacy.lang.fr.stop_words import STOP_WORDS

from .errors import SemsearchError

_SPACES = re.compile(r"[ \t\u00a0\u2009\u202f]+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "\u00ad": None})
# Words too common in this corpus to say anything about an action (every fiche speaks of them).
_DOMAIN_STOP = {"action", "centre", "social", "sociaux", "etc"}


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


_FOLDED_STOP = frozenset(fold(w) for w in STOP_WORDS) | _DOMAIN_STOP


@dataclass(frozen=True)
class Term:
    """One content word: as written (lower-cased), folded (for matching and highlighting), and its index term."""

    text: str
    surface: str
    term: str


class FrenchNLP:
    """spaCy's French pipeline, loaded once and shared by indexing and querying."""

    def __init__(self, model: str = "fr_core_news_sm") -> None:
        try:
            self._nlp = spacy.load(model, disable=["ner"])
        except OSError as exc:
            raise SemsearchError(
                f"spaCy pipeline {model!r} is not installed; run `make setup` (it installs fr-core-news-sm)"
            ) from exc
        self.model = model
        self._stemmer = snowballstemmer.stemmer("french")
        self.stem = lru_cache(maxsize=65536)(self._stem)  # per instance: words repeat a lot in a corpus

    def sentences(self, text: str) -> list[str]:
        """Sentences of a cleaned text; a line break always ends a sentence (fiches use lines as lists)."""
        out: list[str] = []
        lines = clean(text).splitlines()
        for doc in self._nlp.pipe(lines, disable=["lemmatizer", "attribute_ruler", "morphologizer"]):
            for sent in doc.sents:
                text = sent.text.strip()
                if out and not any(ch.isalnum() for ch in text):
                    out[-1] += text  # stray punctuation the parser split off
                elif text:
                    out.append(text)
        return out

    def terms(self, text: str) -> list[Term]:
        """Content words of a text as index terms, stop words and punctuation left out."""
        return next(self.terms_many([text]))

    def terms_many(self, texts: Iterable[str]) -> Iterator[list[Term]]:
        """Batch form of `terms`: spaCy's pipe is several times faster than one call per text."""
        for doc in self._nlp.pipe((clean(t) for t in texts), disable=["parser"]):
            yield [t for t in (self._term(tok.text, tok.lemma_) for tok in doc) if t is not None]

    def _term(self, text: str, lemma: str) -> Term | None:
        surface = fold(text)
        if surface.endswith("'"):  # an elision: l' d' qu' n' s' j' m' t' c'
            return None
        word = surface.strip("-'.")
        if len(word) < 2 or not any(ch.isalpha() for ch in word) or word in _FOLDED_STOP:
            return None
        return Term(text=text.lower().strip("-'."), surface=word, term=self.stem(lemma or text))

    def _stem(self, word: str) -> str:
        """Folded Snowball stem of a lemma; stemming before folding keeps Snowball's accent rules."""
        return fold(self._stemmer.stemWord(word.lower())).strip("-'.")
