"""What the French analysis of one action hands to the index: typed records, and their JSON form for the cache.

An action's analysis is its lexical columns as content words (semsearch.nlp.Term) and its passages, each with
the character span and index term of every content word in it, so that a passage shown as evidence highlights
exactly the words the lexical index matched. It depends only on the action, the spaCy model and the chunking,
so it is computed once per action and kept in the build cache (store.BuildCache) under `analysis_key`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .chunking import Chunking, chunk_action, section_texts
from .nlp import FrenchNLP
from .records import Action
from .words import Term

# Bump when nlp or chunking change what an analysis holds, so cached analyses are recomputed.
# 3: terms are stems of the word as written (acronyms kept whole) with the lemma's family; passages carry spans.
# 4: list fields joined by " ; " as passages show them (so "CAF MSA" are two acronyms); offsets of "œ" words.
ANALYSIS_VERSION = 4
# Lexical columns and their BM25 weights (see lexical.py); what a user may name goes into one of them.
COLUMNS = ("title", "keywords", "summary", "body")


class Span(NamedTuple):
    """A content word of a passage: its characters in the passage text and its index term."""

    start: int
    end: int
    term: str


@dataclass(frozen=True)
class AnalysedChunk:
    section: str
    position: int
    text: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Analysis:
    columns: dict[str, list[Term]]  # lexical column -> its content words, in order
    chunks: list[AnalysedChunk]

    def column_terms(self) -> dict[str, list[str]]:
        """The index terms of each lexical column, in order, as lexical.Postings counts them."""
        return {c: [t.term for t in terms] for c, terms in self.columns.items()}

    def words(self) -> Iterable[Term]:
        for terms in self.columns.values():
            yield from terms

    def to_json(self) -> dict:
        return {"columns": {c: [[t.text, t.surface, t.term, t.family] for t in terms]
                            for c, terms in self.columns.items()},
                "chunks": [[c.section, c.position, c.text, [[s.start, s.end, s.term] for s in c.spans]]
                           for c in self.chunks]}

    @classmethod
    def from_json(cls, data: dict) -> Analysis:
        return cls({c: [Term(*row) for row in rows] for c, rows in data["columns"].items()},
                   [AnalysedChunk(section, position, text, tuple(Span(*s) for s in spans))
                    for section, position, text, spans in data["chunks"]])


@dataclass(frozen=True)
class StoredPassage:
    """A passage as the store returns it. A result's passage is chosen by the terms of every passage of the
    fiche but shows the spans of one, so the spans stay as the store keeps them (JSON, ~30 µs to read) until
    asked."""

    rowid: int
    section: str
    text: str
    terms: frozenset[str]  # its words' index terms
    spans_json: str

    @property
    def spans(self) -> tuple[Span, ...]:
        return tuple(map(Span._make, json.loads(self.spans_json)))


def terms_text(spans: Sequence[Span]) -> str:
    """A passage's distinct terms as the store keeps them, space-separated (a term is a token's: no space)."""
    return " ".join(sorted({s.term for s in spans}))


def spans_to_json(spans: Sequence[Span]) -> str:
    return json.dumps([[s.start, s.end, s.term] for s in spans], ensure_ascii=False)


def lexical_fields(action: Action) -> dict[str, str]:
    """The text of each lexical column; everything a user may name goes into one of them."""
    e = action.evaluation
    body = [action.experience, action.initiative_detail, action.description, action.end_reasons, e.territory,
            e.centre, e.residents, e.limits, e.perspectives, action.dimension, action.public, action.territory,
            action.structure, action.department, " ; ".join(action.partners), " ; ".join(action.initiative)]
    return {"title": action.title, "keywords": " ; ".join(action.keywords), "summary": action.summary,
            "body": "\n".join(b for b in body if b)}


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def analysis_key(action: Action, nlp_model: str, chunking: Chunking) -> bytes:
    """What an action's analysis depends on: its record, the spaCy model, how it is cut and this code's version."""
    return sha(json.dumps([ANALYSIS_VERSION, nlp_model, chunking.words, chunking.overlap, action.to_dict()],
                          ensure_ascii=False, sort_keys=True))


def analyse_actions(actions: Sequence[Action], nlp: FrenchNLP, chunking: Chunking) -> list[Analysis]:
    """The analysis of each action: spaCy tags all their columns, parses all their distinct lines into sentences,
    then tokenizes all their passages, each in one batch."""
    fields = [lexical_fields(a) for a in actions]
    analysed = nlp.terms_many(f[c] for f in fields for c in COLUMNS)
    columns = [{c: next(analysed) for c in COLUMNS} for _ in actions]
    split = nlp.sentence_splitter(text for a in actions for _, text in section_texts(a))
    chunks = [chunk_action(a, split, chunking.words, chunking.overlap) for a in actions]
    # Passages are cleaned text already (sentences of nlp.clean), so the spans found in them index them as stored.
    spans = nlp.words_many(c.text for cs in chunks for c in cs)
    return [Analysis(cols, [AnalysedChunk(c.section, c.position, c.text,
                                          tuple(Span(t.start, t.end, t.term) for t in next(spans))) for c in cs])
            for cols, cs in zip(columns, chunks)]
