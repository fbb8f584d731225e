"""Benchmarks at federation scale: build, incremental reindex, latency, HTTP, cold start, memory, disk, recall.

    .venv/bin/python scripts/bench.py                    # N = 1 000, 10 000 and 50 000 (11 minutes here)
    .venv/bin/python scripts/bench.py --sizes 2000 --runs 1 --rounds 1 --http-count 100 --http-seconds 10
    .venv/bin/python scripts/bench.py --smoke            # N = 40, every measurement, for tests/test_bench.py

Writes results.json and results.md under --out (default index/bench, git-ignored); progress goes to stderr.

The synthetic corpus scales the sample export to N actions: distinct titles, structures and departments;
each narrative field is a recombination of real sentences of that field from the sample, one per line.
Analysing and embedding 50 000 actions for real would take days here, so the build cache is pre-filled:
  - analyses are assembled from the real spaCy analysis of each sentence and short field; the chunk texts
    are exactly the real chunking's (only sentences spaCy gives back whole on their own line are used);
  - passage vectors are the mean of the real vectors of their sentences plus small noise, renormalised.
The pre-fill time is printed, never reported as build time: NLP and embedding rows are real throughputs
measured on a few synthetic actions and extrapolated to N. Indexing runs for real over all N, the
incremental reindex analyses and embeds its new passages for real, and queries always go through the real
encoder and spaCy. Above --light-above actions only the build, the latencies and recall are measured.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from itertools import chain
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# semsearch first: it sets the thread pools' environment, which numpy and FAISS read when they load, so that
# the bench measures the threads the service runs with.
import semsearch  # noqa: F401, I001

import faiss
import numpy as np

from semsearch import index as index_module
from semsearch import store
from semsearch.analysis import AnalysedChunk, Analysis, Span, analyse_actions, analysis_key, lexical_fields, sha
from semsearch.chunking import SECTIONS, Chunking, overview, pack, whole_text
from semsearch.corpus import load_actions, make_ids, write_jsonl
from semsearch.config import Settings
from semsearch.encoders import load_encoder
from semsearch.builds import current_build
from semsearch.index import CACHE_FILE, build_index
from semsearch.loading import load_index
from semsearch.nlp import FrenchNLP, Term, clean
from semsearch.records import Action, Evaluation
from semsearch.search import Searcher
from semsearch.semantic import ANN_CANDIDATES

SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
ENCODER = Settings.from_env().encoder  # SEMSEARCH_ENCODER names another, for an A/B
CHUNKING = Chunking()  # what build_index uses
NARRATIVE = ["summary", "experience", "description", "end_reasons"]
EVALUATION = ["territory", "centre", "residents", "limits", "perspectives"]
DEPARTMENTS = ["Ain", "Aisne", "Allier", "Ardèche", "Aude", "Aveyron", "Calvados", "Cantal", "Charente", "Cher",
               "Corrèze", "Côte-d'Or", "Creuse", "Dordogne", "Doubs", "Drôme", "Eure", "Finistère", "Gard", "Gers",
               "Gironde", "Hérault", "Isère", "Jura", "Landes", "Loire", "Loiret", "Lot", "Manche", "Marne",
               "Mayenne", "Meuse", "Morbihan", "Moselle", "Nièvre", "Nord", "Oise", "Orne", "Rhône", "Sarthe",
               "Savoie", "Somme", "Tarn", "Var", "Vendée", "Vienne", "Vosges", "Yonne", "Maine-et-Loire", "Paris"]
PLACES = ["des Tilleuls", "du Lac", "de la Gare", "des Coteaux", "du Marais", "Saint-Jean", "des Prés", "du Moulin",
          "Jean Moulin", "Victor Hugo", "de la Source", "des Vignes", "du Château", "Louise Michel", "des Bruyères"]
NOISE = 0.01  # per-dimension noise on derived vectors: cosine ~0.98 with the unperturbed mean
FILL_BATCH = 2000  # actions per pre-fill batch: one transaction each, ~100 MB of gathered vectors
# The 16 dev queries (with typos and without accents), kept as their own latency row for comparison.
QUERIES = ["precarite alimentaire en rural", "atelier cuisine", "viellissement", "parents séparés",
           "inclusion numérique", "jeunes filles et hygiène", "séjour de vacances pour adultes", "zero dechet",
           "personnes agees isolees", "lien social pendant la pandémie", "théâtre et spectacles",
           "distribution de colis alimentaires", "missions courtes pour adolescents", "caravane",
           "groupe d'échange entre parents", "musique classique pour enfants"]
RECALL_QUERIES = 200  # 50 gave tie-tolerant recall 0.972-0.994 on one setting across runs: too noisy to judge 0.98
MODES = ("hybrid", "semantic", "lexical")
# Digits are not index terms, so the terms of a generated structure ("Centre social du Lac 1234") are computed
# once per place, not once per structure.
_STRUCTURE = re.compile(r"^(Centre social \D+) \d+$")


def _template(text: str) -> str:
    return _STRUCTURE.sub(r"\1 0", text)


# -- progress ---------------------------------------------------------------------------------------------
T0 = time.perf_counter()


@contextmanager
def stage(label: str) -> Iterator[None]:
    """Elapsed time of each stage on stderr, so a 15-minute run shows where it is."""
    t = time.perf_counter()
    print(f"[{t - T0:6.0f} s] {label} …", file=sys.stderr, flush=True)
    yield
    now = time.perf_counter()
    print(f"[{now - T0:6.0f} s] {label}: {now - t:.1f} s", file=sys.stderr, flush=True)


# -- synthetic corpus ---------------------------------------------------------------------------------------
class Synthesizer:
    """Scales the sample to N actions and fills a build cache with their analyses and passage vectors."""

    def __init__(self, nlp: FrenchNLP, encoder, pool: int, bases: int = 24, seed: int = 7) -> None:
        self.nlp, self.encoder, self.rng = nlp, encoder, random.Random(seed)
        self.sample = load_actions(SAMPLE).actions[:bases]
        fields = NARRATIVE + [f"evaluation.{f}" for f in EVALUATION]
        split = {(b, f): nlp.sentences(_get(a, f)) for b, a in enumerate(self.sample) for f in fields}
        self.lengths = {key: len(ss) for key, ss in split.items()}
        everything = sorted({s for ss in split.values() for s in ss})
        # Only sentences spaCy gives back whole when alone on a line: a field made of them, one per line, is
        # then cut by the real chunking into exactly these sentences, so the derived chunk texts are the real ones.
        stable = [s for s in everything if nlp.sentences(s) == [s]]
        kept = set(random.Random(seed).sample(stable, min(pool, len(stable))))
        stable_set = set(stable)
        for f in fields:  # every field that has stable sentences keeps at least one
            of_field = [s for b in range(len(self.sample)) for s in split[(b, f)] if s in stable_set]
            if of_field and not kept.intersection(of_field):
                kept.add(of_field[0])
        self.pool = sorted(kept)
        self.index_of = {s: i for i, s in enumerate(self.pool)}
        self.by_field = {f: list(dict.fromkeys(self.index_of[s] for b in range(len(self.sample))
                                               for s in split[(b, f)] if s in kept)) for f in fields}
        self.by_field = {f: ids for f, ids in self.by_field.items() if ids}
        analysed = list(nlp.terms_many(self.pool))  # the real analysis of every sentence, once
        self.lexical_terms: list[list[Term]] = analysed
        self.vocabulary = sorted({(t.text, t.surface) for terms in analysed for t in terms
                                  if len(t.surface) >= 4 and t.surface.isalpha()})
        t = time.perf_counter()
        # Rows 0..P-1: the real vectors of the pool sentences; row P + b: the real overview of sample action b.
        self.vectors = np.concatenate([_embed(encoder, self.pool),
                                       _embed(encoder, [overview(a) for a in self.sample])]).astype(np.float32)
        self.sentence_embed_s = time.perf_counter() - t
        self.short: dict[str, list[Term]] = {}  # template of a short field or line -> its real terms
        self.overviews: dict[str, list[tuple[str, tuple[Span, ...]]]] = {}  # overview -> its real (passage, spans)
        self.base_of = {self.title(b, i): b for b in range(len(self.sample))
                        for i in range(b, len(self.sample) * len(PLACES), len(self.sample))}

    def title(self, b: int, i: int) -> str:
        """360 titles (24 x 15 places) shared by many actions, as "Atelier numérique" is; ids stay distinct."""
        return f"{self.sample[b].title} {PLACES[(i // len(self.sample)) % len(PLACES)]}"

    def actions(self, n: int, start: int = 0) -> list[Action]:
        out = []
        for i in range(start, start + n):
            b = i % len(self.sample)
            base, other = self.sample[b], self.rng.choice(self.sample)
            a = Action(id="", title=self.title(b, i), status=base.status,
                       dimension=other.dimension, keywords=list(base.keywords), public=other.public,
                       structure=f"Centre social {PLACES[(i // 7) % len(PLACES)]} {i // 3}",
                       department=DEPARTMENTS[self.rng.randrange(len(DEPARTMENTS))], territory=base.territory,
                       partners=list(other.partners), initiative=list(base.initiative), evaluation=Evaluation())
            for f, ids in self.by_field.items():
                if _get(base, f) or self.rng.random() < 0.3:
                    k = max(1, min(len(ids), self.lengths[(b, f)] or 2))
                    _set(a, f, "\n".join(self.pool[j] for j in self.rng.sample(ids, k)))
            out.append(a)
        for a, id_ in zip(out, make_ids(out)):
            a.id = id_
        return out

    def fill_cache(self, actions: Sequence[Action], cache: store.BuildCache, batch: int = FILL_BATCH) -> dict:
        """Analyses and passage vectors of synthetic `actions`, derived from their sentences', into the cache.

        Per action only list concatenations and hashes; the vectors of a batch are one gather and one noise
        draw. Rows are written in key order (actions sorted by analysis key, vectors by passage key), so
        SQLite appends to its B-trees instead of splitting random pages: 4x faster for 400 000 vectors here.
        """
        rng = np.random.default_rng(len(actions))
        keyed = sorted(((analysis_key(a, self.nlp.model, CHUNKING), a) for a in actions), key=lambda ka: ka[0])
        rows: dict[bytes, int] = {}  # passage key -> its row in `blocks` (a passage shared by actions: once)
        blocks: list[np.ndarray] = []
        passages = 0
        for start in range(0, len(keyed), batch):
            part = keyed[start:start + batch]
            self._analyse_short([a for _, a in part])
            analyses, keys, members, counts = [], [], [], []
            for key, a in part:
                analysis, vector_rows = self.analysis(a)
                analyses.append((key, analysis))
                for chunk, chunk_rows in zip(analysis.chunks, vector_rows):
                    keys.append(sha(CHUNKING.embedded(a, chunk.section, chunk.text)))
                    members += chunk_rows
                    counts.append(len(chunk_rows))
                # the whole fiche's vector: the mean of all its passages' sentences
                keys.append(sha(whole_text(a)))
                whole = list(chain.from_iterable(vector_rows))
                members += whole
                counts.append(len(whole))
            cache.put_analyses(analyses)
            vectors = self._derived_vectors(np.asarray(members, np.int64), np.asarray(counts, np.int64), rng)
            new = {k: i for i, k in enumerate(keys) if k not in rows}
            offset = len(rows)
            rows.update((k, offset + j) for j, k in enumerate(new))
            blocks.append(vectors[list(new.values())])
            passages += len(keys) - len(part)  # one whole-fiche vector per action besides its passages
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, self.vectors.shape[1]), np.float32)
        del blocks
        ordered = sorted(rows)
        for start in range(0, len(ordered), 20 * batch):
            part = ordered[start:start + 20 * batch]
            cache.put_vectors(self.encoder.name, part, vectors[[rows[k] for k in part]])
        return {"actions": len(actions), "passages": passages, "passage_writes": len(ordered)}

    def analysis(self, a: Action) -> tuple[Analysis, list[list[int]]]:
        """What analyse_actions returns for `a`, from the per-sentence analyses; and, per chunk, the rows of
        self.vectors whose mean is its vector."""
        lexical = {column: self._text_terms(text) for column, text in lexical_fields(a).items()}
        chunks: list[AnalysedChunk] = []
        rows: list[list[int]] = []
        for section, (_, read) in SECTIONS.items():
            text = read(a).strip()
            if not text:
                continue
            if section == "overview":  # real chunks and terms, once per distinct overview
                for position, (passage, spans) in enumerate(self.overviews[text]):
                    chunks.append(AnalysedChunk(section, position, passage, spans))
                    rows.append([len(self.pool) + self.base_of[a.title]])
                continue
            lines = text.split("\n")
            ids = [self.index_of[line] for line in lines]  # KeyError: not a synthetic action
            texts = pack(lines, CHUNKING.words, CHUNKING.overlap)
            for position, (passage, run) in enumerate(zip(texts, _runs(lines, texts))):
                members = ids[run.start:run.stop]
                spans: list[Span] = []
                at = 0  # a passage joins its sentences with one space
                for j in members:
                    spans += [Span(t.start + at, t.end + at, t.term) for t in self.lexical_terms[j]]
                    at += len(self.pool[j]) + 1
                chunks.append(AnalysedChunk(section, position, passage, tuple(spans)))
                rows.append(members)
        return Analysis(lexical, chunks), rows

    def _text_terms(self, text: str) -> list[Term]:
        """Terms of a lexical column, line by line: pool sentences and short lines analysed once each."""
        out: list[Term] = []
        for line in text.split("\n"):
            j = self.index_of.get(line)
            out += self.lexical_terms[j] if j is not None else self._short_terms(line)
        return out

    def _short_terms(self, text: str) -> list[Term]:
        key = _template(text)
        if key not in self.short:
            self.short[key] = self.nlp.terms(key)
        return self.short[key]

    def _analyse_short(self, actions: Sequence[Action]) -> None:
        """Real analysis of the short texts and overviews of a batch not seen yet, in one spaCy pipe each,
        instead of one call per text (what made the pre-fill take minutes)."""
        short, overviews = set(), set()
        for a in actions:
            for text in lexical_fields(a).values():
                short.update(_template(line) for line in text.split("\n") if line not in self.index_of)
            overviews.add(SECTIONS["overview"][1](a).strip())
        missing = sorted(short - self.short.keys())
        for key, terms in zip(missing, self.nlp.terms_many(missing)):
            self.short[key] = terms
        missing = sorted(overviews - self.overviews.keys())
        chunks = [pack(sentences, CHUNKING.words, CHUNKING.overlap) for sentences in self._sentences_many(missing)]
        terms = iter(self.nlp.terms_many(c for cs in chunks for c in cs))
        for text, cs in zip(missing, chunks):
            self.overviews[text] = [(c, tuple(Span(t.start, t.end, t.term) for t in next(terms))) for c in cs]

    def _sentences_many(self, texts: list[str]) -> list[list[str]]:
        """nlp.sentences of each text, from one call over all of them (a line break ends a sentence there),
        cut back text by text; one call per text if the cut does not match."""
        flat, out, k = self.nlp.sentences("\n".join(texts)), [], 0
        for text in texts:
            target, got, sentences = "".join(clean(text).split()), "", []
            while len(got) < len(target) and k < len(flat):
                sentences.append(flat[k])
                got += "".join(flat[k].split())
                k += 1
            if got != target:
                return [self.nlp.sentences(t) for t in texts]
            out.append(sentences)
        return out

    def _derived_vectors(self, members: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mean of each passage's member rows + N(0, NOISE) per dimension, renormalised, all passages at once
        (grouped by member count: one gather and one sum per count, ~15x np.add.reduceat)."""
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        means = np.empty((len(counts), self.vectors.shape[1]), dtype=np.float32)
        for c in np.unique(counts):
            rows = np.flatnonzero(counts == c)
            means[rows] = self.vectors[members[starts[rows][:, None] + np.arange(c)]].sum(axis=1) / np.float32(c)
        means += rng.standard_normal(means.shape, dtype=np.float32) * np.float32(NOISE)
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        return means

    def queries(self, n: int, seed: int = 11) -> list[str]:
        """The 16 dev queries, then distinct generated ones: 2-4 content words of the sample, as written,
        without accents, or with one typo, so that no result or embedding cache could flatter a figure."""
        rng = random.Random(seed)
        out = dict.fromkeys(QUERIES)
        while len(out) < n:
            words = [rng.choice(self.vocabulary) for _ in range(rng.randint(2, 4))]
            kind = rng.random()
            if kind < 0.4:
                q = " ".join(text for text, _ in words)
            elif kind < 0.8:
                q = " ".join(surface for _, surface in words)
            else:
                q = " ".join(_typo(surface, rng) for _, surface in words)
            out.setdefault(q)
        return list(out)[:n]


def _runs(lines: list[str], passages: list[str]) -> list[range]:
    """The consecutive lines each passage of pack(lines) joins (passages overlap, never skip a line)."""
    out, start = [], 0
    for passage in passages:
        for s in range(start, len(lines)):
            j, length = s, -1
            while j < len(lines) and length < len(passage):
                length += len(lines[j]) + 1
                j += 1
            if length == len(passage) and " ".join(lines[s:j]) == passage:
                out.append(range(s, j))
                start = s
                break
        else:
            raise ValueError(f"passage not made of consecutive lines: {passage[:60]!r}")
    return out


def _typo(word: str, rng: random.Random) -> str:
    """One edit (drop, swap, double) in a word of 5+ letters: what the search's typo tolerance accepts."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i] + word[i:]


def _get(a: Action, f: str) -> str:
    return getattr(a.evaluation, f.split(".")[1]) if f.startswith("evaluation.") else getattr(a, f)


def _set(a: Action, f: str, value: str) -> None:
    setattr(a.evaluation, f.split(".")[1], value) if f.startswith("evaluation.") else setattr(a, f, value)


def _embed(encoder, texts: list[str]) -> np.ndarray:
    return np.concatenate([encoder.encode_passages(texts[i:i + 32]) for i in range(0, len(texts), 32)]) \
        if texts else np.zeros((0, encoder.dimension), np.float32)


class QueryStream:
    """Hands out the next distinct queries of a long list, so no measurement repeats a query it already sent."""

    def __init__(self, queries: list[str]) -> None:
        self.queries, self.position = queries, 0

    def take(self, k: int) -> list[str]:
        out = [self.queries[(self.position + i) % len(self.queries)] for i in range(k)]
        self.position += k
        return out


# -- measurements -------------------------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1000
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "samples": len(a)}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def timed(call, items: list) -> dict[str, float]:
    times = []
    for item in items:
        t = time.perf_counter()
        call(item)
        times.append(time.perf_counter() - t)
    return percentiles(times)


def latency(searcher: Searcher, stream: QueryStream | None, per_run: int, runs: int, filters: dict | None,
            mode: str, cached: bool = False) -> dict[str, float]:
    """Percentiles of in-process searches; `stream` None means the 16 dev queries, repeated per_run // 16 times.

    cached: each run's distinct queries are searched once before being timed, so their vectors come from the
    query-vector cache: the search without the encoder, to set beside "encoder alone".
    """
    def search(q: str) -> None:
        searcher.search(q, filters, limit=10, mode=mode)

    def run() -> dict[str, float]:
        queries = stream.take(per_run) if stream else QUERIES * max(1, per_run // len(QUERIES))
        if cached:
            timed(search, queries)
        return timed(search, queries)

    timed(search, stream.take(4) if stream else QUERIES[:4])  # warm-up, not counted
    return median_of([run() for _ in range(runs)])


def encoder_latency(searcher: Searcher, stream: QueryStream, per_run: int, runs: int) -> dict[str, float]:
    """The encoder alone on distinct queries as the search sends them (respelled): the floor under every search
    that is not in the query-vector cache."""
    def encode(q: str) -> None:
        searcher.encoder.encode_queries([q])

    return median_of([timed(encode, [searcher.analyser.spelled(q) for q in stream.take(per_run)])
                      for _ in range(runs)])


def similar_latency(searcher: Searcher, ids: list[str], runs: int) -> dict[str, float]:
    def similar(i: str) -> None:
        searcher.similar(i, limit=5)

    timed(similar, ids[:4])
    return median_of([timed(similar, ids) for _ in range(runs)])


def chunk_vectors(build: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, chunk rowids) of a build: chunk_vectors.npy (row i = chunk rowid i + 1, or chunk_ids.npy when
    written), else read back from an exact chunks.faiss as older builds wrote it."""
    npy = build / "chunk_vectors.npy"
    if npy.exists():
        vectors = np.load(npy, mmap_mode="r")
        ids_file = build / "chunk_ids.npy"
        ids = np.load(ids_file) if ids_file.exists() else np.arange(1, len(vectors) + 1, dtype=np.int64)
        return vectors, ids
    index = faiss.downcast_index(faiss.read_index(str(build / "chunks.faiss")))
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    if isinstance(inner, faiss.IndexFlat):
        vectors = faiss.vector_to_array(inner.codes).view(np.float32).reshape(-1, inner.d)
    else:
        vectors = inner.reconstruct_n(0, inner.ntotal)
    ids = faiss.vector_to_array(index.id_map) if hasattr(index, "id_map") else np.arange(1, len(vectors) + 1)
    return vectors, ids.astype(np.int64)


def approximate_index(build: Path, vectors: np.ndarray, ids: np.ndarray) -> tuple[faiss.Index, str]:
    """The approximate index the service would search: the build's own when it has one, else one built here
    by the library (index.chunk_index(approximate=True), or vectors.ann_index), else HNSW as before."""
    own = build / "chunks.faiss"
    if own.exists() and (build / "chunk_vectors.npy").exists():
        index = faiss.read_index(str(own))
        if not isinstance(_unwrap(index), faiss.IndexFlat):
            return index, "the build's own"
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    make = getattr(index_module, "chunk_index", None)
    if make is not None and "approximate" in inspect.signature(make).parameters:
        return make(data, ids, data.shape[1], approximate=True), "index.chunk_index(approximate=True)"
    try:
        from semsearch import vectors as dense
        return dense.ann_index(data, ids, data.shape[1]), "vectors.ann_index"
    except (ImportError, AttributeError):
        pass
    m = getattr(index_module, "HNSW_M", 32)
    graph = faiss.IndexHNSWFlat(data.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = getattr(index_module, "HNSW_EF_CONSTRUCTION", 80)
    graph.hnsw.efSearch = getattr(index_module, "HNSW_EF_SEARCH", 256)
    index = faiss.IndexIDMap2(graph)
    index.add_with_ids(data, ids)
    return index, "HNSW built here"


def _unwrap(index: faiss.Index) -> faiss.Index:
    """The index inside an IndexIDMap/IndexIDMap2, downcast to its own class."""
    index = faiss.downcast_index(index)
    return faiss.downcast_index(index.index) if hasattr(index, "id_map") else index


def describe(index: faiss.Index) -> str:
    inner = _unwrap(index)
    if isinstance(inner, faiss.IndexHNSW):
        return f"HNSW M {inner.hnsw.nb_neighbors(1)} efSearch {inner.hnsw.efSearch}"
    try:
        ivf = faiss.extract_index_ivf(inner)
        return f"{type(faiss.downcast_index(ivf)).__name__} nlist {ivf.nlist} nprobe {ivf.nprobe}"
    except RuntimeError:
        return type(inner).__name__


def recall_at_10(build: Path, queries: np.ndarray) -> dict:
    """Approximate top-10 chunk ids against exact inner product over the same vectors.

    strict: |found ∩ exact top-10| / 10. tolerant (as ann-benchmarks): a found id counts when its exact inner
    product is at least the 10th exact score - 1e-3, since near-duplicate passages make exact ties common.
    candidates: the Jaccard index of the passages the search reads (the ANN_CANDIDATES best, above the last of a
    full list) through the approximate index against the same selection from an exact search: every fiche's
    passage evidence comes from them, where recall@10 only sees the top of the page.
    """
    vectors, ids = chunk_vectors(build)
    t = time.perf_counter()
    ann, source = approximate_index(build, vectors, ids)
    build_s = time.perf_counter() - t
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    scores, truth = exact.search(queries, 10)
    _, found = ann.search(queries, 10)
    order = np.argsort(ids, kind="stable")
    strict, tolerant = [], []
    for q, s, true_rows, got in zip(queries, scores, truth, found):
        got = got[got >= 0]
        strict.append(len(set(ids[true_rows]) & set(got)) / 10)
        rows = np.sort(order[np.searchsorted(ids[order], got)])
        tolerant.append(int(np.sum(np.asarray(vectors[rows]) @ q >= s[-1] - 1e-3)) / 10)
    candidates = [len(a & b) / max(1, len(a | b)) for a, b in zip(_candidate_sets(exact, queries, ids),
                                                                _candidate_sets(ann, queries, None))]
    return {"strict": float(np.mean(strict)), "tolerant": float(np.mean(tolerant)), "queries": len(queries),
            "candidates_jaccard": float(np.mean(candidates)),
            "index": describe(ann), "source": source, "ann_build_s": build_s}


def _candidate_sets(index: faiss.Index, queries: np.ndarray, ids: np.ndarray | None) -> list[set[int]]:
    """The passages each query reads, selected as semantic.DenseSearch selects them from an approximate index:
    the ANN_CANDIDATES best, above the last of a full list (ids: maps an exact index's rows to chunk ids; None:
    the index returns chunk ids)."""
    found, rows = index.search(queries, min(ANN_CANDIDATES, index.ntotal))
    out = []
    for d, r in zip(found, rows):
        keep = r >= 0
        if r[-1] >= 0:
            keep &= d > d[-1]
        out.append(set((ids[r[keep]] if ids is not None else r[keep]).tolist()))
    return out


# -- the service --------------------------------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/*/stat (psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _status_kb(pid: int, field: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def service_memory(pid: int) -> dict:
    """Resident memory of the server and its workers (MB): RSS summed (shared pages counted in each), the
    largest process, and PSS summed (shared pages split between processes) where the kernel provides it."""
    pids = process_tree(pid)
    rss = [_status_kb(p, "VmRSS") / 1024 for p in pids]
    pss = [_status_kb(p, "Pss", "smaps_rollup") / 1024 for p in pids]
    return {"processes": len(pids), "rss_total_mb": sum(rss), "rss_max_mb": max(rss, default=0.0),
            "pss_total_mb": sum(pss)}


class Server:
    """`semsearch serve` on a free port with `workers` uvicorn workers; times Popen to the first /ready 200."""

    def __init__(self, index_dir: Path, workers: int) -> None:
        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base, self.workers = f"http://127.0.0.1:{self.port}", workers
        env = {**os.environ, "SEMSEARCH_INDEX_DIR": str(index_dir), "SEMSEARCH_PORT": str(self.port),
               "SEMSEARCH_HOST": "127.0.0.1", "SEMSEARCH_WORKERS": str(workers)}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        t = time.perf_counter()
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "semsearch"), "serve"], cwd=ROOT,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while True:
            if self.process.poll() is not None or time.time() > deadline:
                self._fail("the service did not become ready")
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - t
        while self._log().count("Application startup complete") < workers:  # every worker loaded, not just one
            if self.process.poll() is not None or time.time() > deadline:
                self._fail("not every worker started")
            time.sleep(0.2)
        self.all_ready_s = time.perf_counter() - t

    def _fail(self, what: str) -> None:
        log = self._log()[-3000:]
        self.stop()
        raise RuntimeError(f"{what} (log follows):\n{log}")

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def memory(self) -> dict:
        return service_memory(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def cold_start(index_dir: Path, runs: int, stream: QueryStream, searches: int) -> dict:
    """Process start to /ready of a real 1-worker `semsearch serve` (median of runs, file cache warm), and
    its resident memory after `searches` distinct searches."""
    import httpx

    times, memory = [], []
    for _ in range(runs):
        server = Server(index_dir, 1)
        try:
            times.append(server.ready_s)
            with httpx.Client(base_url=server.base, timeout=60) as client:
                for q in stream.take(searches):
                    client.get("/search", params={"q": q}).raise_for_status()
            memory.append(server.memory()["rss_total_mb"])
        finally:
            server.stop()
    return {"cold_start_s": statistics.median(times), "rss_1_worker_mb": statistics.median(memory),
            "rss_after_searches": searches}


def http(index_dir: Path, workers: int, concurrencies: list[int], count: int, seconds: float,
         stream: QueryStream) -> dict:
    server = Server(index_dir, workers)
    try:
        rows = [_load(server.base, c, stream.take(count), seconds) for c in concurrencies]
        memory = server.memory()
    finally:
        server.stop()
    return {"workers": workers, "all_workers_ready_s": server.all_ready_s, "rows": rows, "memory": memory}


def _load(base: str, concurrency: int, queries: list[str], seconds: float) -> dict:
    """`concurrency` clients sharing the distinct `queries` (GET /search), stopping after `seconds`."""
    import httpx

    times: list[float] = []
    errors: dict[str, list[str]] = {}  # status code or exception -> the queries that got it
    lock = threading.Lock()
    sent = iter(queries)
    stop = time.time() + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for q in sent:
                if time.time() > stop:
                    return
                t = time.perf_counter()
                try:
                    status = client.get("/search", params={"q": q}).status_code
                    outcome = "" if status == 200 else str(status)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with lock:
                    times.append(time.perf_counter() - t)
                    if outcome:
                        errors.setdefault(outcome, []).append(q)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": len(times), "errors": sum(map(len, errors.values())),
            "error_kinds": errors, "rps": len(times) / wall, **percentiles(times)}


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# -- one size -----------------------------------------------------------------------------------------------
def throughput(syn: Synthesizer, nlp: FrenchNLP, encoder, args) -> dict:
    """Real spaCy analysis and real embedding rates on a few synthetic actions (the same at any N)."""
    probe = syn.actions(args.probe, start=10**7)
    t = time.perf_counter()
    analyses = analyse_actions(probe, nlp, CHUNKING)
    nlp_rate = len(probe) / (time.perf_counter() - t)
    texts = [c.text for a in analyses for c in a.chunks][:args.probe_passages]
    t = time.perf_counter()
    _embed(encoder, texts)
    return {"nlp_actions_per_s": nlp_rate, "embed_passages_per_s": len(texts) / (time.perf_counter() - t)}


def bench_size(n: int, out: Path, syn: Synthesizer, nlp: FrenchNLP, encoder, rates: dict, streams: dict,
               args) -> dict:
    full = n <= args.light_above
    index_dir = out / f"n{n}"
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    with stage(f"N={n}: generate the export"):
        source = index_dir / "export.jsonl"
        write_jsonl(syn.actions(n), source)
    t = time.perf_counter()
    corpus = load_actions(source)
    parse_s = time.perf_counter() - t

    with stage(f"N={n}: pre-fill the build cache (synthetic, not build time)"):
        t = time.perf_counter()
        cache = store.BuildCache(index_dir / CACHE_FILE)
        filled = syn.fill_cache(corpus.actions, cache)
        cache.close()
        prefill_s = time.perf_counter() - t
    with stage(f"N={n}: build the index"):
        t = time.perf_counter()
        manifest = build_index(corpus, index_dir, encoder, nlp, progress=False)
        index_s = time.perf_counter() - t
    assert manifest.passages_embedded == 0 and manifest.actions_analysed == 0, manifest
    row = {"n": n, "chunks": manifest.chunks, "search": getattr(manifest, "search", "exact"), "parse_s": parse_s,
           **rates, "nlp_s_extrapolated": n / rates["nlp_actions_per_s"],
           "embed_s_extrapolated": manifest.chunks / rates["embed_passages_per_s"], "prefill_s": prefill_s,
           "prefill": filled, "index_s": index_s, "index_analysed": manifest.actions_analysed,
           "index_embedded": manifest.passages_embedded, "disk_mb": disk_mb(current_build(index_dir)), "full": full}

    if full:  # 5 actions changed (a sentence added to the summary), then 5 added and 5 deleted, for real
        changed = [replace(a, summary=a.summary + " Une nouvelle séance a réuni les habitants du quartier.")
                   if i < 5 else a for i, a in enumerate(corpus.actions)]
        with stage(f"N={n}: reindex 5 changed"):
            t = time.perf_counter()
            m = build_index(replace(corpus, actions=changed), index_dir, encoder, nlp, progress=False)
            row["reindex_5_changed_s"], row["reindex_5_changed_embedded"] = time.perf_counter() - t, m.passages_embedded
        added = syn.actions(5, start=n + 1000)
        with stage(f"N={n}: reindex +5 −5"):
            t = time.perf_counter()
            m = build_index(replace(corpus, actions=changed[5:] + added), index_dir, encoder, nlp, progress=False)
            row["reindex_5_added_5_deleted_s"], row["reindex_added_embedded"] = time.perf_counter() - t, \
                m.passages_embedded

    with stage(f"N={n}: in-process latency"):
        index = load_index(index_dir, encoder.name, nlp.model)
        searcher = Searcher(index, encoder, nlp)
        facet = {"department": [searcher.listing(limit=1).facets["department"][0].value]}  # the commonest
        lat = {}
        per_run = args.rounds * args.queries
        for mode in MODES:
            lat[mode] = latency(searcher, streams["latency"], per_run, args.runs, None, mode)
            lat[mode + "+filter"] = latency(searcher, streams["latency"], per_run, args.runs, facet, mode)
        lat["hybrid, 16 dev queries"] = latency(searcher, None, args.rounds * len(QUERIES), args.runs, None, "hybrid")
        lat["encoder alone"] = encoder_latency(searcher, streams["latency"], per_run, args.runs)
        lat["hybrid, vector cached"] = latency(searcher, streams["latency"], per_run, args.runs, None, "hybrid",
                                               cached=True)
        step = max(1, n // 40)
        ids = store.spread_ids(index.db, step, 40)
        lat["similar"] = similar_latency(searcher, ids, args.runs)
        row["latency_ms"] = lat
        index.close()
        del searcher, index
    if args.recall:
        with stage(f"N={n}: recall@10 of the approximate index"):
            row["recall_at_10"] = recall_at_10(current_build(index_dir), encoder.encode_queries(streams["recall"]))
    if full and args.http:
        with stage(f"N={n}: cold start (1 worker)"):
            row.update(cold_start(index_dir, args.cold_runs, streams["http"], args.cold_searches))
        with stage(f"N={n}: HTTP load, {args.http_workers} worker(s)"):
            row["http"] = http(index_dir, args.http_workers, args.concurrency, args.http_count, args.http_seconds,
                               streams["http"])
    return row


# -- report -------------------------------------------------------------------------------------------------
def _n(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}".replace(",", " ")


def markdown(rows: list[dict], command: str, args) -> str:
    cmd = f"Command: `{command}`"
    out = [cmd, "",
           ("| N | chunks | search | parse s | NLP s (extrap.) | embed s (extrap.) | index s | reindex 5 changed s "
            "| reindex +5 −5 s | cold start s | RSS MB 1 worker | service RSS MB total / max | disk MB "
            "| recall@10 strict | recall@10 tie-tolerant | candidates vs exact |"),
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec, mem = r.get("recall_at_10", {}), r.get("http", {}).get("memory")
        out.append(f"| {r['n']} | {_n(r['chunks'], 0)} | {r['search']} | {r['parse_s']:.2f} "
                   f"| {_n(r['nlp_s_extrapolated'], 0)} | {_n(r['embed_s_extrapolated'], 0)} | {r['index_s']:.1f} "
                   f"| {_n(r.get('reindex_5_changed_s'))} | {_n(r.get('reindex_5_added_5_deleted_s'))} "
                   f"| {_n(r.get('cold_start_s'), 2)} | {_n(r.get('rss_1_worker_mb'), 0)} "
                   f"| {_n(mem['rss_total_mb'], 0) + ' / ' + _n(mem['rss_max_mb'], 0) if mem else '—'} "
                   f"| {_n(r['disk_mb'], 0)} | {_n(rec.get('strict'), 3)} | {_n(rec.get('tolerant'), 3)} "
                   f"| {_n(rec.get('candidates_jaccard'), 3)} |")
    light = [str(r["n"]) for r in rows if not r["full"]]
    out += ["", "NLP and embed: real throughputs on a few synthetic actions, extrapolated to N. Index: the real "
            "build over all N, with the build cache pre-filled by derived analyses and vectors (pre-fill, not part "
            "of any figure: " + ", ".join(f"N={r['n']} {r['prefill_s']:.0f} s" for r in rows) + "). "
            "Cold start: Popen of `semsearch serve` (1 worker) to the first 200 on /ready, file cache warm; "
            "RSS MB 1 worker: that process after "
            f"{rows[0].get('rss_after_searches', args.cold_searches)} searches. Service RSS: VmRSS summed over the "
            "uvicorn master and its workers after the HTTP load (shared pages counted in each), and the largest "
            "process. Recall@10: the approximate index (" + "; ".join(
                f"N={r['n']}: {r['recall_at_10']['index']}, {r['recall_at_10']['source']}" for r in rows
                if "recall_at_10" in r) + f") against exact inner product, {RECALL_QUERIES} varied queries. The "
            "synthetic passages are recombinations of a few hundred real sentences plus small noise, so many are "
            "near-duplicates whose exact scores tie within 1e-3; strict recall counts a tied neighbour returned "
            "instead of the listed one as a miss, the tie-tolerant figure (ann-benchmarks' rule: exact score ≥ "
            "the 10th exact score − 1e-3) does not. Candidates vs exact: the mean Jaccard index of the 512 "
            "candidate passages a search reads through the approximate index against the same selection from an "
            "exact search: where every fiche's passage evidence, and so `total`, comes from."
            + (f" N={', '.join(light)}: above --light-above {args.light_above}, reindex, cold start and HTTP are "
               "not measured (—)." if light else "")]
    out += ["", cmd, "", "| N | what | p50 ms | p95 ms | p99 ms | searches |", "|---|---|---|---|---|---|"]
    for r in rows:
        for what, p in r["latency_ms"].items():
            out.append(f"| {r['n']} | {what} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['samples']} |")
    out += ["", ("In process, one search at a time (its query encoded on every core), medians of --runs runs. Every "
                 "row but `16 dev queries` (repeated: cached query vectors after the first round) and `similar` sends "
                 "distinct generated queries (2–4 content words of the sample, as written, without accents or with a "
                 "typo) that no other row sends; `+filter` adds the commonest department; `vector cached`: its "
                 "queries searched once untimed, then timed (the search without the encoder); similar: 40 actions "
                 "spread over the corpus.")]
    if any("http" in r for r in rows):
        out += ["", cmd, "", "| N | workers | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            h = r.get("http")
            for x in h["rows"] if h else []:
                out.append(f"| {r['n']} | {h['workers']} | {x['concurrency']} | {x['requests']} | {x['errors']} "
                           f"| {x['rps']:.1f} | {x['p50']:.1f} | {x['p95']:.1f} | {x['p99']:.1f} |")
        failed = [f"N={r['n']} c={x['concurrency']}: " + ", ".join(f"{len(q)} × {kind}" for kind, q in
                                                                x["error_kinds"].items())
                  for r in rows for x in r.get("http", {}).get("rows", []) if x["errors"]]
        out += ["", ("A real `semsearch serve` (SEMSEARCH_WORKERS) on 127.0.0.1, `GET /search?q=…` from an httpx "
                     "thread pool on the same machine, each request a distinct query; each concurrency level stops "
                     "after --http-count requests or --http-seconds, whichever comes first."
                     + (" Errors (status or exception; the queries are in results.json): " + "; ".join(failed) + "."
                        if failed else ""))]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    p.add_argument("--smoke", action="store_true", help="N = 40, tiny counts, every measurement: for tests")
    p.add_argument("--out", type=Path, default=ROOT / "index" / "bench")
    p.add_argument("--runs", type=int, default=1, help="runs per latency measurement; the median is reported")
    p.add_argument("--rounds", type=int, default=2, help="--queries distinct queries (16 dev queries) per round")
    p.add_argument("--queries", type=int, default=32, help="distinct varied queries per latency round")
    p.add_argument("--pool", type=int, default=300, help="distinct real sentences recombined (embedded for real)")
    p.add_argument("--bases", type=int, default=24, help="sample actions used as templates")
    p.add_argument("--probe", type=int, default=30, help="actions analysed for real to measure NLP throughput")
    p.add_argument("--probe-passages", type=int, default=48)
    p.add_argument("--light-above", type=int, default=10000,
                   help="above this N measure only build, latency and recall (no reindex, cold start, HTTP)")
    p.add_argument("--no-http", dest="http", action="store_false", help="no cold start and no HTTP load")
    p.add_argument("--no-recall", dest="recall", action="store_false")
    p.add_argument("--http-workers", type=int, default=2, help="SEMSEARCH_WORKERS of the served process")
    p.add_argument("--http-count", type=int, default=300, help="requests per concurrency level at most")
    p.add_argument("--http-seconds", type=float, default=15, help="seconds per concurrency level at most")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--cold-runs", type=int, default=1)
    p.add_argument("--cold-searches", type=int, default=50, help="searches before the 1-worker RSS is read")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs, args.rounds, args.queries, args.pool, args.bases = [40], 1, 1, 8, 20, 4
        args.probe, args.probe_passages, args.http_workers, args.http_count, args.http_seconds = 2, 4, 1, 6, 10
        args.concurrency, args.cold_searches = [1, 2], 4
    command = "python scripts/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with stage("load spaCy and the encoder, analyse and embed the sentence pool"):
        # As `semsearch reindex` has it: passage batches on every core; queries share the cores as when serving.
        nlp, encoder = FrenchNLP(), load_encoder(ENCODER, ROOT / "models", passage_threads=None)
        syn = Synthesizer(nlp, encoder, args.pool, args.bases)
        varied = syn.queries(len(QUERIES) + RECALL_QUERIES + 4000)
        streams = {"recall": varied[:RECALL_QUERIES], "latency": QueryStream(varied[RECALL_QUERIES:2000]),
                   "http": QueryStream(varied[2000:])}
    with stage("NLP and embedding throughput (real, on synthetic actions)"):
        rates = throughput(syn, nlp, encoder, args)
    rows = []
    for n in args.sizes:
        rows.append(bench_size(n, args.out, syn, nlp, encoder, rates, streams, args))
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    (args.out / "results.md").write_text(markdown(rows, command, args))
    print(markdown(rows, command, args))
    print(f"peak RSS of the bench process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total {time.perf_counter() - T0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
