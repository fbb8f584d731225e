"""Build or patch an index beside the live one, and swap it in: SQLite store + lexical postings + vectors +
a manifest (loading.py opens one).

Layout of an index directory (see index/README.md):
    index/current -> builds/<build id>           a symlink, replaced atomically by each successful build
    index/builds/<build id>/manifest.json        format, encoder, counts, source checksum, build time
    index/builds/<build id>/actions.sqlite       records, facets, chunks, lexicon, spellings
    index/builds/<build id>/lexical.npz          BM25 postings (semsearch.lexical)
    index/builds/<build id>/chunk_vectors.npy    one vector per chunk, and chunk_ids.npy their chunk rowids
    index/builds/<build id>/chunks.faiss         IVF index over them, only above vectors.ANN_ABOVE chunks
    index/builds/<build id>/fiche_vectors.npy    one vector per action, of its whole text; fiche_ids.npy their rowids
A build is written beside the live one and only becomes `current` once complete, so a failed build
leaves the previous index serving, and a server that has the old files open keeps answering from them.

A reindex patches a copy of the live build when it can (same encoder, pipeline and chunking): it deletes
the rows of removed or changed actions and inserts the new ones, so its cost follows the number of changed
actions, not the corpus size (5 changed actions of 10 000 in seconds, docs/BENCHMARKS.md). Searches over a
patched build return what a full rebuild returns (tests/test_incremental.py); above ANN_ABOVE chunks the
patched IVF index keeps its trained cells, so approximate results may differ as approximate results do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from . import lexical, store
from . import vectors as dense
from .analysis import ANALYSIS_VERSION, analysis_key, sha
from .builds import OWNER_FILE, checksums, current_build, damage, point_current, prune, remove_stale_builds
from .chunking import DEFAULT_CHUNKING, Chunking, whole_text
from .corpus import Corpus
from .derive import cached_analyses, counts, embed
from .encoders import Encoder
from .errors import BuildError, IndexMismatchError, IndexMissingError, os_problem
from .loading import FORMAT_VERSION, STORE_FILE, Manifest, library_versions
from .nlp import FrenchNLP
from .records import Action
from .words import fold

log = logging.getLogger(__name__)

CACHE_FILE = "cache.sqlite"  # beside builds/, see store.BuildCache
# A reindex patches the live build unless more than this share of its actions went away (then a full build
# is as cheap, and the IVF cells trained on the old corpus would describe the new one poorly).
PATCH_MAX_REMOVED = 0.5


def identity(action: Action) -> str:
    """Folded title and summary: two actions with the same are copies, which "similar" never proposes."""
    key = fold(" ".join(action.title.split())) + "\n" + fold(" ".join(action.summary.split()))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def build_index(
    corpus: Corpus,
    index_dir: Path,
    encoder: Encoder,
    nlp: FrenchNLP,
    *,
    chunking: Chunking = DEFAULT_CHUNKING,
    progress: bool = True,
    cache: bool = True,
    full: bool = False,
) -> Manifest:
    """Build a complete index beside the live one, then make it `current` in one atomic rename.

    With `cache` (the default), analyses and passage vectors are read from and written to
    index_dir/cache.sqlite, so only new or changed actions are analysed and only new passages embedded,
    and the live build is patched rather than rewritten when it is compatible; either way the result
    searches like a build without the cache (tests/test_incremental.py). A live build whose files are not the
    ones it wrote is never patched: `full`, or that, rebuilds from the export.
    A build that cannot be written raises BuildError naming the path; the live build stays as it was.
    """
    built_at = datetime.now(UTC)
    build_id = built_at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + corpus.checksum[:8]
    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build_id}"
    build_cache = None
    try:
        tmp.mkdir(parents=True)
        remove_stale_builds(builds)  # what killed builds left behind
        (tmp / OWNER_FILE).write_text(f"{os.uname().nodename} {os.getpid()}\n", encoding="utf-8")
        build_cache = store.BuildCache(index_dir / CACHE_FILE) if cache else None
        job = _Job(corpus, tmp, encoder, nlp, chunking, progress, build_id, built_at, build_cache)
        previous = _patchable(index_dir, job) if build_cache is not None and not full else None
        manifest = (previous and job.patch(previous)) or job.full()
        final = builds / build_id
        tmp.rename(final)
        point_current(index_dir, final)
    except (OSError, sqlite3.OperationalError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _unwritable(index_dir, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if build_cache is not None:
            build_cache.close()
    prune(builds)
    return manifest


def _unwritable(index_dir: Path, exc: OSError | sqlite3.OperationalError) -> BuildError:
    """One line for a build the disk refused: where, why, and what to do."""
    where = getattr(exc, "filename", None) or index_dir
    said = getattr(exc, "strerror", None) or str(exc)  # the system's or SQLite's own words
    why = os_problem(exc) if isinstance(exc, OSError) else f"refus de SQLite ({said})"
    errno_ = getattr(exc, "errno", None)
    if errno_ == 28 or "full" in said:  # ENOSPC, or SQLite's "database or disk is full"
        fix = f"libérez de la place sur le disque de {index_dir}"
    elif errno_ in (13, 30):  # EACCES, EROFS
        fix = f"rendez {index_dir} accessible en écriture à cet utilisateur"
    else:
        fix = f"vérifiez {index_dir} et son disque"
    kept = "l'index en service est inchangé" if (index_dir / "current").exists() else "aucun index n'a été créé"
    return BuildError(f"impossible d'écrire l'index : {where} : {why} ; {fix} ({kept})")


def _patchable(index_dir: Path, job: _Job) -> Path | None:
    """The live build when a reindex may patch it: same format (Manifest.read), encoder, spaCy pipeline and
    chunking."""
    try:
        path = current_build(index_dir)
        m = Manifest.read(path)
    except (IndexMissingError, IndexMismatchError):  # none, damaged, or of another format: a full build
        return None
    same = (m.encoder, m.dimension, m.spacy_model, m.chunk_words, m.overlap_sentences,
            m.chunk_context) == (job.encoder.name, job.encoder.dimension, job.nlp.model,
                                 job.chunking.words, job.chunking.overlap, job.chunking.context)
    if not same:
        return None
    if not m.files:  # built before checksums were recorded: nothing says its files are still its own
        log.info("la construction en service %s n'a pas d'empreintes : construction complète depuis l'export", path.name)
        return None
    problem = damage(path, m.files, STORE_FILE)
    if problem:
        log.warning("la construction en service %s est abîmée (%s) : construction complète depuis l'export", path.name,
                    problem)
        return None
    return path


@dataclass
class _Job:
    """One build: what goes in, where it is written, and the two ways of writing it."""

    corpus: Corpus
    out: Path
    encoder: Encoder
    nlp: FrenchNLP
    chunking: Chunking
    progress: bool
    build_id: str
    built_at: datetime
    cache: store.BuildCache | None

    def full(self) -> Manifest:
        actions = self.corpus.actions
        analyses, keys, analysed = cached_analyses(actions, self.nlp, self.chunking, self.progress, self.cache)
        db = store.connect(self.out / STORE_FILE, readonly=False)
        store.create(db)
        rows = list(range(1, len(actions) + 1))
        texts = self._insert(db, rows, rows, actions, keys, analyses, first_chunk=1)
        store.add_counts(db, *counts(analyses, +1))
        store.set_stop_words(db, self.nlp.stop_words)
        db.commit()
        wholes = [whole_text(a) for a in actions]
        vectors, vector_keys, embedded = embed(texts + wholes, self.encoder, self.progress, self.cache, len(texts))
        ids = np.arange(1, len(texts) + 1, dtype=np.int64)
        ann = dense.ann_index(vectors[:len(texts)], ids, self.encoder.dimension) if len(ids) > dense.ANN_ABOVE else None
        postings = lexical.Postings.from_counts(zip(rows, (a.column_terms() for a in analyses)), len(actions) + 1)
        fiches = (np.asarray(rows, dtype=np.int64), vectors[len(texts):])
        self._finish(db, vectors[:len(texts)], ids, ann, postings, fiches)
        if self.cache is not None:
            self.cache.keep_only(self.encoder.name, vector_keys, keys)
        return self._manifest(len(texts), analysed, embedded, ann)

    def patch(self, previous: Path) -> Manifest | None:
        """Copy the previous build and replace only the actions whose analysis key changed; None when a full
        build is the better choice (too much changed, or the previous build cannot be read)."""
        actions = self.corpus.actions
        keys = [analysis_key(a, self.nlp.model, self.chunking) for a in actions]
        try:
            with store.connect(previous / STORE_FILE, readonly=True) as old_db:
                old = store.action_keys(old_db)
            old_vectors, old_ids, old_ann = dense.read_chunks(previous, for_search=False)
            old_postings = lexical.Postings.load(previous)
            old_fiche_ids, old_fiches = dense.read_fiches(previous)
        except (sqlite3.Error, OSError, ValueError, RuntimeError) as exc:
            log.warning("construction précédente %s illisible (%s) : construction complète", previous, exc)
            return None
        wanted = set(keys)
        removed = sorted(rowid for key, rowid in old.items() if key not in wanted)
        fresh = [i for i, k in enumerate(keys) if k not in old]
        if len(removed) > PATCH_MAX_REMOVED * len(old) or (self.cache is None):
            return None
        removed_keys = [k for k, rowid in old.items() if k not in wanted]
        removed_analyses = self.cache.analyses(removed_keys)
        if len(removed_analyses) < len(removed_keys):
            return None  # their word counts cannot be subtracted without their analyses

        new_actions = [actions[i] for i in fresh]
        analyses, _, analysed = cached_analyses(new_actions, self.nlp, self.chunking, self.progress, self.cache)
        shutil.copyfile(previous / STORE_FILE, self.out / STORE_FILE)
        db = store.connect(self.out / STORE_FILE, readonly=False)
        gone = store.chunk_keys(db, removed)
        removed_actions = store.records(db, removed)
        store.delete_actions(db, removed)
        first_row = max(old.values(), default=0) + 1
        rows = list(range(first_row, first_row + len(fresh)))
        texts = self._insert(db, rows, [i + 1 for i in fresh], new_actions, [keys[i] for i in fresh], analyses,
                             first_chunk=int(old_ids.max(initial=0)) + 1)
        store.set_positions(db, {old[k]: i + 1 for i, k in enumerate(keys) if k in old})
        store.add_counts(db, *counts(list(removed_analyses.values()), -1))
        store.add_counts(db, *counts(analyses, +1))
        db.commit()  # the stop words stay: a patch needs the same spaCy model and analysis version

        new_vectors, _, embedded = embed(texts + [whole_text(a) for a in new_actions], self.encoder, self.progress,
                                          self.cache, len(texts))
        new_vectors, new_fiches = new_vectors[:len(texts)], new_vectors[len(texts):]
        gone_ids = np.fromiter(gone, dtype=np.int64, count=len(gone))
        keep = ~np.isin(old_ids, gone_ids)
        new_ids = np.arange(len(texts), dtype=np.int64) + int(old_ids.max(initial=0)) + 1
        ids = np.concatenate([old_ids[keep], new_ids])
        vectors = np.concatenate([np.asarray(old_vectors[keep]), new_vectors])
        if len(ids) <= dense.ANN_ABOVE:
            ann = None
        elif old_ann is not None:
            dense.patch_ann(old_ann, gone_ids, new_vectors, new_ids)
            ann = old_ann
        else:
            ann = dense.ann_index(vectors, ids, self.encoder.dimension)
        postings = old_postings.patch(np.asarray(removed, dtype=np.int64),
                                      zip(rows, (a.column_terms() for a in analyses)), first_row + len(fresh))
        still = set(store.chunk_keys(db).values())
        kept = ~np.isin(old_fiche_ids, removed)
        fiches = (np.concatenate([old_fiche_ids[kept], np.asarray(rows, dtype=np.int64)]),
                  np.concatenate([old_fiches[kept], new_fiches]))
        self._finish(db, vectors, ids, ann, postings, fiches)
        gone_wholes = {sha(whole_text(a)) for a in removed_actions} - {sha(whole_text(a)) for a in actions}
        self.cache.forget(self.encoder.name, (set(gone.values()) - still) | gone_wholes, removed_keys)
        return self._manifest(len(ids), analysed, embedded, ann, patched_from=previous.name)

    def _insert(self, db: sqlite3.Connection, rows: Sequence[int], positions: Sequence[int],
                actions: Sequence[Action], keys: Sequence[bytes], analyses: Sequence[dict], first_chunk: int) -> list[str]:
        """Rows of some actions and their chunks; returns the texts their vectors read, in chunk rowid order."""
        texts: list[str] = []
        for rowid, position, action, key, analysis in zip(rows, positions, actions, keys, analyses):
            store.insert_action(db, rowid, position, key, identity(action), action)
            for chunk in analysis.chunks:
                text = self.chunking.embedded(action, chunk.section, chunk.text)
                store.insert_chunk(db, first_chunk + len(texts), rowid, chunk, sha(text))
                texts.append(text)
        return texts

    def _finish(self, db: sqlite3.Connection, vectors: np.ndarray, ids: np.ndarray, ann: faiss.Index | None,
                postings: lexical.Postings, fiches: tuple[np.ndarray, np.ndarray]) -> None:
        """Write what is derived from the rows: chunk vectors and their index, fiche vectors, lexical postings."""
        db.close()
        dense.write_chunks(self.out, vectors, ids, ann)
        dense.write_fiches(self.out, *fiches)
        postings.save(self.out)

    def _manifest(self, chunks: int, analysed: int, embedded: int, ann: faiss.Index | None,
                  patched_from: str = "") -> Manifest:
        c = self.corpus
        manifest = Manifest(
            format_version=FORMAT_VERSION, build_id=self.build_id,
            built_at=self.built_at.isoformat(timespec="seconds"), encoder=self.encoder.name,
            dimension=self.encoder.dimension, spacy_model=self.nlp.model, source=str(c.source),
            source_sha256=c.checksum, actions=len(c.actions), chunks=chunks, duplicates=c.duplicates,
            chunk_words=self.chunking.words, overlap_sentences=self.chunking.overlap,
            chunk_context=self.chunking.context, analysis_version=ANALYSIS_VERSION, actions_analysed=analysed,
            actions_reused=len(c.actions) - analysed, passages_embedded=embedded,
            passages_reused=chunks - embedded if self.cache is not None else 0,
            search="exact" if ann is None else "ivf", patched_from=patched_from, warnings=len(c.warnings),
            files=checksums(self.out), versions=library_versions(self.nlp.model),
            duplicate_lines={k: list(v) for k, v in c.duplicate_lines.items()},
        )
        manifest.write(self.out)
        return manifest
