"""The evaluation sets and their indexes: each set's corpus is indexed in its own directory under the work dir.

Layout of a sets directory (../shared/eval, or a held-out one of the same shape):
    dev_queries.tsv, dev_similar.tsv              over ../data/actions-maine-et-loire.txt (the sample)
    staff/queries.tsv, noanswer.tsv, similar.tsv  over the sample, written as centre staff write queries
    devplus/union.txt, queries.tsv, noanswer.tsv, similar.tsv
    devplus/queries_phrased.tsv                   over devplus/union.txt, in the staff's style
    external/corpus.jsonl, queries_dev.tsv        (another French collection: checks, never tunes)
A set whose files are absent is skipped; sets over the same corpus share its index. An index is rebuilt only
when its corpus, encoder, spaCy model or chunking changed; embeddings and analyses come from its build cache, so
a rebuild with another chunking embeds only the new passages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from .. import store
from ..analysis import ANALYSIS_VERSION, COLUMNS
from ..builds import current_build
from ..chunking import DEFAULT_CHUNKING, Chunking
from ..corpus import load_actions
from ..derive import cached_analyses
from ..encoders import Encoder
from ..errors import IndexMismatchError, IndexMissingError
from ..index import CACHE_FILE, build_index
from ..lexical import LexicalIndex, Postings
from ..loading import Manifest, load_index
from ..nlp import FrenchNLP
from ..search import Searcher
from ..store import BuildCache, records
from .judgments import Judged, read_noanswer, read_queries, read_similar, resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSet:
    name: str
    corpus: Path
    queries: Path
    noanswer: Path | None = None
    similar: Path | None = None
    tuned: bool = True  # constants are chosen on it; a set that only checks them is False
    index: str = ""  # the directory its corpus is indexed in, under the work dir; its name by default

    @property
    def directory(self) -> str:
        return self.index or self.name


def discover(root: Path) -> list[EvalSet]:
    """The sets present under `root`, in a fixed order."""
    sample = root.parent / "data" / "actions-maine-et-loire.txt"
    union = root / "devplus" / "union.txt"
    candidates = [
        EvalSet("dev", sample, root / "dev_queries.tsv", similar=root / "dev_similar.tsv"),
        EvalSet("staff", sample, root / "staff" / "queries.tsv", root / "staff" / "noanswer.tsv",
                root / "staff" / "similar.tsv", index="dev"),
        EvalSet("devplus", union, root / "devplus" / "queries.tsv", root / "devplus" / "noanswer.tsv",
                root / "devplus" / "similar.tsv"),
        EvalSet("devplus-phrased", union, root / "devplus" / "queries_phrased.tsv", index="devplus"),
        EvalSet("external", root / "external" / "corpus.jsonl", root / "external" / "queries_dev.tsv", tuned=False),
    ]
    found = []
    for s in candidates:
        if s.corpus.is_file() and s.queries.is_file():
            found.append(replace(s, noanswer=_present(s.noanswer), similar=_present(s.similar)))
        else:
            log.info("jeu d'évaluation %s laissé de côté : %s ou %s manque", s.name, s.corpus, s.queries)
    return found


def _present(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


@dataclass(frozen=True)
class Loaded:
    """A set with its searcher, its judgments keyed by action id, and the plain BM25 the baseline uses."""

    set: EvalSet
    searcher: Searcher
    queries: list[Judged]
    noanswer: list[Judged]
    similar: list[Judged]
    plain: LexicalIndex | None = None  # every column weighted 1: BM25 over the whole fiche


def recounted(searcher: Searcher, directory: Path, nlp: FrenchNLP, chunking: Chunking,
              weights: dict[str, float]) -> Postings:
    """The index's postings recounted under other column weights, from the analyses in its build cache."""
    rowids = searcher.index.fiche_ids.tolist()
    cache = BuildCache(directory / CACHE_FILE)
    try:
        analyses = cached_analyses(records(searcher.index.db, rowids), nlp, chunking, False, cache)[0]
    finally:
        cache.close()
    return Postings.from_counts(zip(rowids, (a.column_terms() for a in analyses)), max(rowids, default=0) + 1,
                                weights)


def index_dir(work: Path, s: EvalSet, chunking: Chunking) -> Path:
    suffix = "" if chunking == DEFAULT_CHUNKING else f"-{chunking.words}w{chunking.overlap}o-{chunking.context}"
    return work / f"{s.directory}{suffix}"


def ensure_index(s: EvalSet, directory: Path, encoder: Encoder, nlp: FrenchNLP, chunking: Chunking,
                 progress: bool) -> None:
    """Build the set's index in `directory` unless the one there was built from the same corpus and settings."""
    corpus = load_actions(s.corpus)
    try:
        m = Manifest.read(current_build(directory))
        fresh = (m.analysis_version, m.source_sha256, m.encoder, m.spacy_model, m.chunk_words,
                 m.overlap_sentences, m.chunk_context) == (ANALYSIS_VERSION, corpus.checksum,
                                                           encoder.name, nlp.model, chunking.words, chunking.overlap,
                                                           chunking.context)
    except (IndexMissingError, IndexMismatchError):  # none, or of another format (Manifest.read refuses it)
        fresh = False
    if not fresh:
        log.info("indexation du jeu d'évaluation %s (%d fiches) dans %s", s.name, len(corpus.actions), directory)
        build_index(corpus, directory, encoder, nlp, chunking=chunking, progress=progress)


def load(s: EvalSet, work: Path, encoder: Encoder, nlp: FrenchNLP, chunking: Chunking = DEFAULT_CHUNKING,
         progress: bool = False) -> Loaded:
    directory = index_dir(work, s, chunking)
    ensure_index(s, directory, encoder, nlp, chunking, progress)
    searcher = Searcher(load_index(directory, encoder.name, nlp.model), encoder)
    return attach(s, searcher, directory, nlp, chunking)


def attach(s: EvalSet, searcher: Searcher, directory: Path, nlp: FrenchNLP,
           chunking: Chunking = DEFAULT_CHUNKING) -> Loaded:
    """A set's judgments over a searcher of its corpus indexed in `directory` (its build cache gives the plain
    BM25 of the baseline)."""
    plain = LexicalIndex(recounted(searcher, directory, nlp, chunking, {c: 1.0 for c in COLUMNS}))
    titles = store.titles(searcher.index.db)
    queries = resolve(read_queries(s.queries), titles, s.queries)
    noanswer = read_noanswer(s.noanswer) if s.noanswer else []
    similar = resolve(read_similar(s.similar), titles, s.similar) if s.similar else []
    # similar lists are keyed by source title: resolve it too
    if s.similar:
        by_title = resolve([Judged("", {j.query: 2}) for j in read_similar(s.similar)], titles, s.similar)
        similar = [Judged(next(iter(src.grades)), j.grades) for src, j in zip(by_title, similar)]
    return Loaded(s, searcher, queries, noanswer, similar, plain)
