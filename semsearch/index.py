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

import hashlib
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
from .records import Action, Chunk

FORMAT_VERSION = 1
BATCH = 32  # passages per encoder call: large enough to amortise, small enough for a lively progress bar
KEEP_BUILDS = 2  # the live build and the one before it, for a quick manual rollback
OWNER_FILE = ".owner"  # in a builds/.tmp-* directory: "host pid" of the process writing it
CACHE_FILE = "cache.sqlite"  # beside builds/, see store.BuildCache
ANALYSIS_VERSION = 1  # bump when nlp or chunking change what an analysis holds, to invalidate cached ones
ANALYSIS_BATCH = 64  # actions analysed (and committed to the cache) at a time
# Above this many chunks the chunk vectors go in an HNSW graph instead of a flat index: an exact scan of
# 200 000 x 384 floats reads ~300 MB per query (measured in docs/BENCHMARKS.md).
HNSW_ABOVE = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256


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
    # What the build cache saved (defaults, so manifests written before the cache still load).
    actions_analysed: int = 0
    actions_reused: int = 0
    passages_embedded: int = 0
    passages_reused: int = 0

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


def chunk_index(vectors: np.ndarray, ids: np.ndarray, dimension: int) -> faiss.Index:
    """Flat (exact) up to HNSW_ABOVE chunks, an HNSW graph above, where an exact scan gets too slow."""
    if len(ids) <= HNSW_ABOVE:
        return _flat_index(vectors, ids, dimension)
    graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    index = faiss.IndexIDMap2(graph)
    index.add_with_ids(vectors, ids.astype(np.int64))
    return index


def limit_threads(n: int) -> None:
    """Threads FAISS may use per search; the service calls it with 1 when uvicorn runs several workers,
    so N workers on 2 cores do not each start an OpenMP team of 2 and fight over the cores."""
    faiss.omp_set_num_threads(max(1, int(n)))


def build_index(
    corpus: Corpus,
    index_dir: Path,
    encoder: Encoder,
    nlp: FrenchNLP,
    *,
    chunk_words: int = CHUNK_WORDS,
    overlap: int = OVERLAP_SENTENCES,
    progress: bool = True,
    cache: bool = True,
) -> Manifest:
    """Build a complete index beside the live one, then make it `current` in one atomic rename.

    With `cache` (the default), analyses and passage vectors are read from and written to
    index_dir/cache.sqlite, so only new or changed actions are analysed and only new passages embedded;
    the result is the same index a build without the cache makes (tests/test_incremental.py).
    """
    built_at = datetime.now(UTC)
    build_id = built_at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + corpus.checksum[:8]
    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build_id}"
    tmp.mkdir(parents=True)
    remove_stale_builds(builds)  # what killed builds left behind
    (tmp / OWNER_FILE).write_text(f"{os.uname().nodename} {os.getpid()}\n", encoding="utf-8")
    build_cache = store.BuildCache(index_dir / CACHE_FILE) if cache else None
    try:
        manifest = _write_build(corpus, tmp, encoder, nlp, chunk_words, overlap, progress, build_id, built_at,
                                build_cache)
        final = builds / build_id
        tmp.rename(final)
        _point_current(index_dir, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if build_cache is not None:
            build_cache.close()
    _prune(builds, keep=KEEP_BUILDS)
    return manifest


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def analysis_key(action: Action, nlp_model: str, chunk_words: int, overlap: int) -> bytes:
    """What an action's analysis depends on: its record, the spaCy model, the chunking and this code's version."""
    return _sha(json.dumps([ANALYSIS_VERSION, nlp_model, chunk_words, overlap, action.to_dict()],
                           ensure_ascii=False, sort_keys=True))


def analyse_actions(actions: list[Action], nlp: FrenchNLP, chunk_words: int, overlap: int,
                    progress: bool = False) -> list[dict]:
    """Lexical terms of each column and the chunks (with their terms) of each action, as plain JSON data.

    {"lexical": {column: [[text, surface, term], ...]}, "chunks": [[section, position, text, [[surface, term]]]]}
    """
    fields = [_lexical_fields(a) for a in actions]
    columns = list(store.LEXICAL_COLUMNS)
    analysed = nlp.terms_many(f[c] for f in fields for c in columns)
    out = []
    for action in tqdm(actions, desc="analysing", unit="action", disable=not progress):
        lexical = {c: [[t.text, t.surface, t.term] for t in next(analysed)] for c in columns}
        chunks = chunk_action(action, nlp.sentences, chunk_words, overlap)
        out.append({"lexical": lexical, "chunks": [
            [c.section, c.position, c.text, [[t.surface, t.term] for t in terms]]
            for c, terms in zip(chunks, nlp.terms_many(c.text for c in chunks))
        ]})
    return out


def _analyses(actions: list[Action], nlp: FrenchNLP, chunk_words: int, overlap: int, progress: bool,
              cache: store.BuildCache | None) -> tuple[list[dict], list[bytes], int]:
    """Every action's analysis, from the cache where it has one; returns (analyses, keys, how many were new)."""
    keys = [analysis_key(a, nlp.model, chunk_words, overlap) for a in actions]
    known = cache.analyses(keys) if cache is not None else {}
    missing = [i for i, k in enumerate(keys) if k not in known]
    with tqdm(total=len(missing), desc="analysing", unit="action", disable=not progress) as bar:
        for start in range(0, len(missing), ANALYSIS_BATCH):
            part = missing[start:start + ANALYSIS_BATCH]
            fresh = analyse_actions([actions[i] for i in part], nlp, chunk_words, overlap)
            known.update((keys[i], a) for i, a in zip(part, fresh))
            if cache is not None:
                cache.put_analyses((keys[i], a) for i, a in zip(part, fresh))
            bar.update(len(part))
    return [known[k] for k in keys], keys, len(missing)


def _embed(texts: list[str], encoder: Encoder, progress: bool,
           cache: store.BuildCache | None) -> tuple[np.ndarray, list[bytes], int]:
    """One vector per passage, embedding only the passages the cache lacks; returns (vectors, keys, embedded)."""
    keys = [_sha(t) for t in texts]
    known = cache.vectors(encoder.name, list(dict.fromkeys(keys)), encoder.dimension) if cache is not None else {}
    missing = list(dict.fromkeys(k for k in keys if k not in known)) if cache is not None else keys
    text_of = dict(zip(keys, texts))
    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    fresh: list[np.ndarray] = []
    with tqdm(total=len(missing), desc="embedding", unit="passage", disable=not progress) as bar:
        for start in range(0, len(missing), BATCH):
            part = missing[start:start + BATCH]
            batch = encoder.encode_passages([text_of[k] for k in part] if cache is not None else texts[start:start + BATCH])
            if cache is not None:
                cache.put_vectors(encoder.name, part, batch)  # one transaction per batch: a kill loses one batch
                known.update(zip(part, batch))
            else:
                fresh.append(batch)
            bar.update(len(part))
    if cache is None:
        if fresh:
            vectors[:] = np.concatenate(fresh)
    else:
        for i, k in enumerate(keys):
            vectors[i] = known[k]
    return vectors, keys, len(missing)


def _write_build(corpus: Corpus, out: Path, encoder: Encoder, nlp: FrenchNLP, chunk_words: int, overlap: int,
                 progress: bool, build_id: str, built_at: datetime, cache: store.BuildCache | None) -> Manifest:
    actions = corpus.actions
    analyses, analysis_keys, analysed = _analyses(actions, nlp, chunk_words, overlap, progress, cache)
    db = store.connect(out / "actions.sqlite", readonly=False)
    store.create(db)
    lexicon: Counter[tuple[str, str]] = Counter()
    spellings: Counter[tuple[str, str]] = Counter()  # folded form -> how the fiches write it
    chunk_rows: list[int] = []  # action rowid of each chunk, in chunk order
    sections: list[str] = []  # section of each chunk
    texts: list[str] = []
    columns = list(store.LEXICAL_COLUMNS)
    for rowid, (action, analysis) in enumerate(zip(actions, analyses), start=1):
        lexical = {}
        for column in columns:
            terms = analysis["lexical"][column]
            lexicon.update((surface, term) for _, surface, term in terms)
            spellings.update((surface, text) for text, surface, _ in terms)
            lexical[column] = " ".join(term for _, _, term in terms)
        store.insert_action(db, rowid, action, lexical)
        for section, position, text, terms in analysis["chunks"]:
            chunk_rows.append(rowid)
            sections.append(section)
            store.insert_chunk(db, len(chunk_rows), rowid, Chunk(action.id, section, position, text),
                               [tuple(t) for t in terms])
            texts.append(text)
    store.insert_lexicon(db, ((s, t, n) for (s, t), n in lexicon.items()))
    by_count = sorted(spellings.items(), key=lambda kv: kv[1])  # ascending: the commonest spelling wins
    store.insert_spellings(db, {surface: spelling for (surface, spelling), _ in by_count}.items())
    db.commit()
    db.close()

    vectors, vector_keys, embedded = _embed(texts, encoder, progress, cache)
    chunk_ids = np.arange(1, len(texts) + 1)
    faiss.write_index(chunk_index(vectors, chunk_ids, encoder.dimension), str(out / "chunks.faiss"))

    action_ids, profiles = _action_profiles(vectors, np.asarray(chunk_rows, dtype=np.int64), sections)
    faiss.write_index(_flat_index(profiles, action_ids, encoder.dimension), str(out / "actions.faiss"))
    if cache is not None:
        cache.keep_only(encoder.name, vector_keys, analysis_keys)

    manifest = Manifest(
        format_version=FORMAT_VERSION, build_id=build_id, built_at=built_at.isoformat(timespec="seconds"),
        encoder=encoder.name, dimension=encoder.dimension, spacy_model=nlp.model, source=str(corpus.source),
        source_sha256=corpus.checksum, actions=len(actions), chunks=len(texts), duplicates=corpus.duplicates,
        chunk_words=chunk_words, overlap_sentences=overlap, actions_analysed=analysed,
        actions_reused=len(actions) - analysed, passages_embedded=embedded,
        passages_reused=len(texts) - embedded if cache is not None else 0,
    )
    manifest.write(out)
    return manifest


def _action_profiles(vectors: np.ndarray, owners: np.ndarray, sections: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One vector per action for "similar actions": the mean of its sections' mean vectors, centred.

    Each section counts once whatever its length, so a long description does not drown the summary and
    the profile does not depend on the chunk size; subtracting the corpus mean removes what every fiche
    shares ("centre social", "habitants"). Dev recall@3 of similar: 0.50 plain chunk mean -> 1.00
    (docs/QUALITY.md). Grouped sums, not a mask per action: the masks were O(actions x chunks), minutes at 10 000.
    """
    action_ids = np.unique(owners)
    if not len(action_ids):
        return action_ids, vectors[:0]
    groups: dict[tuple[int, str], int] = {}
    group = np.fromiter((groups.setdefault((int(o), s), len(groups)) for o, s in zip(owners, sections)),
                        dtype=np.int64, count=len(owners))
    section_means = _group_sums(vectors, group, len(groups)) / np.bincount(group, minlength=len(groups))[:, None]
    group_action = np.searchsorted(action_ids, np.fromiter((o for o, _ in groups), dtype=np.int64, count=len(groups)))
    profiles = (_group_sums(section_means, group_action, len(action_ids))
                / np.bincount(group_action, minlength=len(action_ids))[:, None])
    return action_ids, _normalise(profiles - profiles.mean(axis=0))


def _group_sums(rows: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Sum of the rows of each group (every group non-empty), in float64: sort + reduceat, ~20x np.add.at."""
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(groups))
    return np.add.reduceat(rows[order].astype(np.float64), starts, axis=0)


def _point_current(index_dir: Path, build: Path) -> None:
    link = index_dir / "current"
    tmp_link = index_dir / f".current-{build.name}"
    tmp_link.unlink(missing_ok=True)
    os.symlink(build.relative_to(index_dir), tmp_link)
    os.replace(tmp_link, link)  # atomic on POSIX: readers see the old build or the new one, never neither


def remove_stale_builds(builds: Path) -> None:
    """Delete the builds/.tmp-* directories of builds whose process died (SIGKILL, power loss): those
    written on this host by a process that no longer runs. A build still running here, or on another host
    sharing the directory, is left alone."""
    host = os.uname().nodename
    for tmp in builds.glob(".tmp-*"):
        try:
            owner_host, pid = (tmp / OWNER_FILE).read_text(encoding="utf-8").split()
            os.kill(int(pid), 0) if owner_host == host else None
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (OSError, ValueError):
            continue  # no owner yet (being created), another user's process, or unreadable: keep it


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
