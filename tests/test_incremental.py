"""Incremental reindex: the build cache re-embeds only new passages, the live build is patched rather than
rewritten, and the result searches exactly like a full rebuild."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from semsearch import cores
from semsearch import semantic as semantic_module
from semsearch import vectors as dense
from semsearch.corpus import Corpus
from semsearch.encoders import Encoder
from semsearch.index import CACHE_FILE, build_index
from semsearch.loading import load_index
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher


class CountingEncoder:
    """The real encoder, counting the passages it is asked to embed."""

    def __init__(self, real: Encoder) -> None:
        self.name, self.dimension, self._real, self.passages = real.name, real.dimension, real, 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._real.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        self.passages += len(texts)
        return self._real.encode_passages(texts)


def subset(corpus: Corpus, actions: list) -> Corpus:
    return Corpus(actions, corpus.source, corpus.checksum, 0, [])


def chunk_vectors(index_dir: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(action id, chunk text) of every chunk, and its vector, in chunk order."""
    index = load_index(index_dir)
    rows = index.db.execute("SELECT a.id, c.text, c.rowid FROM chunks c JOIN actions a ON a.rowid = c.action "
                            "ORDER BY a.position, c.rowid").fetchall()
    vectors = index.chunk_vectors(np.array([r for _, _, r in rows]))
    index.close()
    return [(a, t) for a, t, _ in rows], vectors


@pytest.fixture(scope="module")
def changed(corpus: Corpus) -> tuple[Corpus, Corpus]:
    """A 6-action corpus, then the same with one action changed, one deleted and one added."""
    before = corpus.actions[:6]
    edited = dataclasses.replace(before[1], summary=before[1].summary + " Un atelier de cuisine a été ajouté.")
    after = [before[0], edited, *before[3:], corpus.actions[6]]  # before[2] deleted, actions[6] added
    return subset(corpus, before), subset(corpus, after)


def test_reindex_embeds_only_new_passages_and_equals_a_full_rebuild(
    tmp_path: Path, changed: tuple[Corpus, Corpus], encoder: Encoder, nlp: FrenchNLP
) -> None:
    before, after = changed
    counting = CountingEncoder(encoder)
    first = build_index(before, tmp_path / "cached", counting, nlp, progress=False)
    # every passage and every whole fiche embedded once
    assert first.passages_embedded == first.chunks == counting.passages - first.actions and first.passages_reused == 0
    old_texts = {t for _, t in chunk_vectors(tmp_path / "cached")[0]}

    counting.passages = 0
    again = build_index(after, tmp_path / "cached", counting, nlp, progress=False)
    full = build_index(after, tmp_path / "full", encoder, nlp, progress=False, cache=False)

    new_texts = {t for _, t in chunk_vectors(tmp_path / "cached")[0]} - old_texts
    assert 0 < again.passages_embedded == counting.passages - 2 <= len(new_texts)  # + the 2 new whole fiches
    assert again.passages_reused == again.chunks - again.passages_embedded
    assert (again.actions_analysed, again.actions_reused) == (2, 4)  # the edited and the added action
    assert (full.passages_embedded, full.passages_reused) == (full.chunks, 0)
    assert again.patched_from == first.build_id and not full.patched_from

    cached_chunks, cached_vectors = chunk_vectors(tmp_path / "cached")
    full_chunks, full_vectors = chunk_vectors(tmp_path / "full")
    assert cached_chunks == full_chunks
    assert np.allclose(cached_vectors, full_vectors, atol=1e-5)
    assert before.actions[2].id not in {a for a, _ in cached_chunks}

    a, b = load_index(tmp_path / "cached"), load_index(tmp_path / "full")
    assert _records(a.db) == _records(b.db)
    fiches = [{id_: i.fiche_matrix[int(np.searchsorted(i.fiche_ids, rowid))]
               for id_, rowid in i.db.execute("SELECT id, rowid FROM actions")} for i in (a, b)]
    assert fiches[0].keys() == fiches[1].keys()
    assert all(np.allclose(fiches[0][k], fiches[1][k], atol=1e-5) for k in fiches[0])
    ours, theirs = Searcher(a, encoder), Searcher(b, encoder)
    for query in ("atelier cuisine", "precarite alimentaire", "jeunes", "parents", "séjour"):
        for mode in ("hybrid", "lexical"):
            assert _summary(ours.search(query, limit=20, mode=mode)) == _summary(theirs.search(query, limit=20, mode=mode))
    assert _summary(ours.similar(before.actions[0].id)) == _summary(theirs.similar(before.actions[0].id))
    assert [x.id for x in ours.listing(limit=100).actions] == [x.id for x in after.actions]


def _records(db: sqlite3.Connection) -> tuple:
    """Every table's content, rowids replaced by action ids: a patched build numbers its new rows after the old."""
    return (
        db.execute("SELECT id, position, key, identity, data FROM actions ORDER BY id").fetchall(),
        db.execute("SELECT a.id, f.facet, f.value FROM facets f JOIN actions a ON a.rowid = f.action "
                   "ORDER BY 1, 2, 3").fetchall(),
        db.execute("SELECT a.id, c.section, c.position, c.key, c.text, c.spans FROM chunks c "
                   "JOIN actions a ON a.rowid = c.action ORDER BY 1, 2, 3").fetchall(),
        db.execute("SELECT * FROM lexicon ORDER BY 1, 2").fetchall(),
        db.execute("SELECT * FROM spellings ORDER BY 1, 2").fetchall(),
    )


def _summary(results, scores: bool = True) -> tuple:
    """Scores to 4 decimals: a patched build sums the same float32 vectors in another order."""
    facets = {k: [(v.value, v.count) for v in vs] for k, vs in results.facets.items()}
    hits = [(h.action.id, round(h.score, 4) if scores else None, h.explanation.matched_terms,
             h.passage and h.passage.text)
            for h in results.hits]
    return results.total, hits, json.dumps(facets)


def test_a_reindex_that_removes_most_actions_builds_afresh(
    tmp_path: Path, changed: tuple[Corpus, Corpus], encoder: Encoder, nlp: FrenchNLP
) -> None:
    before, _ = changed
    build_index(before, tmp_path, encoder, nlp, progress=False)
    fewer = build_index(subset(before, before.actions[:2]), tmp_path, encoder, nlp, progress=False)
    assert fewer.patched_from == "" and fewer.actions == 2


def test_above_the_ann_threshold_chunks_go_in_an_ivf_index_that_a_reindex_patches(
    tmp_path: Path, changed: tuple[Corpus, Corpus], encoder: Encoder, nlp: FrenchNLP,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = changed
    exact = build_index(before, tmp_path / "exact", encoder, nlp, progress=False)
    monkeypatch.setattr(dense, "ANN_ABOVE", 10)
    first = build_index(before, tmp_path / "ivf", encoder, nlp, progress=False)
    assert (exact.search, first.search) == ("exact", "ivf")
    monkeypatch.setattr(cores, "PARALLEL_SCAN_ABOVE", 0)  # a lone query's scan split between threads
    ivf, flat = (Searcher(load_index(tmp_path / d), encoder) for d in ("ivf", "exact"))
    assert isinstance(ivf.index.chunk_ann, faiss.IndexIVFScalarQuantizer) and flat.index.chunk_ann is None
    assert ivf.index.chunk_ann.parallel_mode == 1 and ivf.cores is getattr(encoder, "cores", ivf.cores)
    # a few cells, all probed: the IVF index must return what the exact scan returns
    assert ivf.index.chunk_ann.nprobe >= ivf.index.chunk_ann.nlist
    for query in ("atelier cuisine", "jeunes", "parents"):  # the same page; scores to float16's precision
        approximate, exact = ivf.search(query, mode="semantic"), flat.search(query, mode="semantic")
        assert _summary(approximate, scores=False) == _summary(exact, scores=False)
        assert [h.score for h in approximate.hits] == pytest.approx([h.score for h in exact.hits], abs=0.01)

    again = build_index(after, tmp_path / "ivf", encoder, nlp, progress=False)
    assert again.patched_from == first.build_id and again.search == "ivf"
    patched = load_index(tmp_path / "ivf")
    assert patched.chunk_ann.ntotal == again.chunks == len(patched.chunk_ids) and patched.chunk_matrix is None
    on_disk = np.load(patched.path / dense.VECTORS_FILE)
    # read back through the IVF, which holds them in float16
    np.testing.assert_allclose(patched.chunk_vectors(patched.chunk_ids[-3:]), on_disk[-3:], atol=1e-3)
    added = after.actions[-1]
    hit = Searcher(patched, encoder).search(added.title, mode="semantic").hits[0]
    assert hit.action.id == added.id


def test_an_ivf_list_cut_at_its_length_keeps_only_the_passages_above_its_last(
    tmp_path: Path, changed: tuple[Corpus, Corpus], encoder: Encoder, nlp: FrenchNLP,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Passages tied with the last of a full candidate list made it or not by how the scan's threads met (on
    synthetic duplicates at 50 000 actions, the same search gave other facet counts from one call to the next):
    none of them counts, so a search gives the same results every time."""
    monkeypatch.setattr(dense, "ANN_ABOVE", 10)
    monkeypatch.setattr(cores, "PARALLEL_SCAN_ABOVE", 0)
    build_index(changed[0], tmp_path, encoder, nlp, progress=False)
    searcher = Searcher(load_index(tmp_path), encoder)
    index = searcher.index
    assert index.chunk_ann.nprobe >= index.chunk_ann.nlist  # every cell probed: the list is the exact top k
    vector = searcher.ranker.vector(searcher.analyser.meaning("atelier cuisine"))
    scores = index.chunk_vectors(index.chunk_ids) @ vector
    owners = searcher.dense.chunk_action[index.chunk_ids[np.argsort(-scores)]].tolist()
    # the first list length whose last passage is the only one of its action: cutting it drops that action
    k = next(k for k in range(2, len(owners)) if owners[k - 1] not in owners[:k - 1])
    monkeypatch.setattr(semantic_module, "ANN_CANDIDATES", k)
    found = searcher.dense.match(vector)
    assert set(np.flatnonzero(found.chunks).tolist()) == set(owners[:k - 1])
    floor = found.passage_z[owners[k - 1]]
    assert all(found.passage_z[o] > floor for o in owners[:k - 1])


def test_cache_lives_beside_the_builds(tmp_path: Path, changed: tuple[Corpus, Corpus], encoder: Encoder,
                                       nlp: FrenchNLP) -> None:
    build_index(subset(changed[0], changed[0].actions[:1]), tmp_path, encoder, nlp, progress=False)
    assert (tmp_path / CACHE_FILE).is_file()
    assert not list((tmp_path / "builds").glob(f"*/{CACHE_FILE}"))
