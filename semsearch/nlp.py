"""French text analysis: clean-up, sentences, and the terms the lexical index is built on.

A content word's term is the Snowball stem of the word as written, folded (precarite == précarité,
précaires -> précaire), or the word itself, singular, when the stem is too short to say anything; an
all-capital acronym (CAF, CLAS) is its own term and meets only itself. The lemma and part of speech
("devoir/verb" vs "devoir/noun") are kept apart as the word's family: the search lets a query word reach
other terms of its family only, never another family that happens to share a lemma (query.py).
"""

from __future__ import annotations

import _sre
import hashlib
import importlib.util
import logging
import marshal
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from re import _compiler, _parser  # type: ignore[attr-defined]
from types import ModuleType
from typing import Any

import snowballstemmer

from .errors import SemsearchError

log = logging.getLogger(__name__)

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


def _import_spacy() -> ModuleType:
    """spaCy, imported on first use rather than with this module: `clean` and `fold` serve the search, the
    CLI and uvicorn's parent process, and spaCy costs 0.7 s to import (its French 3 s more, see below).

    torch is hidden from the import: thinc imports it when installed (1.2 s, ~180 MB resident) for model types
    this pipeline does not use. Not safe while another thread imports torch; a later `import torch` works.
    """
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
    try:
        import spacy
    finally:
        if sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return spacy


def _tokenizer_file(model: str) -> Path | None:
    """The pipeline's serialised tokenizer, found without importing spaCy: in a directory or a package."""
    root = Path(model)
    if not root.is_dir():
        spec = importlib.util.find_spec(model)
        if spec is None or not spec.submodule_search_locations:
            return None
        root = Path(next(iter(spec.submodule_search_locations)))
    return next((f for f in [root / "tokenizer", *root.glob("*/tokenizer")] if f.is_file()), None)


def _compiled_token_match(pattern: str, cache_dir: Path) -> re.Pattern[str]:
    """`re.compile(pattern)`, from cache_dir when an earlier process compiled it with this Python.

    What re._compiler.compile does, with the compiled program kept in a file: spaCy's French token_match is
    one 1.4 MB pattern that `re` takes 3 s to compile (of a 4.3 s FrenchNLP()), in every process; read back: 20 ms.
    """
    key = hashlib.sha256(f"{sys.version}\0{_sre.MAGIC}\0{pattern}".encode()).hexdigest()[:24]
    file = cache_dir / f"regex-{key}.marshal"
    try:
        args: Any = marshal.loads(file.read_bytes())
        return _sre.compile(pattern, *args)
    except (OSError, EOFError, ValueError, TypeError, RuntimeError):  # absent, or not what this Python wrote
        pass
    parsed = _parser.parse(pattern, 0)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, group in parsed.state.groupdict.items():
        indexgroup[group] = name
    args = (parsed.state.flags, [int(op) for op in _compiler._code(parsed, 0)], parsed.state.groups - 1,
            dict(parsed.state.groupdict), tuple(indexgroup))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps(args))
        partial.replace(file)  # atomic: workers starting together never read half a file
    except OSError as exc:
        log.info("cannot keep the compiled tokenizer regex in %s: %s", cache_dir, exc)
    return _sre.compile(pattern, *args)


def _precompile_token_match(model: str, cache_dir: Path | None = None) -> None:
    """Put the pipeline's token_match, compiled, in `re`'s cache, where spaCy's `re.compile` of the same
    pattern finds it (at `import spacy.lang.fr`, and when the tokenizer loads). Uses CPython's own regex
    compiler internals (identical in 3.11 to 3.13), so anything unexpected leaves spaCy to compile it."""
    try:
        import srsly  # spaCy's serialisation library, light without spaCy

        file = _tokenizer_file(model)
        pattern = srsly.msgpack_loads(file.read_bytes()).get("token_match") if file else None
        if isinstance(pattern, str):
            cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semsearch"
            re._cache[(str, pattern, 0)] = _compiled_token_match(pattern, cache_dir)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - only a shortcut: spaCy compiles the pattern anyway
        log.info("tokenizer regex not precompiled: %s", exc)


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold(w) for w in STOP_WORDS) | _DOMAIN_STOP


# Word classes whose lemmas may stand for one another: "devoirs" (noun) and "devons" (verb) share the lemma
# "devoir" but are not the same word; "travaux" and "travail" (both nouns) are.
_EDGES = "-'./"  # stripped from both ends of a word
MIN_STEM = 4
_CLASSES = {"NOUN": "n", "PROPN": "n", "ADJ": "n", "VERB": "v", "AUX": "v"}


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


def _acronyms(tokens: Any) -> set[int]:
    """Positions of the tokens written as acronyms: all capitals, two letters or more, and not one word of a
    run of capitals ("CENTRE SOCIAL", a shouted title) that a space joins to another such word."""
    caps = [t.text.isupper() and sum(ch.isalpha() for ch in t.text) >= 2 for t in tokens]
    out = set()
    for i, tok in enumerate(tokens):
        joined_before = i > 0 and caps[i - 1] and bool(tokens[i - 1].whitespace_)
        joined_after = i + 1 < len(tokens) and caps[i + 1] and bool(tok.whitespace_)
        if caps[i] and not joined_before and not joined_after:
            out.add(i)
    return out


class FrenchNLP:
    """spaCy's French pipeline, loaded once and shared by indexing and querying.

    Queries need only the tokenizer (`words`): 0.3 s and 24 MB to load. The components that analyse fiches
    (1.2-1.7 s, 190 MB, 120 MB of it the lemmatizer's lookup table) load with the first text analysed.
    """

    # Never run: sentences come from the parser (the model ships senter disabled) and nothing reads entities.
    UNUSED = ("ner", "senter")
    # What `words` does without; a component of another pipeline missing here is loaded, never run.
    ANALYSIS = ("tok2vec", "morphologizer", "tagger", "parser", "attribute_ruler", "lemmatizer")

    def __init__(self, model: str = "fr_core_news_sm") -> None:
        self._spacy = _import_spacy()
        self.model = model
        self._tokenizer = self._load(self.UNUSED + self.ANALYSIS).tokenizer
        self._analyser: Any = None  # spacy.Language, once a text is analysed
        self._loading = threading.Lock()
        self.stop_words = _stop_words()
        self._stemmer = snowballstemmer.stemmer("french")
        self._stemmer_lock = threading.Lock()  # a snowballstemmer object keeps per-call state: not thread-safe
        self.stem = lru_cache(maxsize=65536)(self._stem)  # per instance: words repeat a lot in a corpus
        # The index terms of a short text (a fiche's partners, structure...), asked again by every search that shows it.
        self.word_terms = lru_cache(maxsize=16384)(lambda text: frozenset(t.term for t in self.words(text)))

    def _load(self, exclude: tuple[str, ...]) -> Any:
        _precompile_token_match(self.model)  # again for the second load: re's cache may have dropped it
        try:
            return self._spacy.load(self.model, exclude=list(exclude))
        except OSError as exc:
            raise SemsearchError(
                f"spaCy pipeline {self.model!r} is not installed; run `make setup` (it installs fr-core-news-sm)"
            ) from exc

    @property
    def _nlp(self) -> Any:
        """The analysing pipeline (tagger, parser, lemmatizer), loaded by the first text analysed (~1 s)."""
        with self._loading:
            if self._analyser is None:
                self._analyser = self._load(self.UNUSED)
            return self._analyser

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
            yield self._content(doc, tagged=True)

    def words(self, text: str) -> list[Term]:
        """Content words cut by the tokenizer alone, with the same index terms as `terms` gives them.

        For queries: the tagger and lemmatizer cost ~2 ms of a search and a 3-word query gives them no
        context. A term depends only on the word as written (and its capitals), so the tokenizer is enough;
        the search finds a query word's families in the lexicon of the fiches.
        """
        return self._content(self._tokenizer(clean(text)), tagged=False)

    def _content(self, doc: Any, tagged: bool) -> list[Term]:
        acronyms = _acronyms(doc)
        out = []
        for i, tok in enumerate(doc):
            surface = fold(tok.text)
            if surface.endswith("'"):  # an elision: l' d' qu' n' s' j' m' t' c'
                continue
            word = surface.strip(_EDGES)
            if len(word) < 2 or not any(ch.isalpha() for ch in word) or word in self.stop_words:
                continue
            # Offsets from the token as written: folding changes lengths ("œuvre" -> "oeuvre").
            start = tok.idx + len(tok.text) - len(tok.text.lstrip(_EDGES))
            end = tok.idx + len(tok.text.rstrip(_EDGES))
            term = word.upper() if i in acronyms else self.stem(word)
            family = ""
            if tagged:
                family = f"{fold(tok.lemma_).strip(_EDGES) or word}/{_CLASSES.get(tok.pos_, tok.pos_.lower())}"
            out.append(Term(tok.text.lower().strip(_EDGES), word, term, family, start, end))
        return out

    def _stem(self, word: str) -> str:
        """Snowball stem of a word, folded first: "précarité" and "precarite" get the same stem, as users type
        either and the fiches write both. A stem under MIN_STEM letters says too little ("café" and "Caf", the
        family benefits office, both give "caf"): the word itself stands, singular."""
        folded = fold(word)
        with self._stemmer_lock:  # service threads stem query words at once (IndexError and wrong stems seen)
            stem = self._stemmer.stemWord(folded).strip(_EDGES)
        if len(stem) >= MIN_STEM:
            return stem
        single = folded.rstrip("sx")
        return single if len(single) >= 2 else folded
