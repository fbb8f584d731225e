"""Peers over the same passages and the same vectors: LanceDB and txtai beside semsearch (scripts/bench.py --peers).

Needs the optional `bench` extra (lancedb, txtai); nothing else in the bench imports this module.

After an N's index is built, the parent writes the build's passages (the text each vector was computed from: title
and passage, as chunking.Chunking.embedded has it) and its chunk vectors to <index>/peers, and the query vectors
semsearch's own search computes (Ranker.evidence: the query as the encoder reads it, encoded once). Each engine
then builds in a child process of its own (timed there: reading the files is not counted) and serves from a fresh
child that loads what was built: RSS is that process's VmRSS after loading and answering every query, with no
query encoder in any of them. Queries go to every engine in turn, the first engine rotating from query to query;
each child times only its own search call, handed the query text and its vector (encoder excluded everywhere;
semsearch gets the vector through a stand-in encoder, so its query-vector cache plays no part).

A peer ranks passages: it returns PASSAGES of them and the first 10 distinct fiches among them are its top 10.
semsearch's top 10 is the head of its whole order (Ranker.order: matches, then the rest by score), since its
page holds only what clears its thresholds. Top-10 overlap: |peer's ∩ semsearch's| / 10, averaged over queries.

A peer returns passage ids; semsearch's timed call returns a page (records, passages, reasons, facets). A
fourth process, in the rotation like an engine, times semsearch's ranking alone: the query's evidence and
fusion and its 10 best fiches, the work a peer's call does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ENGINES = ("semsearch", "lancedb", "txtai")
# semsearch's ranking alone, without its page: a process of its own, in the rotation like an engine.
RANKING = "semsearch-ranking"
MODES = ("hybrid", "lexical", "dense")
SEMSEARCH_MODE = {"hybrid": "hybrid", "lexical": "lexical", "dense": "semantic"}
PASSAGES = 50  # passages a peer returns per query, folded into fiches
WARMUP = 10  # queries sent to every engine in every mode before the timed ones, not counted
HEADER = ("| engine | hybrid p50 ms (encoder excluded) | lexical p50 | dense p50 | build s (analysis and embedding "
          "excluded) | RSS MB | top-10 overlap with semsearch (hybrid / lexical / dense) |")
LABELS = {"semsearch": "semsearch", "lancedb": "LanceDB {v} hybrid (FTS + {ivf}, RRF)",
          "txtai": "txtai {v} hybrid (BM25 + faiss {ivf}, convex 0.5)",
          RANKING: "semsearch, ranking alone (evidence and fusion, its 10 best fiches; no page)"}


# -- parent: prepare, build, interleave, report --------------------------------------------------------------
def prepare(index_dir: Path, work: Path, queries: list[str], encoder) -> dict:
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    from semsearch import store
    from semsearch import vectors as dense
    from semsearch.builds import current_build
    from semsearch.loading import load_index
    from semsearch.search import Searcher

    from . import CHUNKING

    work.mkdir(parents=True, exist_ok=True)
    vectors, ids, ann = dense.read_chunks(current_build(index_dir), for_search=False)
    nlist = nprobe = 0
    if ann is not None:
        ivf = faiss.extract_index_ivf(ann)
        dense.set_probes(ivf)
        nlist, nprobe = int(ivf.nlist), int(ivf.nprobe)
    index = load_index(index_dir)
    try:
        searcher = Searcher(index, encoder)
        query_vectors = np.stack([searcher.ranker.evidence(q).vector for q in queries]).astype(np.float32)
        of_chunk = {}
        for rowid, action_id, _, _ in store.action_rows(index.db):
            action = store.record(index.db, rowid)
            for passage in store.passages_of(index.db, [rowid])[rowid]:
                embedded = CHUNKING.embedded(action, passage.section, passage.text)
                of_chunk[passage.rowid] = (action_id, embedded)
    finally:
        index.close()
    rows = [of_chunk[int(i)] for i in ids]  # KeyError: a vector without its passage
    passages = pa.table({"pos": pa.array(np.arange(len(rows)), pa.int64()), "action": [a for a, _ in rows],
                         "text": [t for _, t in rows]})
    pq.write_table(passages, work / "passages.parquet")
    np.save(work / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    np.save(work / "queries.npy", query_vectors)
    meta = {"index_dir": str(index_dir), "nlist": nlist, "nprobe": nprobe, "passages": len(rows),
            "queries": queries, "dimension": int(query_vectors.shape[1]),
            "train_per_cell": dense.TRAIN_PER_CELL, "kmeans_iterations": dense.KMEANS_ITERATIONS}
    (work / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
    return meta


class Child:
    """An engine in a process of its own, spoken to by JSON lines (its stdout is moved to stderr)."""

    def __init__(self, role: str, engine: str, work: Path) -> None:
        env = {**os.environ, "LANCEDB_LOG": "error"}
        self.proc = subprocess.Popen([sys.executable, __file__, role, engine, str(work)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, **message) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer child {self.proc.args[2:4]} died (rc {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(n: int, index_dir: Path, row: dict, queries: list[str], encoder, command: str,
            count: int = 300) -> tuple[dict, str]:
    """(results, markdown) of semsearch and its peers at one N, over that N's built index."""
    from . import stage

    work = index_dir / "peers"
    with stage(f"N={n}: peers: passages, vectors and query vectors"):
        meta = prepare(index_dir, work, queries[:count + WARMUP], encoder)
    build = {"semsearch": row["index_s"]}
    for engine in ENGINES[1:]:
        with stage(f"N={n}: peers: build {engine}"):
            child = Child("build", engine, work)
            build[engine] = child.ask()["build_s"]
            child.close()
    with stage(f"N={n}: peers: {count} queries × {len(MODES)} modes, engines interleaved"):
        rotation = (*ENGINES, RANKING)
        servers = {e: Child("serve", e, work) for e in rotation}
        loaded = {e: s.ask(op="rss") for e, s in servers.items()}
        times = {e: {m: [] for m in MODES} for e in rotation}
        found = {e: {m: [] for m in MODES} for e in rotation}
        pages = {m: [] for m in MODES}  # semsearch's matches on each page
        for i in range(count + WARMUP):
            for mode in MODES:
                for k in range(len(rotation)):
                    engine = rotation[(i + k) % len(rotation)]
                    got = servers[engine].ask(op="search", i=i, mode=mode)
                    if i >= WARMUP:
                        times[engine][mode].append(got["s"])
                        found[engine][mode].append(got["ids"])
                        if "hits" in got:
                            pages[mode].append(got["hits"])
        rss = {e: s.ask(op="rss") for e, s in servers.items()}
        for s in servers.values():
            s.close()
    results = {"n": n, "chunks": meta["passages"], "queries": count, "nlist": meta["nlist"],
               "nprobe": meta["nprobe"], "passages_per_query": PASSAGES, "engines": {},
               "versions": {e: version(e) for e in ENGINES[1:]},
               "semsearch_pages_with_10": {m: float(np.mean(np.asarray(pages[m]) >= 10)) for m in MODES},
               "semsearch_pages_empty": {m: float(np.mean(np.asarray(pages[m]) == 0)) for m in MODES}}
    for e in rotation:
        results["engines"][e] = {
            "p50_ms": {m: float(np.percentile(times[e][m], 50) * 1000) for m in MODES},
            "p95_ms": {m: float(np.percentile(times[e][m], 95) * 1000) for m in MODES},
            "build_s": build.get(e, build["semsearch"]), "rss_mb_loaded": loaded[e]["rss_mb"],
            "rss_mb": rss[e]["rss_mb"],
            "overlap": {m: float(np.mean([len(set(a) & set(b)) / max(len(a), len(b), 1) for a, b in
                                          zip(found[e][m], found["semsearch"][m])])) for m in MODES}}
    return results, markdown(results, command)


def markdown(r: dict, command: str) -> str:
    ivf = f"IVF {r['nlist']} cells, {r['nprobe']} probed" if r["nlist"] else "exact vectors"
    base = r["engines"]["semsearch"]

    def cell(e: str, value: float, of: float, digits: int = 1) -> str:
        return f"{value:.{digits}f}" if e == "semsearch" else f"{value:.{digits}f} ({value / of:.2f}×)"

    lines = [f"### Peers at N = {r['n']:,} ({r['chunks']:,} passages, {r['queries']} queries, {ivf})", "",
             f"`{command}`", "",
             HEADER, "|---|---|---|---|---|---|---|"]
    for e, x in r["engines"].items():
        if e == RANKING:
            continue
        p, q = x["p50_ms"], base["p50_ms"]
        label = LABELS[e].format(v=r["versions"][e].rsplit(".", 1)[0] if e != "semsearch" else "",
                                 ivf="IVF_FLAT" if r["nlist"] else "flat vectors")
        overlap = "—" if e == "semsearch" else " / ".join(f"{x['overlap'][m]:.2f}" for m in MODES)
        lines.append(f"| {label} | {cell(e, p['hybrid'], q['hybrid'])} | {cell(e, p['lexical'], q['lexical'])} | "
                     f"{cell(e, p['dense'], q['dense'])} | {cell(e, x['build_s'], base['build_s'])} | "
                     f"{cell(e, x['rss_mb'], base['rss_mb'], 0)} | {overlap} |")
    full, empty = r["semsearch_pages_with_10"], r["semsearch_pages_empty"]
    lines += ["", "semsearch's pages with 10 matches / with none (hybrid, lexical, dense): " +
              ", ".join(f"{full[m]:.0%} / {empty[m]:.0%}" for m in MODES)]
    if RANKING in r["engines"]:
        ranking, peer = r["engines"][RANKING]["p50_ms"], r["engines"]["lancedb"]["p50_ms"]
        lines += ["", f"{LABELS[RANKING]}, p50 ms (hybrid, lexical, dense) and against LanceDB's: " +
                  ", ".join(f"{ranking[m]:.1f} ({ranking[m] / peer[m]:.2f}×)" for m in MODES)]
    return "\n".join(lines) + "\n"


# -- children: one engine each ----------------------------------------------------------------------------------
class Semsearch:
    def load(self, work: Path, meta: dict) -> None:
        from semsearch.loading import load_index
        from semsearch.search import Searcher

        self.vector = None
        self.dimension = meta["dimension"]
        self.name = "peers-stand-in"  # an encoder that hands back the vector of the query being searched
        self.searcher = Searcher(load_index(Path(meta["index_dir"])), self)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.repeat(self.vector[None, :], len(texts), axis=0)

    def search(self, mode: str, text: str, vector: np.ndarray) -> int:
        """The page a user gets (what is timed): its number of matches."""
        self.vector = vector
        return len(self.searcher.search(text, limit=10, mode=SEMSEARCH_MODE[mode]).hits)

    def top(self, mode: str, text: str) -> list[str]:
        """The first 10 of semsearch's whole order (matches, then the others by score), as a peer's top 10 is
        read: a page holds only the matches above semsearch's thresholds, often fewer than 10 (not timed)."""
        r = self.searcher.ranker
        return r.order(r.fuse(r.evidence(text, SEMSEARCH_MODE[mode]), SEMSEARCH_MODE[mode])).ids[:10]


class SemsearchRanking(Semsearch):
    """semsearch without its page: the query's evidence and fusion, then its 10 best fiches (all timed)."""

    def search(self, mode: str, text: str, vector: np.ndarray) -> list[str]:
        self.vector = vector
        r, mode = self.searcher.ranker, SEMSEARCH_MODE[mode]
        score = r.fuse(r.evidence(text, mode), mode).score
        best = np.argpartition(-score, min(10, len(score) - 1))[:10]
        return [r.action_id(int(i)) for i in best if np.isfinite(score[i])]  # -inf: a rowid no action holds


class Lance:
    def build(self, work: Path, meta: dict) -> float:
        import lancedb
        import pyarrow as pa
        import pyarrow.parquet as pq
        from lancedb.index import FTS, IvfFlat

        vectors = np.load(work / "vectors.npy")
        data = pq.read_table(work / "passages.parquet").append_column(
            "vector", pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]))
        t = time.perf_counter()
        table = lancedb.connect(work / "lancedb").create_table("passages", data, mode="overwrite")
        table.create_index("text", config=FTS(language="French", stem=True, remove_stop_words=True,
                                              ascii_folding=True))
        if meta["nlist"]:  # as semsearch: exact below vectors.ANN_ABOVE, else its cells, probes and k-means budget
            table.create_index("vector", config=IvfFlat(distance_type="dot", num_partitions=meta["nlist"],
                                                        max_iterations=meta["kmeans_iterations"],
                                                        sample_rate=meta["train_per_cell"]))
        return time.perf_counter() - t

    def load(self, work: Path, meta: dict) -> None:
        import lancedb
        import pyarrow.parquet as pq

        self.table, self.nprobe = lancedb.connect(work / "lancedb").open_table("passages"), meta["nprobe"]
        self.action = pq.read_table(work / "passages.parquet").column("action").to_pylist()

    def search(self, mode: str, text: str, vector: np.ndarray) -> list[int]:
        if mode == "lexical":
            q = self.table.search(text, query_type="fts")
        else:
            q = (self.table.search(query_type="hybrid").vector(vector).text(text) if mode == "hybrid"
                 else self.table.search(vector, query_type="vector")).distance_type("dot")
            q = q.nprobes(self.nprobe) if self.nprobe else q
        return q.limit(PASSAGES).select(["pos"]).to_arrow().column("pos").to_pylist()


class Txtai:
    def build(self, work: Path, meta: dict) -> float:
        import pyarrow.parquet as pq
        from txtai import Embeddings

        texts = pq.read_table(work / "passages.parquet").column("text").to_pylist()
        vectors, done = np.load(work / "vectors.npy"), [0]

        def given(batch: list[str]) -> np.ndarray:  # the passages' own vectors, in the order txtai asks
            start = done[0]
            assert list(batch) == texts[start:start + len(batch)], "txtai asked for vectors out of order"
            done[0] += len(batch)
            return vectors[start:start + len(batch)]

        t = time.perf_counter()
        faiss = {"components": "IDMap,Flat"}
        if meta["nlist"]:  # semsearch's cells and probes, k-means on as many vectors (faiss's own 25 iterations)
            faiss = {"components": f"IVF{meta['nlist']},Flat", "nprobe": meta["nprobe"],
                     "sample": min(1.0, meta["train_per_cell"] * meta["nlist"] / len(texts))}
        embeddings = Embeddings(method="external", transform=given, hybrid=True, content=False, backend="faiss",
                                faiss=faiss, dimensions=meta["dimension"])
        embeddings.index((i, text, None) for i, text in enumerate(texts))
        embeddings.save(str(work / "txtai"))
        assert done[0] == len(texts), done
        return time.perf_counter() - t

    def load(self, work: Path, meta: dict) -> None:
        import pyarrow.parquet as pq
        from txtai import Embeddings

        def given(batch: list[str]) -> np.ndarray:  # the vector of the query being searched (a function: txtai
            return np.repeat(self.vector[None, :], len(batch), axis=0)  # calls any other callable to make one)

        self.vector = None
        self.embeddings = Embeddings()
        self.embeddings.load(str(work / "txtai"), config={"transform": given})
        self.action = pq.read_table(work / "passages.parquet").column("action").to_pylist()

    def search(self, mode: str, text: str, vector: np.ndarray) -> list[int]:
        self.vector, e = vector, self.embeddings
        if mode == "hybrid":
            found = e.search(text, PASSAGES)
        elif mode == "lexical":  # the two halves its hybrid search runs (embeddings/search/base.py)
            found = e.scoring.search(text, PASSAGES)
        else:
            found = e.ann.search(e.batchtransform([(None, text, None)], "query"), PASSAGES)[0]
        return [i for i, _ in found]


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def child(role: str, engine: str, work: Path) -> None:
    reply = os.fdopen(os.dup(1), "w")  # the replies; whatever the engines print goes to stderr
    os.dup2(2, 1)
    sys.path[0] = str(Path(__file__).resolve().parents[2])  # semsearch from this checkout, not benchlib's modules
    meta = json.loads((work / "meta.json").read_text())
    impl = {"semsearch": Semsearch, "lancedb": Lance, "txtai": Txtai, RANKING: SemsearchRanking}[engine]()
    if role == "build":
        sys.stdin.readline()
        reply.write(json.dumps({"build_s": impl.build(work, meta)}) + "\n")
        reply.flush()
        return
    impl.load(work, meta)
    texts, vectors = meta["queries"], np.load(work / "queries.npy")
    fiche = getattr(impl, "action", None)
    for line in sys.stdin:
        message = json.loads(line)
        if message["op"] == "search":
            i = message["i"]
            t = time.perf_counter()
            ids = impl.search(message["mode"], texts[i], vectors[i])
            s = time.perf_counter() - t
            if fiche is not None:  # passages -> the first 10 distinct fiches
                ids = list(dict.fromkeys(fiche[p] for p in ids))[:10]
            out = {"s": s, "ids": ids}
            if isinstance(ids, int):  # semsearch: its page's matches, and its top 10 read as a peer's
                out = {"s": s, "hits": ids, "ids": impl.top(message["mode"], texts[i])}
        else:
            out = {"rss_mb": rss_mb()}
        reply.write(json.dumps(out) + "\n")
        reply.flush()


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
