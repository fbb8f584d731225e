"""The SQLite side of an index: records, facet values, chunks, the lexicon and the FTS5 lexical index.

FTS5 rather than a BM25 library: it ships with Python's sqlite3, keeps the lexical index on disk next
to the records it ranks (one file, one transaction), filters by rowid in the same query, and weights
columns (title and keywords count more than the body) with its built-in bm25().
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from .records import FACETS, Action, Chunk

# Lexical columns and their bm25 weights: a word in the title or keywords says more than one in the body.
LEXICAL_COLUMNS: dict[str, float] = {"title": 4.0, "keywords": 3.0, "summary": 1.5, "body": 1.0}

SCHEMA = f"""
CREATE TABLE actions (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE facets (action INTEGER NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX facets_by_value ON facets (facet, value, action);
CREATE INDEX facets_by_action ON facets (action);
CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY, action INTEGER NOT NULL, section TEXT NOT NULL, position INTEGER NOT NULL,
    text TEXT NOT NULL, terms TEXT NOT NULL
);
CREATE INDEX chunks_by_action ON chunks (action);
CREATE TABLE lexicon (
    surface TEXT NOT NULL, term TEXT NOT NULL, frequency INTEGER NOT NULL, PRIMARY KEY (surface, term)
) WITHOUT ROWID;
CREATE TABLE spellings (surface TEXT PRIMARY KEY, spelling TEXT NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE lexical USING fts5({", ".join(LEXICAL_COLUMNS)}, tokenize = 'unicode61');
"""


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection usable from the service's threads; read-only for serving, so a bug cannot write."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}?mode=rwc"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only = 1" if readonly else "PRAGMA journal_mode = OFF")
    return db


def create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def insert_action(db: sqlite3.Connection, rowid: int, action: Action, lexical: dict[str, str]) -> None:
    db.execute("INSERT INTO actions (rowid, id, data) VALUES (?, ?, ?)",
               (rowid, action.id, json.dumps(action.to_dict(), ensure_ascii=False)))
    db.executemany(
        "INSERT INTO facets (action, facet, value) VALUES (?, ?, ?)",
        [(rowid, facet, value) for facet in FACETS for value in action.facet_values(facet)],
    )
    db.execute(f"INSERT INTO lexical (rowid, {', '.join(LEXICAL_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
               (rowid, *(lexical.get(c, "") for c in LEXICAL_COLUMNS)))


def insert_chunk(db: sqlite3.Connection, rowid: int, action_rowid: int, chunk: Chunk,
                 terms: Sequence[tuple[str, str]]) -> None:
    db.execute("INSERT INTO chunks (rowid, action, section, position, text, terms) VALUES (?, ?, ?, ?, ?, ?)",
               (rowid, action_rowid, chunk.section, chunk.position, chunk.text, json.dumps(terms)))


def insert_lexicon(db: sqlite3.Connection, rows: Iterable[tuple[str, str, int]]) -> None:
    db.executemany("INSERT INTO lexicon (surface, term, frequency) VALUES (?, ?, ?)", rows)


def insert_spellings(db: sqlite3.Connection, rows: Iterable[tuple[str, str]]) -> None:
    db.executemany("INSERT INTO spellings (surface, spelling) VALUES (?, ?)", rows)


def escape_fts(term: str) -> str:
    """Quote one term for FTS5 MATCH so that no user text is ever FTS syntax."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(groups: Sequence[Sequence[str]]) -> str:
    """OR of every query word, each word itself the OR of its variants (stem, typo neighbours)."""
    return " OR ".join("(" + " OR ".join(escape_fts(t) for t in group) + ")" for group in groups if group)
