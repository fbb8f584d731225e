"""Index build and load: round trip, atomic swap, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semsearch.builds import current_build
from semsearch.corpus import Corpus
from semsearch.encoders import Encoder
from semsearch.errors import IndexMismatchError, IndexMissingError
from semsearch.index import build_index
from semsearch.loading import FORMAT_VERSION, Manifest, library_versions, load_index
from semsearch.nlp import FrenchNLP
from semsearch.vectors import inner_products


class FailingEncoder:
    """Wraps the real encoder and dies mid-embedding, as a killed or crashing build would."""

    def __init__(self, real: Encoder, fail_after: int) -> None:
        self.name, self.dimension, self._real, self._left = real.name, real.dimension, real, fail_after

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._real.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        self._left -= 1
        if self._left < 0:
            raise RuntimeError("encoder crashed")
        return self._real.encode_passages(texts)


def small(corpus: Corpus, n: int = 3) -> Corpus:
    return Corpus(corpus.actions[:n], corpus.source, corpus.checksum, 0, [])


def test_manifest_stamps_the_build(sample_index: Path, corpus: Corpus) -> None:
    index = load_index(sample_index, "multilingual-e5-small-onnx")
    m = index.manifest
    assert (m.actions, m.duplicates, m.encoder, m.dimension) == (24, 1, "multilingual-e5-small-onnx", 384)
    assert m.source_sha256 == corpus.checksum and m.chunks == len(index.chunk_ids) > 24 and index.chunk_vectors(index.chunk_ids).shape == (m.chunks, 384)
    assert json.loads((index.path / "manifest.json").read_text())["build_id"] == m.build_id


def test_index_round_trips_every_record(sample_index: Path, corpus: Corpus) -> None:
    index = load_index(sample_index)
    stored = {row[0]: json.loads(row[1]) for row in index.db.execute("SELECT id, data FROM actions")}
    assert stored == {a.id: a.to_dict() for a in corpus.actions}


def test_loading_with_another_encoder_is_refused(sample_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="all-MiniLM-L6-v2.*multilingual-e5-small|multilingual-e5-small"):
        load_index(sample_index, "all-MiniLM-L6-v2")


def test_loading_with_another_spacy_model_is_refused(sample_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="construit avec le modèle spaCy 'fr_core_news_sm', mais 'fr_core_news_lg'"):
        load_index(sample_index, spacy_model="fr_core_news_lg")


def test_manifest_records_the_libraries_that_shaped_the_build(sample_index: Path) -> None:
    recorded = json.loads((current_build(sample_index) / "manifest.json").read_text())["versions"]
    assert {"semsearch", "spacy", "fr_core_news_sm", "faiss", "numpy"} <= recorded.keys()
    assert recorded == load_index(sample_index).manifest.versions == library_versions("fr_core_news_sm")


def test_a_manifest_of_another_format_is_refused_and_one_from_before_the_versions_loads(sample_index: Path,
                                                                                       tmp_path: Path) -> None:
    current = json.loads((current_build(sample_index) / "manifest.json").read_text())
    for name in ("warnings", "files", "versions"):  # optional: builds of this format from before they were recorded
        current.pop(name)
    (tmp_path / "manifest.json").write_text(json.dumps(current))
    assert Manifest.read(tmp_path).versions == {}
    old = {"format_version": 1, "build_id": "b", "built_at": "t", "encoder": "e", "dimension": 3,
           "spacy_model": "m", "source": "s", "source_sha256": "x", "actions": 1, "chunks": 2, "duplicates": 0,
           "chunk_words": 40, "overlap_sentences": 1}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    said = f"version de format 1, mais cette version de semsearch lit {FORMAT_VERSION} ; reconstruisez-le"
    with pytest.raises(IndexMismatchError, match=said + " avec `semsearch reindex`$"):
        Manifest.read(tmp_path)


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="semsearch reindex"):
        load_index(tmp_path)


def test_damaged_index_is_reported_not_served(tmp_path: Path, corpus: Corpus, encoder: Encoder,
                                              nlp: FrenchNLP) -> None:
    build_index(small(corpus), tmp_path, encoder, nlp, progress=False)
    (current_build(tmp_path) / "chunks.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexMissingError, match="index abîmé"):
        load_index(tmp_path)


def test_failed_build_leaves_the_previous_index_serving(tmp_path: Path, corpus: Corpus, encoder: Encoder,
                                                       nlp: FrenchNLP) -> None:
    first = build_index(small(corpus), tmp_path, encoder, nlp, progress=False)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        build_index(small(corpus, 4), tmp_path, FailingEncoder(encoder, fail_after=0), nlp, progress=False)
    assert load_index(tmp_path).manifest.build_id == first.build_id
    assert [p.name for p in (tmp_path / "builds").iterdir()] == [first.build_id]  # no half-written build left


def test_new_build_replaces_current_and_keeps_one_for_rollback(tmp_path: Path, corpus: Corpus, encoder: Encoder,
                                                               nlp: FrenchNLP) -> None:
    old = load_index(tmp_path) if (tmp_path / "current").exists() else None
    assert old is None
    builds = [build_index(small(corpus, n), tmp_path, encoder, nlp, progress=False) for n in (1, 2, 3)]
    assert load_index(tmp_path).manifest.build_id == builds[-1].build_id
    assert sorted(p.name for p in (tmp_path / "builds").iterdir()) == [b.build_id for b in builds[1:]]


def test_fiche_scores_are_the_products_of_the_stored_vectors_and_a_wrong_dimension_is_refused(
        sample_index: Path) -> None:
    index = load_index(current_build(sample_index))
    try:
        query = index.fiche_matrix[3] + index.fiche_matrix[7]
        np.testing.assert_allclose(inner_products(index.fiche_matrix, query), index.fiche_matrix @ query,
                                   atol=1e-5)
        with pytest.raises(ValueError, match="produit impossible"):
            inner_products(index.fiche_matrix, query[:100])
    finally:
        index.close()
