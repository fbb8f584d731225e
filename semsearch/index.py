"""Build, swap and load an index: SQLite store + FAISS vectors + a manifest that stamps the build.

Layout of an index directory (see index/README.md):
    index/current -> builds/<build id>      a symlink, replaced atomically by each successful build
    index/builds/<build id>/manifest.json   format, encoder, counts, source checksum, build time
    index/builds/<build id>/actions.sqlite  records, facets, chunks, lexicon, FTS5 lexical index
    index/builds/<build id>/chunks.faiss    one vector per chunk, FAISS id = chunk rowid
    index/builds/<build id>/actions.faiss   one vector per action (mean of its chunks), id = action rowid
A build is written beside the live one and only becomes `current` once complete, so a failed build
leaves the previous index serving, and a server that has the old files open keeps answering from them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from . import store
from .chunking import CHUNK_WORDS, OVERLAP_SENTENCES, chunk_action
from .corpus import Corpus
from .encoders import Encoder
from .errors import IndexMismatchError, IndexMissingError
from .nlp import FrenchNLP
from .records import Action

FORMAT_VERSION = 1
BATCH = 32  # passages per encoder call: large enough to amortise, small enough for a lively progress bar
KEEP_BUILDS = 2  # the live build and the one before it, for a quick manual rollback


@dataclass(frozen=True)
class Manifest:
    format_version: int
    build_id: str
    built_at: str
    encoder: str
    dimension: int
    spacy_model: str
    source: str
    source_sha256: str
    actions: int
    chunks: int
    duplicates: int
    chunk_words: int
    overlap_sentences: int

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexMissingError(f"{path}: unreadable or incomplete manifest.json ({exc}); rebuild the index") from exc

    def write(self, path: Path) -> None:
        (path / "manifest.json").write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")


@dataclass
class Index:
    """A loaded, read-only index. Text and metadata live in SQLite; FAISS keeps only ids and vectors."""

    path: Path
    manifest: Manifest
    db: sqlite3.Connection
    chunk_vectors: faiss.Index
    action_vectors: faiss.Index

    def close(self) -> None:
        self.db.close()


def _lexical_fields(action: Action) -> dict[str, str]:
    """The text of each lexical column; everything a user may name goes into one of them."""
    e = action.evaluation
    body = [action.experience, action.initiative_detail, action.description, action.end_reasons, e.territory,
            e.centre, e.residents, e.limits, e.perspectives, action.dimension, action.public, action.territory,
            action.structure, action.department, " ".join(action.partners), " ".join(action.initiative)]
    return {"title": action.title, "keywords": " ; ".join(action.keywords), "summary": action.summary,
            "body": "\n".join(b for b in body if b)}


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _flat_index(vectors: np.ndarray, ids: np.ndarray, dimension: int) -> faiss.Index:
    # Exact inner product on normalised vectors = cosine; IDMap2 so vectors can be read back by id.
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(vectors, ids.astype(np.int64))
    return index


def build_index(
    corpus: Corpus,
    index_dir: Path,
    encoder: Encoder,
    nlp: FrenchNLP,
    *,
    chunk_words: int = CHUNK_WORDS,
    overlap: int = OVERLAP_SENTENCES,
    progress: bool = True,
) -> Manifest:
    """Build a complete index beside the live one, then make it `current` in one atomic rename."""
    built_at = datetime.now(UTC)
    build_id = built_at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + corpus.checksum[:8]
    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build_id}"
    tmp.mkdir(parents=True)
    try:
        manifest = _write_build(corpus, tmp, encoder, nlp, chunk_words, overlap, progress, build_id, built_at)
        final = builds / build_id
        tmp.rename(final)
        _point_current(index_dir, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(builds, keep=KEEP_BUILDS)
    return manifest


def _write_build(corpus: Corpus, out: Path, encoder: Encoder, nlp: FrenchNLP, chunk_words: int, overlap: int,
                 progress: bool, build_id: str, built_at: datetime) -> Manifest:
    db = store.connect(out / "actions.sqlite", readonly=False)
    store.create(db)
    lexicon: Counter[tuple[str, str]] = Counter()
    spellings: Counter[tuple[str, str]] = Counter()  # folded form -> how the fiches write it
    chunk_rows: list[int] = []  # action rowid of each chunk, in chunk order
    sections: list[str] = []  # section of each chunk
    texts: list[str] = []
    actions = corpus.actions
    fields = [_lexical_fields(a) for a in actions]
    columns = list(store.LEXICAL_COLUMNS)
    analysed = nlp.terms_many(f[c] for f in fields for c in columns)
    for rowid, (action, field_texts) in enumerate(
        tqdm(zip(actions, fields), total=len(actions), desc="analysing", unit="action", disable=not progress),
        start=1,
    ):
        lexical = {}
        for column in columns:
            terms = next(analysed)
            lexicon.update((t.surface, t.term) for t in terms)
            spellings.update((t.surface, t.text) for t in terms)
            lexical[column] = " ".join(t.term for t in terms)
        store.insert_action(db, rowid, action, lexical)
        chunks = chunk_action(action, nlp.sentences, chunk_words, overlap)
        for chunk, terms in zip(chunks, nlp.terms_many(c.text for c in chunks)):
            chunk_rows.append(rowid)
            sections.append(chunk.section)
            store.insert_chunk(db, len(chunk_rows), rowid, chunk, [(t.surface, t.term) for t in terms])
            texts.append(chunk.text)
    store.insert_lexicon(db, ((s, t, n) for (s, t), n in lexicon.items()))
    by_count = sorted(spellings.items(), key=lambda kv: kv[1])  # ascending: the commonest spelling wins
    store.insert_spellings(db, {surface: spelling for (surface, spelling), _ in by_count}.items())
    db.commit()
    db.close()

    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding", unit="passage", disable=not progress) as bar:
        for start in range(0, len(texts), BATCH):
            batch = texts[start:start + BATCH]
            vectors[start:start + len(batch)] = encoder.encode_passages(batch)
            bar.update(len(batch))
    chunk_ids = np.arange(1, len(texts) + 1)
    faiss.write_index(_flat_index(vectors, chunk_ids, encoder.dimension), str(out / "chunks.faiss"))

    action_ids, profiles = _action_profiles(vectors, np.asarray(chunk_rows, dtype=np.int64), sections)
    faiss.write_index(_flat_index(profiles, action_ids, encoder.dimension), str(out / "actions.faiss"))

    manifest = Manifest(
        format_version=FORMAT_VERSION, build_id=build_id, built_at=built_at.isoformat(timespec="seconds"),
        encoder=encoder.name, dimension=encoder.dimension, spacy_model=nlp.model, source=str(corpus.source),
        source_sha256=corpus.checksum, actions=len(actions), chunks=len(texts), duplicates=corpus.duplicates,
        chunk_words=chunk_words, overlap_sentences=overlap,
    )
    manifest.write(out)
    return manifest


def _action_profiles(vectors: np.ndarray, owners: np.ndarray, sections: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One vector per action for "similar actions": the mean of its sections' mean vectors, centred.

    Each section counts once whatever its length, so a long description does not drown the summary and
    the profile does not depend on the chunk size; subtracting the corpus mean removes what every fiche
    shares ("centre social", "habitants"). Dev recall@3 of similar: 0.50 plain chunk mean -> 1.00
    (docs/QUALITY.md).
    """
    action_ids = np.unique(owners)
    if not len(action_ids):
        return action_ids, vectors[:0]
    keys = np.asarray(sections)
    profiles = np.stack([
        np.mean([vectors[(owners == a) & (keys == s)].mean(axis=0) for s in dict.fromkeys(keys[owners == a])], axis=0)
        for a in action_ids
    ])
    return action_ids, _normalise(profiles - profiles.mean(axis=0))


def _point_current(index_dir: Path, build: Path) -> None:
    link = index_dir / "current"
    tmp_link = index_dir / f".current-{build.name}"
    tmp_link.unlink(missing_ok=True)
    os.symlink(build.relative_to(index_dir), tmp_link)
    os.replace(tmp_link, link)  # atomic on POSIX: readers see the old build or the new one, never neither


def _prune(builds: Path, keep: int) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def current_build(index_dir: Path) -> Path:
    """The directory of the live build (or index_dir itself when it directly holds a build)."""
    link = index_dir / "current"
    if link.exists():
        return link.resolve()
    if (index_dir / "manifest.json").exists():
        return index_dir
    raise IndexMissingError(f"no index in {index_dir}; build one with `semsearch reindex --source PATH`")


def load_index(index_dir: Path, encoder_name: str | None = None) -> Index:
    """Open the live build read-only; refuse one built by another encoder or format version."""
    path = current_build(index_dir)
    manifest = Manifest.read(path)
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError("format version", FORMAT_VERSION, manifest.format_version)
    if encoder_name is not None and manifest.encoder != encoder_name:
        raise IndexMismatchError("encoder", encoder_name, manifest.encoder)
    try:
        chunk_vectors = faiss.read_index(str(path / "chunks.faiss"))
        action_vectors = faiss.read_index(str(path / "actions.faiss"))
        db = store.connect(path / "actions.sqlite", readonly=True)
        (count,) = db.execute("SELECT count(*) FROM actions").fetchone()
    except (RuntimeError, sqlite3.Error) as exc:
        raise IndexMissingError(f"{path}: damaged index ({exc}); rebuild it with `semsearch reindex`") from exc
    if count != manifest.actions or chunk_vectors.ntotal != manifest.chunks:
        raise IndexMissingError(f"{path}: index files disagree with manifest.json; rebuild it with `semsearch reindex`")
    return Index(path, manifest, db, chunk_vectors, action_vectors)
