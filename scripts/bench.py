"""Benchmarks at federation scale: build, incremental reindex, latency, HTTP, cold start, memory, disk.

    .venv/bin/python scripts/bench.py                    # N = 1 000 and 10 000 (about 10 minutes here)
    .venv/bin/python scripts/bench.py --sizes 50000      # one size
    .venv/bin/python scripts/bench.py --smoke            # tiny N, for tests/test_bench.py

Writes bench/results.json and bench/results.md under --out (default index/bench, git-ignored).

The synthetic corpus scales the sample export to N actions: distinct titles, structures and departments;
each narrative field is a recombination of real sentences of that field from the sample. Analysing and
embedding 10 000 actions for real would take hours here, so the build cache is pre-filled:
  - analyses are assembled from the real spaCy analysis of each sample sentence and short field;
  - passage vectors are the mean of the real vectors of their sentences plus small noise, renormalised.
The cache-filling time is not reported as build time: NLP and embedding rows are real throughputs measured
on a sample of the synthetic actions and extrapolated to N (said so in the table). Indexing (SQLite, FTS5,
FAISS) runs for real over all N, the incremental reindex analyses and embeds its new passages for real, and
queries always go through the real encoder and spaCy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from semsearch import store
from semsearch.chunking import SECTIONS, overview, pack
from semsearch.corpus import load_actions, make_ids
from semsearch.encoders import load_encoder
from semsearch.index import (
    CACHE_FILE,
    CHUNK_WORDS,
    OVERLAP_SENTENCES,
    _lexical_fields,
    _sha,
    analyse_actions,
    analysis_key,
    build_index,
    current_build,
    load_index,
)
from semsearch.nlp import FrenchNLP
from semsearch.records import Action, Evaluation
from semsearch.search import Searcher

SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
ENCODER = "multilingual-e5-small"
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
QUERIES = ["precarite alimentaire en rural", "atelier cuisine", "viellissement", "parents séparés",
           "inclusion numérique", "jeunes filles et hygiène", "séjour de vacances pour adultes", "zero dechet",
           "personnes agees isolees", "lien social pendant la pandémie", "théâtre et spectacles",
           "distribution de colis alimentaires", "missions courtes pour adolescents", "caravane",
           "groupe d'échange entre parents", "musique classique pour enfants"]


# -- synthetic corpus ---------------------------------------------------------------------------------------
class Synthesizer:
    """Scales the sample to N actions and fills a build cache with their analyses and passage vectors."""

    def __init__(self, nlp: FrenchNLP, encoder, pool: int, bases: int = 24, seed: int = 7) -> None:
        self.nlp, self.encoder, self.rng = nlp, encoder, random.Random(seed)
        self.sample = load_actions(SAMPLE).actions[:bases]
        fields = NARRATIVE + [f"evaluation.{f}" for f in EVALUATION]
        self.sentences: dict[str, list[str]] = {f: [] for f in fields}
        for a in self.sample:
            for f in fields:
                self.sentences[f] += nlp.sentences(_get(a, f))
        everything = sorted({s for ss in self.sentences.values() for s in ss})
        kept = set(random.Random(seed).sample(everything, min(pool, len(everything))))
        self.sentences = {f: [s for s in ss if s in kept] or ss[:1] for f, ss in self.sentences.items()}
        self.sentences = {f: ss for f, ss in self.sentences.items() if ss}
        distinct = sorted({s for ss in self.sentences.values() for s in ss})
        self.terms = dict(zip(distinct, nlp.terms_many(distinct)))  # the real analysis of every sentence
        t = time.perf_counter()
        self.vectors = dict(zip(distinct, _embed(encoder, distinct)))  # their real vectors
        self.sentence_embed_s = time.perf_counter() - t
        self.short: dict = {}
        self.parts: dict[str, list[str]] = {}  # synthetic field text -> the real sentences it joins

    def actions(self, n: int, start: int = 0) -> list[Action]:
        out = []
        for i in range(start, start + n):
            base, other = self.sample[i % len(self.sample)], self.rng.choice(self.sample)
            a = Action(id="", title=f"{base.title} {PLACES[i % len(PLACES)]} n°{i}", status=base.status,
                       dimension=other.dimension, keywords=list(base.keywords), public=other.public,
                       structure=f"Centre social {PLACES[(i // 7) % len(PLACES)]} {i // 3}",
                       department=DEPARTMENTS[self.rng.randrange(len(DEPARTMENTS))], territory=base.territory,
                       partners=list(other.partners), initiative=list(base.initiative), evaluation=Evaluation())
            for f, pool in self.sentences.items():
                if _get(base, f) or self.rng.random() < 0.3:
                    k = max(1, min(len(pool), len(self.nlp_sentences(base, f)) or 2))
                    chosen = self.rng.sample(pool, k)
                    self.parts[" ".join(chosen)] = chosen
                    _set(a, f, " ".join(chosen))
            out.append(a)
        for a, id_ in zip(out, make_ids(out)):
            a.id = id_
        return out

    def nlp_sentences(self, action: Action, f: str) -> list[str]:
        return [s for s in _get(action, f).split(". ") if s]

    def _short_terms(self, text: str) -> list:
        if text not in self.short:
            self.short[text] = next(self.nlp.terms_many([text]))
        return self.short[text]

    def fill_cache(self, actions: list[Action], cache: store.BuildCache) -> None:
        """Analyses and vectors of `actions` assembled from their real sentences' ones, written to the cache."""
        dim = self.encoder.dimension
        rng = np.random.default_rng(len(actions))
        analyses, keys, vectors = [], [], []
        for a in actions:
            fields = _lexical_fields(a)
            lexical = {}
            for column, text in fields.items():
                parts = [p for line in text.split("\n") for p in self._split(line)]
                lexical[column] = [[t.text, t.surface, t.term] for p in parts for t in self._terms(p)]
            chunks = []
            for section, (_, read) in SECTIONS.items():
                text = read(a).strip()
                if not text:
                    continue
                sentences = [text] if section == "overview" else [s for line in text.split("\n")
                                                                  for s in self._split(line)]
                for position, passage in enumerate(pack(sentences, CHUNK_WORDS, OVERLAP_SENTENCES)):
                    parts = [p for p in sentences if p in passage] or [passage]
                    terms = [[t.surface, t.term] for p in parts for t in self._terms(p)]
                    chunks.append([section, position, passage, terms])
                    if section == "overview":
                        base = self._overview_vector(a)
                    else:
                        base = np.mean([self.vectors[p] for p in parts if p in self.vectors], axis=0)
                    v = base + rng.normal(0, NOISE, dim)
                    keys.append(_sha(passage))
                    vectors.append((v / np.linalg.norm(v)).astype(np.float32))
            analyses.append((analysis_key(a, self.nlp.model, CHUNK_WORDS, OVERLAP_SENTENCES),
                             {"lexical": lexical, "chunks": chunks}))
            if len(analyses) >= 500:
                cache.put_analyses(analyses)
                cache.put_vectors(self.encoder.name, keys, np.stack(vectors))
                analyses, keys, vectors = [], [], []
        if analyses:
            cache.put_analyses(analyses)
            cache.put_vectors(self.encoder.name, keys, np.stack(vectors))

    def _split(self, text: str) -> list[str]:
        """A synthetic field back into the real sentences it was made of (other fields stay whole)."""
        return self.parts.get(text, [text])

    def _terms(self, text: str) -> list:
        return self.terms[text] if text in self.terms else self._short_terms(text)

    def _overview_vector(self, a: Action) -> np.ndarray:
        base = self.sample[int(a.title.rsplit("n°", 1)[1]) % len(self.sample)]
        if ("overview", base.id) not in self.short:
            self.short[("overview", base.id)] = _embed(self.encoder, [overview(base)])[0]
        return self.short[("overview", base.id)]


def _get(a: Action, f: str) -> str:
    return getattr(a.evaluation, f.split(".")[1]) if f.startswith("evaluation.") else getattr(a, f)


def _set(a: Action, f: str, value: str) -> None:
    setattr(a.evaluation, f.split(".")[1], value) if f.startswith("evaluation.") else setattr(a, f, value)


def _embed(encoder, texts: list[str]) -> np.ndarray:
    return np.concatenate([encoder.encode_passages(texts[i:i + 32]) for i in range(0, len(texts), 32)]) \
        if texts else np.zeros((0, encoder.dimension), np.float32)


# -- measurements -------------------------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1000
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99))}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def latency(searcher: Searcher, rounds: int, runs: int, filters: dict | None, mode: str) -> dict[str, float]:
    def one() -> dict[str, float]:
        times = []
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                searcher.search(q, filters, limit=10, mode=mode)
                times.append(time.perf_counter() - t)
        return percentiles(times)
    one()  # warm-up
    return median_of([one() for _ in range(runs)])


def similar_latency(searcher: Searcher, ids: list[str], runs: int) -> dict[str, float]:
    def one() -> dict[str, float]:
        times = []
        for i in ids:
            t = time.perf_counter()
            searcher.similar(i, limit=5)
            times.append(time.perf_counter() - t)
        return percentiles(times)
    one()
    return median_of([one() for _ in range(runs)])


def recall_at_10(index_dir: Path, encoder) -> float:
    """Recall@10 of an HNSW graph (the index's own, or one built here) against the exact flat scan."""
    index = load_index(index_dir)
    chunks = index.chunk_vectors
    n = chunks.ntotal
    vectors = np.stack([chunks.reconstruct(i) for i in range(1, n + 1)]) if n < 400_000 else None
    from semsearch.index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
    if vectors is None:
        return float("nan")
    graph = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction, graph.hnsw.efSearch = HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH
    graph.add(vectors)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    queries = encoder.encode_queries(QUERIES)
    _, truth = exact.search(queries, 10)
    _, found = graph.search(queries, 10)
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)]))


def cold_start(index_dir: Path, runs: int) -> tuple[float, float]:
    """Seconds from process start to a loaded Searcher, and the resident memory after 20 searches (MB)."""
    code = ("import resource,sys,time;from pathlib import Path;from semsearch.config import Settings;"
            "from semsearch.engine import open_searcher;"
            f"s=open_searcher(Settings.from_env({{}},index_dir=Path({str(index_dir)!r})));"
            "print(time.time(),flush=True);"
            f"[s.search(q) for q in {QUERIES!r}];"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)")
    times, rss = [], []
    for _ in range(runs):
        t = time.time()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        loaded, mem = out.stdout.split()
        times.append(float(loaded) - t)
        rss.append(float(mem))
    return statistics.median(times), statistics.median(rss)


def http(index_dir: Path, concurrencies: list[int], count: int, seconds: float) -> list[dict]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SEMSEARCH_INDEX_DIR": str(index_dir), "SEMSEARCH_PORT": str(port)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "semsearch"), "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the service did not become ready in 60 s")
        rows = [_load(base, c, count, seconds) for c in concurrencies]
    finally:
        server.terminate()
        server.wait(timeout=20)
    return rows


def _load(base: str, concurrency: int, count: int, seconds: float) -> dict:
    """`concurrency` clients sharing at most `count` requests, stopping after `seconds` whatever is left."""
    import httpx

    times: list[float] = []
    errors = 0
    lock = threading.Lock()
    sent = iter(range(count))
    stop = time.time() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=10) as client:
            for i in sent:
                if time.time() > stop:
                    return
                t = time.perf_counter()
                try:
                    ok = client.get("/search", params={"q": QUERIES[i % len(QUERIES)]}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    times.append(time.perf_counter() - t)
                    errors += not ok

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": len(times), "errors": errors, "rps": len(times) / wall,
            **percentiles(times)}


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def bench_size(n: int, out: Path, syn: Synthesizer, nlp: FrenchNLP, encoder, args) -> dict:
    index_dir = out / f"n{n}"
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    actions = syn.actions(n)
    from semsearch.corpus import write_jsonl
    source = index_dir / "export.jsonl"
    write_jsonl(actions, source)
    t = time.perf_counter()
    corpus = load_actions(source)
    parse_s = time.perf_counter() - t

    probe = corpus.actions[:args.probe]  # real NLP and embedding throughput, on synthetic actions
    t = time.perf_counter()
    probe_analyses = analyse_actions(probe, nlp, CHUNK_WORDS, OVERLAP_SENTENCES)
    nlp_rate = len(probe) / (time.perf_counter() - t)
    texts = [c[2] for a in probe_analyses for c in a["chunks"]][:args.probe_passages]
    t = time.perf_counter()
    _embed(encoder, texts)
    embed_rate = len(texts) / (time.perf_counter() - t)

    cache = store.BuildCache(index_dir / CACHE_FILE)
    syn.fill_cache(corpus.actions, cache)
    cache.close()
    t = time.perf_counter()
    manifest = build_index(corpus, index_dir, encoder, nlp, progress=False)
    index_s = time.perf_counter() - t
    assert manifest.passages_embedded == 0 and manifest.actions_analysed == 0, manifest

    # Incremental: 5 actions changed (a sentence added to the summary), then 5 added and 5 deleted, for real.
    changed = [replace(a, summary=a.summary + " Une nouvelle séance a réuni les habitants du quartier.")
               if i < 5 else a for i, a in enumerate(corpus.actions)]
    t = time.perf_counter()
    m_changed = build_index(replace(corpus, actions=changed), index_dir, encoder, nlp, progress=False)
    changed_s = time.perf_counter() - t
    added = syn.actions(5, start=n + 1000)
    t = time.perf_counter()
    m_added = build_index(replace(corpus, actions=changed[5:] + added), index_dir, encoder, nlp, progress=False)
    added_s = time.perf_counter() - t

    index = load_index(index_dir, encoder.name)
    searcher = Searcher(index, encoder, nlp)
    facet = {"department": [searcher.search("atelier").facets["department"][0].value]}
    lat = {}
    for mode in ("hybrid", "semantic", "lexical"):
        lat[mode] = latency(searcher, args.rounds, args.runs, None, mode)
        lat[mode + "+filter"] = latency(searcher, args.rounds, args.runs, facet, mode)
    ids = [r for (r,) in index.db.execute("SELECT id FROM actions ORDER BY rowid LIMIT 40")]
    lat["similar"] = similar_latency(searcher, ids, args.runs)
    build = current_build(index_dir)
    row = {
        "n": n, "chunks": manifest.chunks, "ann": type(faiss.downcast_index(index.chunk_vectors.index)).__name__,
        "parse_s": parse_s, "nlp_actions_per_s": nlp_rate, "nlp_s_extrapolated": n / nlp_rate,
        "embed_passages_per_s": embed_rate, "embed_s_extrapolated": manifest.chunks / embed_rate,
        "index_s": index_s, "reindex_5_changed_s": changed_s, "reindex_5_changed_embedded": m_changed.passages_embedded,
        "reindex_5_added_5_deleted_s": added_s, "reindex_added_embedded": m_added.passages_embedded,
        "latency_ms": lat, "disk_mb": disk_mb(build),
    }
    index.close()
    if args.recall:
        row["recall_at_10"] = recall_at_10(index_dir, encoder)
    row["cold_start_s"], row["rss_mb"] = cold_start(index_dir, args.runs)
    if args.http:
        row["http"] = http(index_dir, [1, 4, 16], args.http_count, args.http_seconds)
    return row


def markdown(rows: list[dict], command: str) -> str:
    out = [f"Command: `{command}`", "",
           ("| N | chunks | index | parse s | NLP s (extrap.) | embed s (extrap.) | index s | reindex 5 changed s "
            "| reindex +5 −5 s | cold start s | RSS MB | disk MB | recall@10 |"),
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['n']} | {r['chunks']} | {r['ann']} | {r['parse_s']:.2f} | {r['nlp_s_extrapolated']:.0f} "
                   f"| {r['embed_s_extrapolated']:.0f} | {r['index_s']:.1f} | {r['reindex_5_changed_s']:.1f} "
                   f"| {r['reindex_5_added_5_deleted_s']:.1f} | {r['cold_start_s']:.2f} | {r['rss_mb']:.0f} "
                   f"| {r['disk_mb']:.0f} | {r.get('recall_at_10', float('nan')):.3f} |")
    out += ["", "| N | what | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
    for r in rows:
        for what, p in r["latency_ms"].items():
            out.append(f"| {r['n']} | {what} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} |")
    if any("http" in r for r in rows):
        out += ["", "| N | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            for h in r.get("http", []):
                out.append(f"| {r['n']} | {h['concurrency']} | {h['requests']} | {h['errors']} | {h['rps']:.0f} "
                           f"| {h['p50']:.1f} | {h['p95']:.1f} | {h['p99']:.1f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--smoke", action="store_true", help="N = 40, few rounds, no HTTP: for tests/test_bench.py")
    p.add_argument("--out", type=Path, default=ROOT / "index" / "bench")
    p.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported")
    p.add_argument("--rounds", type=int, default=3, help="passes over the query list per run")
    p.add_argument("--pool", type=int, default=300, help="distinct real sentences recombined (embedded for real)")
    p.add_argument("--bases", type=int, default=24, help="sample actions used as templates")
    p.add_argument("--probe", type=int, default=30, help="actions analysed for real to measure NLP throughput")
    p.add_argument("--probe-passages", type=int, default=48)
    p.add_argument("--no-http", dest="http", action="store_false")
    p.add_argument("--no-recall", dest="recall", action="store_false")
    p.add_argument("--http-count", type=int, default=400)
    p.add_argument("--http-seconds", type=float, default=20)
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs, args.rounds, args.pool, args.probe, args.probe_passages = [40], 1, 1, 20, 2, 4
        args.bases = 4
        args.http, args.recall = False, False
    command = "python scripts/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    nlp, encoder = FrenchNLP(), load_encoder(ENCODER, ROOT / "models")
    syn = Synthesizer(nlp, encoder, args.pool, args.bases)
    rows = []
    for n in args.sizes:
        rows.append(bench_size(n, args.out, syn, nlp, encoder, args))
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    (args.out / "results.md").write_text(markdown(rows, command))
    print(markdown(rows, command))
    print(f"peak RSS of the bench process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
