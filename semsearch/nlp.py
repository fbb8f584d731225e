"""French text analysis for building an index: sentences, and the tagged content words of the fiches.

A content word's term is the Snowball stem of the word as written, folded (precarite == précarité,
précaires -> précaire), or the word itself, singular, when the stem is too short to say anything; an
all-capital acronym (CAF, CLAS) is its own term and meets only itself (words.py). The lemma and part of
speech ("devoir/verb" vs "devoir/noun") are kept apart as the word's family: the search lets a query word
reach other terms of its family only, never another family that happens to share a lemma (query.py).

Only builds load spaCy (~4 s and ~250 MB, most of it compiling the French tokenizer's rules and importing
thinc); searches cut queries with words.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from .errors import SemsearchError
from .words import EDGES, Stemmer, Term, acronyms, clean, content_term, fold, is_caps

__all__ = ["FrenchNLP", "Term", "clean", "fold"]

# Words too common in this corpus to say anything about an action (every fiche speaks of them).
_DOMAIN_STOP = {"action", "centre", "social", "sociaux", "etc"}


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold(w) for w in STOP_WORDS) | _DOMAIN_STOP


# Word classes whose lemmas may stand for one another: "devoirs" (noun) and "devons" (verb) share the lemma
# "devoir" but are not the same word; "travaux" and "travail" (both nouns) are.
_CLASSES = {"NOUN": "n", "PROPN": "n", "ADJ": "n", "VERB": "v", "AUX": "v"}


class FrenchNLP:
    """spaCy's French pipeline, loaded with the first text analysed (~4 s; ner and senter left out)."""

    # Never run: sentences come from the parser (the model ships senter disabled) and nothing reads entities.
    UNUSED = ("ner", "senter")

    def __init__(self, model: str = "fr_core_news_sm") -> None:
        self.model = model
        self._pipeline: Any = None  # spacy.Language, once a text is analysed
        self._loading = threading.Lock()
        self.stemmer = Stemmer()
        self.stem = self.stemmer.stem

    @property
    def stop_words(self) -> frozenset[str]:
        """The analysis's stop words: never index terms (the index keeps them for cutting queries)."""
        return _stop_words()

    @property
    def _nlp(self) -> Any:
        with self._loading:
            if self._pipeline is None:
                import spacy

                try:
                    self._pipeline = spacy.load(self.model, exclude=list(self.UNUSED))
                except OSError as exc:
                    raise SemsearchError(f"le modèle spaCy {self.model!r} n'est pas installé ; lancez `make setup` "
                                         "(il installe fr-core-news-sm)") from exc
            return self._pipeline

    def sentences(self, text: str) -> list[str]:
        """Sentences of a cleaned text; a line break always ends a sentence (fiches use lines as lists)."""
        return self.sentence_splitter([text])(text)

    def sentence_splitter(self, texts: Iterable[str]) -> Callable[[str], list[str]]:
        """`sentences` for these texts, answered from one batch where each distinct line is parsed once: the
        parser is the costliest step of a build, and fiches repeat lines (lists, boilerplate)."""
        lines = list(dict.fromkeys(line for t in texts for line in clean(t).splitlines()))
        docs = self._nlp.pipe(lines, disable=["lemmatizer", "attribute_ruler", "morphologizer"])
        parsed = {line: [s.text.strip() for s in doc.sents] for line, doc in zip(lines, docs)}

        def split(text: str) -> list[str]:
            out: list[str] = []
            for line in clean(text).splitlines():
                for sentence in parsed[line]:
                    if out and not any(ch.isalnum() for ch in sentence):
                        out[-1] += sentence  # stray punctuation the parser split off
                    elif sentence:
                        out.append(sentence)
            return out

        return split

    def terms(self, text: str) -> list[Term]:
        """Content words of a text as index terms, stop words and punctuation left out."""
        return next(self.terms_many([text]))

    def terms_many(self, texts: Iterable[str]) -> Iterator[list[Term]]:
        """Batch form of `terms`: spaCy's pipe is several times faster than one call per text."""
        for doc in self._nlp.pipe((clean(t) for t in texts), disable=["parser"]):
            yield self._content(doc)

    def words_many(self, texts: Iterable[str]) -> Iterator[list[Term]]:
        """The content words of cleaned texts, without families: what a passage's spans need. A term depends on
        the word as written alone, so the tokenizer is enough (~15 times faster than tagging)."""
        for doc in self._nlp.tokenizer.pipe(texts):
            yield self._content(doc, tagged=False)

    def _content(self, doc: Any, tagged: bool = True) -> list[Term]:
        flagged = acronyms([is_caps(t.text) for t in doc], [bool(t.whitespace_) for t in doc])
        out = []
        for i, tok in enumerate(doc):
            term = content_term(tok.text, i in flagged, self.stop_words, self.stem, tok.idx)
            if term is not None and tagged:
                family = f"{fold(tok.lemma_).strip(EDGES) or term.surface}/{_CLASSES.get(tok.pos_, tok.pos_.lower())}"
                term = replace(term, family=family)
            if term is not None:
                out.append(term)
        return out
