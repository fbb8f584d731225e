"""Query analysis: which index terms each word of a query may match, and the query as the fiches spell it.

A query word matches a word of a fiche only when they are the same word family:
  - the same index term, i.e. the same Snowball stem of the folded word (précaires/précaire,
    accompagner/accompagnement, precarite/précarité); an acronym is its own term (CAF never meets "cafés");
  - or the same lemma and word class in the fiches' analysis (travaux/travail), never across classes
    (the noun "devoirs" never meets the verb "devons");
  - a word the fiches never use also meets the words one typo away (5 letters and more, as Meilisearch) and
    its singular or plural ("ado"/"ados"); a word they use is taken as written;
  - or a noun and the adjective of relation made from it, which Snowball (it strips inflections) leaves apart:
    a stem of DERIVED_ROOT letters at least, alone or with one of RELATIONAL ("alimentation" -> aliment,
    "alimentaire" -> alimentair; "culture", "culturel"). Other endings join words of other meanings:
    "nationalité" and "national", "démarchage" and "démarche", "infirmité" and "infirmier".
Words that only frame a request ("lutter contre", "mettre en place", "des projets pour", "aider") are not
searched for, by words or by meaning: a fiche that holds the topic but not the phrasing must not fall behind.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from .words import Words, fold

TYPO_MIN_LETTERS = 5  # as Meilisearch: words of 5+ letters tolerate one typo
DERIVED_ROOT = 6
RELATIONAL = ("air", "iel", "el", "al")  # -aire, -iel(le), -el(le), -al(e), as Snowball leaves them
FRAMING = re.compile(r"\b(?:lutt(?:e|er|ons|ez)\s+contre|m(?:ettre|ise)\s+en\s+place|(?:un|des|les|nos)\s+projets?\s+"
                     r"(?:pour|de|d'|d’|sur)|aid(?:er|ons|ez))\b", re.IGNORECASE)
# A word's lemma families count when the tagger gave them to at least this share of its occurrences: a noun
# tagged as a verb once in a hundred does not bring in every form of that verb.
FAMILY_SHARE = 0.5
# "Did you mean": fiche words one edit away from an unknown query word, two from a word of LONG_WORD letters
# ("ruches" two edits from "poches" is another word; "gaspilage" two from "gaspillage" is a typo).
LONG_WORD = 8
_LETTERS = re.compile(r"[^\W\d_]+")
_PLURAL = "sx"


@dataclass(frozen=True)
class QueryWord:
    """A content word of the query and every index term it may match."""

    surface: str  # folded, as typed
    terms: frozenset[str]
    known: bool  # the fiches use this word as typed
    text: str = ""  # as typed, lower-cased, for people


class QueryAnalyser:
    """The lexicon of an index (surface, term, family, count) turned into what query analysis looks up; the
    stop words are the analysis's, kept in the index."""

    def __init__(self, lexicon: Iterable[tuple[str, str, str, int]], spellings: Iterable[tuple[str, str]],
                 stop_words: Iterable[str]) -> None:
        self._terms: dict[str, set[str]] = defaultdict(set)
        families: dict[str, Counter[str]] = defaultdict(Counter)
        family_terms: dict[str, set[str]] = defaultdict(set)
        counts: Counter[str] = Counter()
        commonest: dict[str, tuple[int, str]] = {}  # term -> (count, surface) of its commonest surface
        for surface, term, family, n in lexicon:
            self._terms[surface].add(term)
            commonest[term] = max(commonest.get(term, (0, "")), (n, surface))
            counts[surface] += n
            if not term.isupper():  # an acronym matches only itself: it has no family
                families[surface][family] += n
                family_terms[family].add(term)
        self._family_terms: dict[str, frozenset[str]] = {}
        for surface, by_family in families.items():
            total = sum(by_family.values())
            kept = [f for f, n in by_family.items() if n >= FAMILY_SHARE * total]
            self._family_terms[surface] = frozenset().union(*(family_terms[f] for f in kept))
        self._counts = counts
        self._surfaces = sorted(self._terms)
        self._root_set = {t for t in commonest if len(t) >= DERIVED_ROOT and not t.isupper()}
        self._spellings = dict(spellings)  # folded word -> the fiches' commonest spelling (the last row wins)
        self._display = {term: self._spellings.get(surface, surface) for term, (_, surface) in commonest.items()}
        self.cut = Words(self._terms.keys(), stop_words)
        # A search respells its query for the encoder and again to say what it corrected: fuzzy lookups, once.
        self.spelled: Callable[[str], str] = lru_cache(maxsize=1024)(self._spelled)

    def display(self, term: str) -> str:
        """An index term as people read it: the fiches' commonest word with that term ("isol" -> "isolement")."""
        return self._display.get(term, term)

    def words(self, query: str) -> list[QueryWord]:
        out = []
        for t in self.cut(FRAMING.sub(lambda m: " " * len(m.group()), query)):
            known = self._terms.get(t.surface)
            if known:  # CAF, Caf and caf are the same word however typed; an acronym has no family
                terms = frozenset(known | self._family_terms.get(t.surface, frozenset()))
            elif t.acronym:  # an acronym the fiches never use matches nothing else
                terms = frozenset([t.term])
            else:
                terms = frozenset({self.cut.stem(t.surface)} | self._near(t.surface))
            if not t.acronym:
                terms = terms.union(*(self._derived(term) for term in terms))
            out.append(QueryWord(t.surface, terms, bool(known), t.text))
        return out

    def _derived(self, term: str) -> set[str]:
        """The index terms of the same root: a noun's stem and the stems of its adjectives of relation."""
        root = next((term[:-len(end)] for end in RELATIONAL if term.endswith(end)), term)
        if len(root) < DERIVED_ROOT or term.isupper():
            return set()
        return {t for t in (root, *(root + end for end in RELATIONAL)) if t in self._root_set} - {term}

    def _near(self, surface: str) -> set[str]:
        """Index terms of the fiches' words one typo away, and of the word's singular or plural."""
        base = surface.rstrip(_PLURAL)
        near = {s for s in (base, base + "s", base + "x") if s in self._terms}
        if len(surface) >= TYPO_MIN_LETTERS:
            near |= {s for s, _, _ in process.extract(surface, self._surfaces, scorer=Levenshtein.distance,
                                                      score_cutoff=1, limit=None)}
        return {term for s in near for term in self._terms[s] if not term.isupper()}

    def _spelled(self, query: str) -> str:
        """The query as the fiches spell it, for the encoder, which sees "precarite" and "précarité" as
        different words: accents restored on words typed without any, and a word the fiches never use
        replaced by the one fiche word a typo away. Words typed with accents and stop words stay as typed."""
        stop = self.cut.stop_words

        def respell(match: re.Match[str]) -> str:
            typed = match.group().lower()
            word = fold(typed)
            if word != typed or word in stop:
                return typed
            if word in self._spellings:
                return self._spellings[word]
            if len(word) >= TYPO_MIN_LETTERS:
                near = process.extract(word, self._surfaces, scorer=Levenshtein.distance, score_cutoff=1, limit=2)
                if len(near) == 1 and near[0][0] in self._spellings:
                    return self._spellings[near[0][0]]
            return typed

        return _LETTERS.sub(respell, query)

    def meaning(self, query: str) -> str:
        """What the encoder reads: the query without the words that only frame it, as the fiches spell it."""
        return self.spelled(" ".join(FRAMING.sub(" ", query).split()) or query)

    def corrected(self, query: str) -> str | None:
        """The query as the fiches spell it when a word was taken for another fiche word ("viellissement" ->
        "vieillissement"), for "Résultats pour …"; None when only accents were restored, or nothing changed."""
        spelled = self.spelled(query)
        return spelled if fold(spelled) != fold(query) else None

    def suggestions(self, words: Iterable[QueryWord], limit: int = 3) -> list[str]:
        """Corpus words close to the query's unknown words, commonest first: what to try when nothing is found."""
        out: list[str] = []
        for w in words:
            if w.known or len(w.surface) < 4:
                continue
            close = process.extract(w.surface, self._surfaces, scorer=Levenshtein.distance,
                                    score_cutoff=2 if len(w.surface) >= LONG_WORD else 1, limit=None)
            for surface, _, _ in sorted(close, key=lambda c: (c[1], -self._counts[c[0]], c[0]))[:limit]:
                spelling = self._spellings.get(surface, surface)
                if spelling not in out:
                    out.append(spelling)
        return out
