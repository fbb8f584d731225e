"""What a build is on disk and how it is opened: its manifest, the loaded Index, and the checks a server makes
before it serves one (index.py writes builds, builds.py finds the live one)."""

from __future__ import annotations

import json
import logging
import sqlite3
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import faiss
import numpy as np

from . import lexical, store
from . import vectors as dense
from .builds import current_build, damage, has_build
from .errors import IndexDamagedError, IndexMismatchError, IndexMissingError

log = logging.getLogger(__name__)

# 3: fiche vectors, passage spans, word families in the lexicon; 4: stop words; 5: each passage's terms.
FORMAT_VERSION = 5
STORE_FILE = "actions.sqlite"


def library_versions(spacy_model: str) -> dict[str, str]:
    """Versions of what shapes an index (tokens, stems, vectors, their layout), recorded in each manifest so that
    a build's results can be traced to them; libraries that are not installed are left out."""
    found = {"faiss": faiss.__version__, "numpy": np.__version__}
    for name in ("semsearch", "spacy", spacy_model, "onnxruntime"):
        try:
            found[name] = metadata.version(name)
        except (metadata.PackageNotFoundError, ValueError):  # not installed, or a pipeline given by its path
            pass
    return found


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
    chunk_context: str  # chunking.Chunking.context
    analysis_version: int  # analysis.ANALYSIS_VERSION of the build
    # What the build cache saved.
    actions_analysed: int
    actions_reused: int
    passages_embedded: int
    passages_reused: int
    search: str  # "exact" or "ivf": how chunk vectors are searched (vectors.ANN_ABOVE)
    patched_from: str  # the build this one was patched from; empty for a full build
    # Defaults: format-3 builds from before these were recorded still load.
    warnings: int = 0  # what the export parser fixed or skipped (`semsearch reindex` prints them)
    files: dict[str, str] = field(default_factory=dict)  # sha256 of each file, checked before a patch
    versions: dict[str, str] = field(default_factory=dict)  # library_versions() of the build
    # Id of a fiche -> export lines of its record and of the exact duplicates collapsed into it
    # (Corpus.duplicate_lines; `semsearch duplicates` lists them); empty in builds from before it was recorded.
    duplicate_lines: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            found = data.get("format_version") if isinstance(data, dict) else None
            if found is not None and found != FORMAT_VERSION:  # refused before its fields are read: they differ
                raise IndexMismatchError("la version de format", FORMAT_VERSION, found, configurable=False)
            return cls(**data)
        except FileNotFoundError as exc:
            raise IndexMissingError(f"{path} : pas de manifest.json ; reconstruisez l'index avec `semsearch reindex`") from exc
        except (OSError, ValueError, TypeError) as exc:
            raise IndexDamagedError(f"{path} : manifest.json illisible ou incomplet ({exc}) ; reconstruisez l'index "
                                    f"avec `semsearch reindex --full`") from exc

    def write(self, path: Path) -> None:
        (path / "manifest.json").write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")


@dataclass
class Index:
    """A loaded, read-only index. Text and metadata live in SQLite; the arrays every query scans in memory."""

    path: Path
    manifest: Manifest
    db: sqlite3.Connection
    chunk_matrix: np.ndarray | None  # (chunks, dimension) float32 in chunk_ids order; None when chunk_ann holds them
    chunk_ids: np.ndarray  # chunk rowids, ascending
    chunk_ann: faiss.Index | None  # IVF over the chunk vectors, None when they are searched exactly
    fiche_ids: np.ndarray  # action rowids, ascending
    fiche_matrix: np.ndarray  # (actions, dimension) float32: the vector of each action's whole text, fiche_ids order
    postings: lexical.Postings

    def chunk_vectors(self, rowids: np.ndarray) -> np.ndarray:
        """The vectors of some chunks, from whichever structure holds them in memory."""
        rowids = np.asarray(rowids, dtype=np.int64)
        if self.chunk_matrix is not None:
            return self.chunk_matrix[np.searchsorted(self.chunk_ids, rowids)]
        assert self.chunk_ann is not None
        return self.chunk_ann.reconstruct_batch(rowids) if len(rowids) \
            else np.zeros((0, self.manifest.dimension), dtype=np.float32)

    def close(self) -> None:
        self.db.close()


def verify_live(index_dir: Path, encoder_name: str | None = None, spacy_model: str | None = None) -> None:
    """What a server checks before it starts, without loading the index (the process that checks is the one
    that then serves, and memory a load gave back stays with it): nothing when the directory holds no build yet
    (it then waits for one); else the live build's files are the ones it wrote (reads every file: seconds at
    10 000 actions), its arrays have the shapes of its manifest, and it was built for this format, encoder and
    spaCy pipeline.
    Raises IndexDamagedError, or IndexMismatchError."""
    if not has_build(index_dir):
        return
    path = current_build(index_dir)
    manifest = Manifest.read(path)
    _check_stamp(manifest, encoder_name, spacy_model)
    problem = damage(path, manifest.files, STORE_FILE) or _misshapen(path, manifest)
    if problem:
        raise IndexDamagedError(f"{path} : index abîmé ({problem}) ; reconstruisez-le avec `semsearch reindex --full`")


def _check_stamp(manifest: Manifest, encoder_name: str | None, spacy_model: str | None) -> None:
    """Refuse a build made with another encoder or spaCy pipeline (the format was checked by Manifest.read):
    its vectors or its terms would not match the queries'. Other library versions are only logged."""
    if encoder_name is not None and manifest.encoder != encoder_name:
        raise IndexMismatchError("l'encodeur", encoder_name, manifest.encoder)
    if spacy_model is not None and manifest.spacy_model != spacy_model:
        raise IndexMismatchError("le modèle spaCy", spacy_model, manifest.spacy_model)
    if manifest.versions:
        running = library_versions(manifest.spacy_model)
        changed = [f"{name} {manifest.versions.get(name, '-')} -> {running.get(name, '-')}"
                   for name in sorted(manifest.versions.keys() | running.keys())
                   if manifest.versions.get(name) != running.get(name)]
        if changed:
            log.info("la construction %s a été faite avec d'autres versions des bibliothèques : %s", manifest.build_id,
                     ", ".join(changed))


def _misshapen(path: Path, m: Manifest) -> str | None:
    """What disagrees with the manifest in the arrays' headers and the lexical file's checksums (builds from
    before the manifest recorded the files' own); nothing is kept in memory."""
    expected = {dense.VECTORS_FILE: (m.chunks, m.dimension), dense.IDS_FILE: (m.chunks,),
                dense.FICHE_IDS_FILE: (m.actions,), dense.FICHE_VECTORS_FILE: (m.actions, m.dimension)}
    try:
        for name, shape in expected.items():
            found = np.load(path / name, mmap_mode="r").shape
            if found != shape:
                return f"{name} contient {found}, manifest.json dit {shape}"
        with zipfile.ZipFile(path / lexical.FILE) as postings:
            broken = postings.testzip()
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a truncated or garbled file
        return f"{type(exc).__name__}: {exc}"
    return f"{lexical.FILE} : {broken} est abîmé" if broken else None


def load_index(index_dir: Path, encoder_name: str | None = None, spacy_model: str | None = None) -> Index:
    """Open the live build read-only; refuse one built by another format version, encoder or spaCy pipeline
    (IndexMismatchError), and one whose files cannot be read or disagree with its manifest (IndexDamagedError)."""
    path = current_build(index_dir)
    manifest = Manifest.read(path)
    _check_stamp(manifest, encoder_name, spacy_model)
    fix = "reconstruisez-le avec `semsearch reindex --full`"
    problem = store.quick_check(path / STORE_FILE)
    if problem:
        raise IndexDamagedError(f"{path} : index abîmé ({STORE_FILE} : {problem}) ; {fix}")
    try:
        chunk_matrix, chunk_ids, chunk_ann = dense.read_chunks(path)
        fiche_ids, fiche_matrix = dense.read_fiches(path)
        postings = lexical.Postings.load(path)
        db = store.connect(path / STORE_FILE, readonly=True)
        count = store.action_count(db)
    except Exception as exc:  # whatever a truncated or garbled file raises (numpy, zipfile, FAISS, SQLite)
        raise IndexDamagedError(f"{path} : index abîmé ({type(exc).__name__} : {exc}) ; {fix}") from exc
    vectors = chunk_ann.ntotal if chunk_ann is not None else chunk_matrix.shape
    if count != manifest.actions or len(chunk_ids) != manifest.chunks or len(fiche_ids) != manifest.actions \
            or vectors not in (manifest.chunks, (manifest.chunks, manifest.dimension)):
        db.close()
        raise IndexDamagedError(f"{path} : les fichiers de l'index ne correspondent pas à manifest.json ; {fix}")
    return Index(path, manifest, db, chunk_matrix, chunk_ids, chunk_ann, fiche_ids, fiche_matrix, postings)
