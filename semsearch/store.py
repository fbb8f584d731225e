"""The SQLite side of an index: records, facet values, chunks, the lexicon, the spellings and the stop words.

SQLite for what is read a row at a time (a result's record, its passages) and for what a reindex patches
in place; what every query scans (lexical postings, vectors, facets) is loaded into arrays instead.
`actions.key` is the hash of the action's analysis (index.analysis_key): a reindex keeps the rows whose
key is unchanged and only deletes and inserts the others. Counts (lexicon, spellings) are stored rather
than derived so that a reindex can add and subtract the changed actions' words.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .analysis import AnalysedChunk, Analysis, StoredPassage, spans_to_json, terms_text
from .records import FACETS, Action

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE actions (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, position INTEGER NOT NULL, key BLOB NOT NULL,
    identity TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE facets (action INTEGER NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX facets_by_value ON facets (facet, value, action);
CREATE INDEX facets_by_action ON facets (action);
CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY, action INTEGER NOT NULL, section TEXT NOT NULL, position INTEGER NOT NULL,
    key BLOB NOT NULL, text TEXT NOT NULL, terms TEXT NOT NULL, spans TEXT NOT NULL
);
CREATE INDEX chunks_by_action ON chunks (action);
CREATE TABLE lexicon (
    surface TEXT NOT NULL, term TEXT NOT NULL, family TEXT NOT NULL, frequency INTEGER NOT NULL,
    PRIMARY KEY (surface, term, family)
) WITHOUT ROWID;
CREATE TABLE spellings (
    surface TEXT NOT NULL, spelling TEXT NOT NULL, frequency INTEGER NOT NULL, PRIMARY KEY (surface, spelling)
) WITHOUT ROWID;
CREATE TABLE stop_words (word TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# How the fiches spell each folded word: the commonest spelling, ties to the greatest (deterministic).
SPELLINGS_SQL = "SELECT surface, spelling FROM spellings ORDER BY frequency, spelling"
LEXICON_SQL = "SELECT surface, term, family, frequency FROM lexicon"


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection usable from the service's threads; read-only for serving, so a bug cannot write."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}?mode=rwc"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only = 1" if readonly else "PRAGMA journal_mode = OFF")
    return db


def quick_check(path: Path) -> str | None:
    """What SQLite's `PRAGMA quick_check` finds wrong with a store (damaged pages, a truncated file), or None."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [r for (r,) in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows[:3])


def create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def insert_action(db: sqlite3.Connection, rowid: int, position: int, key: bytes, identity: str,
                  action: Action) -> None:
    db.execute("INSERT INTO actions (rowid, id, position, key, identity, data) VALUES (?, ?, ?, ?, ?, ?)",
               (rowid, action.id, position, key, identity, json.dumps(action.to_dict(), ensure_ascii=False)))
    db.executemany(
        "INSERT INTO facets (action, facet, value) VALUES (?, ?, ?)",
        [(rowid, facet, value) for facet in FACETS for value in action.facet_values(facet)],
    )


def records(db: sqlite3.Connection, rowids: Iterable[int]) -> list[Action]:
    """The actions of some rowids, in that order (unknown rowids left out)."""
    rowids = list(rowids)
    data: dict[int, str] = {}
    for part in _parts(rowids):
        data.update(db.execute(f"SELECT rowid, data FROM actions WHERE rowid IN ({_marks(part)})", part))
    return [Action.from_dict(json.loads(data[r])) for r in rowids if r in data]


def passages_of(db: sqlite3.Connection, action_rowids: Sequence[int]) -> dict[int, list[StoredPassage]]:
    """The passages of some actions, each action's in display order (a page's in one query)."""
    out: dict[int, list[StoredPassage]] = {int(a): [] for a in action_rowids}
    for part in _parts(list(out)):
        for action, rowid, section, text, terms, spans in db.execute(
                f"SELECT action, rowid, section, text, terms, spans FROM chunks "
                f"WHERE action IN ({_marks(part)}) ORDER BY action, rowid", part):
            out[action].append(StoredPassage(rowid, section, text, frozenset(terms.split()), spans))
    return out


_LOOKUP = 500  # keys per SELECT, under SQLite's default limit of host parameters


def _parts(keys: Sequence) -> list[list]:
    """`keys` in parts small enough for one `IN (...)` each."""
    return [list(keys[start:start + _LOOKUP]) for start in range(0, len(keys), _LOOKUP)]


def _marks(part: Sequence) -> str:
    return ", ".join("?" * len(part))


def chunk_owners(db: sqlite3.Connection) -> np.ndarray:
    """(chunk rowid, action rowid) of every passage, as an (n, 2) array."""
    return np.asarray(db.execute("SELECT rowid, action FROM chunks").fetchall(), dtype=np.int64).reshape(-1, 2)


def action_rows(db: sqlite3.Connection) -> list[tuple[int, str, int, str]]:
    """(rowid, id, position, identity) of every action."""
    return db.execute("SELECT rowid, id, position, identity FROM actions").fetchall()


def action_count(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT count(*) FROM actions").fetchone()
    return int(count)


def action_rowids(db: sqlite3.Connection) -> np.ndarray:
    """Rowids of every action, as an int64 array."""
    return np.fromiter((r for (r,) in db.execute("SELECT rowid FROM actions")), dtype=np.int64)


def action_keys(db: sqlite3.Connection) -> dict[bytes, int]:
    """Analysis key -> rowid of every action: what a reindex compares with the corpus to find what changed."""
    return dict(db.execute("SELECT key, rowid FROM actions").fetchall())


def spread_ids(db: sqlite3.Connection, every: int, limit: int) -> list[str]:
    """Ids of the actions whose rowid is a multiple of `every`, at most `limit`: a sample across the corpus."""
    return [r for (r,) in db.execute("SELECT id FROM actions WHERE rowid % ? = 0 LIMIT ?", (every, limit))]


def set_positions(db: sqlite3.Connection, positions: Mapping[int, int]) -> None:
    """Move actions (rowid -> position in the export) to where the new export puts them."""
    db.executemany("UPDATE actions SET position = ? WHERE rowid = ?",
                   [(position, rowid) for rowid, position in positions.items()])


def facet_pairs(db: sqlite3.Connection, facet: str) -> list[tuple[int, str]]:
    """Distinct (action rowid, value) of one facet."""
    return db.execute("SELECT DISTINCT action, value FROM facets WHERE facet = ?", (facet,)).fetchall()


def chunk_keys(db: sqlite3.Connection, action_rowids: Iterable[int] | None = None) -> dict[int, bytes]:
    """Chunk rowid -> vector key of the passages of some actions (of every action with None)."""
    if action_rowids is None:
        return dict(db.execute("SELECT rowid, key FROM chunks").fetchall())
    return {rowid: key for a in action_rowids
            for rowid, key in db.execute("SELECT rowid, key FROM chunks WHERE action = ?", (a,))}


def record(db: sqlite3.Connection, rowid: int) -> Action:
    (data,) = db.execute("SELECT data FROM actions WHERE rowid = ?", (rowid,)).fetchone()
    return Action.from_dict(json.loads(data))


def titles(db: sqlite3.Connection) -> dict[str, str]:
    """Title -> id of every action (the evaluation's judgments name fiches by title)."""
    return dict(db.execute("SELECT json_extract(data, '$.title'), id FROM actions"))


def lexicon(db: sqlite3.Connection) -> list[tuple[str, str, str, int]]:
    return db.execute(LEXICON_SQL).fetchall()


def spellings(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return db.execute(SPELLINGS_SQL).fetchall()


def stop_words(db: sqlite3.Connection) -> list[str]:
    return [w for (w,) in db.execute("SELECT word FROM stop_words")]


def set_stop_words(db: sqlite3.Connection, words: Iterable[str]) -> None:
    """The analysis's stop words, which a search needs to cut a query as the fiches were cut (words.py)."""
    db.execute("DELETE FROM stop_words")
    db.executemany("INSERT INTO stop_words (word) VALUES (?)", ((w,) for w in sorted(words)))


def insert_chunk(db: sqlite3.Connection, rowid: int, action_rowid: int, chunk: AnalysedChunk, key: bytes) -> None:
    db.execute("INSERT INTO chunks (rowid, action, section, position, key, text, terms, spans) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (rowid, action_rowid, chunk.section, chunk.position, key, chunk.text, terms_text(chunk.spans),
                spans_to_json(chunk.spans)))


_DELETE = ("DELETE FROM actions WHERE rowid = ?", "DELETE FROM facets WHERE action = ?",
           "DELETE FROM chunks WHERE action = ?")
_UPSERT = "INSERT INTO {0} ({1}, frequency) VALUES ({2}?) ON CONFLICT ({1}) " \
    "DO UPDATE SET frequency = frequency + excluded.frequency"
_ADD = ((_UPSERT.format("lexicon", "surface, term, family", "?, ?, ?, "), "DELETE FROM lexicon WHERE frequency <= 0"),
        (_UPSERT.format("spellings", "surface, spelling", "?, ?, "), "DELETE FROM spellings WHERE frequency <= 0"))


def delete_actions(db: sqlite3.Connection, rowids: Sequence[int]) -> None:
    for sql in _DELETE:
        db.executemany(sql, ((r,) for r in rowids))


def add_counts(db: sqlite3.Connection, lexicon: Iterable[tuple[str, str, str, int]],
               spellings: Iterable[tuple[str, str, int]]) -> None:
    """Add (or, with negative counts, subtract) word counts; rows that fall to zero are removed."""
    for (upsert, prune), rows in zip(_ADD, (lexicon, spellings)):
        db.executemany(upsert, rows)
        db.execute(prune)


# -- the build cache, beside the builds ----------------------------------------------------------------------
# Passage vectors and per-action analyses survive from one build to the next, so a reindex after a handful of
# new fiches embeds and analyses only those (embedding is ~8 passages/s here, spaCy a few hundred sentences/s).
# It lives in index/cache.sqlite, outside every build directory, so swaps and pruning never remove it. Every
# write is one transaction (rollback journal): a build killed mid-way leaves the cache as it was before that
# batch, never half-written.
CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    encoder TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (encoder, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS analyses (key BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"""


class BuildCache:
    """Embeddings keyed by (encoder name, sha256 of the passage) and analyses keyed by a hash of the action."""

    def __init__(self, path: Path) -> None:
        problem = quick_check(path) if path.exists() else None
        if problem:
            # Derived data only: set aside (for whoever wants to look) and start empty; the build re-embeds.
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            path.rename(aside)
            log.warning("cache de construction %s abîmé (%s) : mis de côté sous %s ; cette construction analyse et "
                        "encode tout", path, problem, aside.name)
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA synchronous = NORMAL")
        with self.db:
            self.db.executescript(CACHE_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def vectors(self, encoder: str, keys: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        out = {}
        for part in _parts(keys):
            rows = self.db.execute(f"SELECT key, vector FROM embeddings WHERE encoder = ? AND key IN "
                                   f"({_marks(part)})", (encoder, *part))
            for key, blob in rows:
                if len(blob) == 4 * dimension:  # a vector of another size is a miss, not an error
                    out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_vectors(self, encoder: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO embeddings (encoder, key, vector) VALUES (?, ?, ?)",
                                [(encoder, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)])

    def analyses(self, keys: Sequence[bytes]) -> dict[bytes, Analysis]:
        out = {}
        for part in _parts(keys):
            rows = self.db.execute(f"SELECT key, data FROM analyses WHERE key IN ({_marks(part)})", part)
            out.update((key, Analysis.from_json(json.loads(zlib.decompress(data)))) for key, data in rows)
        return out

    def put_analyses(self, items: Iterable[tuple[bytes, Analysis]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO analyses (key, data) VALUES (?, ?)",
                                [(k, zlib.compress(json.dumps(v.to_json(), ensure_ascii=False).encode(), 1))
                                 for k, v in items])

    def forget(self, encoder: str, vector_keys: Iterable[bytes], analysis_keys: Iterable[bytes]) -> None:
        """Drop entries a patched build no longer uses (a full build calls keep_only instead)."""
        with self.db:
            self.db.executemany("DELETE FROM embeddings WHERE encoder = ? AND key = ?",
                                ((encoder, k) for k in vector_keys))
            self.db.executemany("DELETE FROM analyses WHERE key = ?", ((k,) for k in analysis_keys))

    def keep_only(self, encoder: str, vector_keys: Iterable[bytes], analysis_keys: Iterable[bytes]) -> None:
        """Forget what the last build did not use, so the cache stays the size of one corpus."""
        with self.db:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key BLOB PRIMARY KEY) WITHOUT ROWID")
            for table, keys, where in (("embeddings", vector_keys, "encoder = ? AND "), ("analyses", analysis_keys, "")):
                self.db.execute("DELETE FROM temp.keep")
                self.db.executemany("INSERT OR IGNORE INTO temp.keep (key) VALUES (?)", ((k,) for k in keys))
                self.db.execute(f"DELETE FROM {table} WHERE {where}key NOT IN (SELECT key FROM temp.keep)",
                                (encoder,) if where else ())
