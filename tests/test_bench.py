"""The benchmark runs end to end at a smoke size and writes every row, and its derived build cache holds what
the real analysis would (no timing assertions: timings depend on the machine)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from semsearch import store
from semsearch.analysis import analyse_actions, analysis_key, sha
from semsearch.chunking import Chunking, whole_text
from semsearch.nlp import FrenchNLP

ROOT = Path(__file__).resolve().parent.parent
LATENCY_ROWS = {"hybrid", "hybrid+filter", "semantic", "semantic+filter", "lexical", "lexical+filter",
                "hybrid, 16 dev queries", "encoder alone", "hybrid, vector cached", "similar"}


def _bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeEncoder:
    """Deterministic unit vectors: the derivation is under test here, not the model."""

    name, dimension = "fake-8", 8

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little") for t in texts]
        v = np.stack([np.random.default_rng(s).standard_normal(8) for s in seeds]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_derived_analyses_match_the_real_analysis(tmp_path: Path, nlp: FrenchNLP) -> None:
    """Same lexical columns, same chunks (section, position, text), same words and spans: only word families may
    differ where spaCy's tagger reads a sentence differently in its recombined context."""
    bench = _bench()
    syn = bench.Synthesizer(nlp, _FakeEncoder(), pool=60, bases=6)
    actions = syn.actions(10)
    chunking = Chunking()
    real = analyse_actions(actions, nlp, chunking)
    cache = store.BuildCache(tmp_path / "cache.sqlite")
    filled = syn.fill_cache(actions, cache, batch=4)
    keys = [analysis_key(a, nlp.model, chunking) for a in actions]
    derived = cache.analyses(keys)
    assert filled["passages"] == sum(len(r.chunks) for r in real)
    same_terms = total = 0
    for key, r in zip(keys, real):
        d = derived[key]
        assert list(d.columns) == list(r.columns)
        for column in r.columns:
            assert [t.text for t in d.columns[column]] == [t.text for t in r.columns[column]], column
            assert [t.term for t in d.columns[column]] == [t.term for t in r.columns[column]], column
            same_terms += [t.family for t in d.columns[column]] == [t.family for t in r.columns[column]]
            total += 1
        assert [(c.section, c.position, c.text) for c in d.chunks] == [(c.section, c.position, c.text) for c in r.chunks]
        for dc, rc in zip(d.chunks, r.chunks):
            assert dc.spans == rc.spans  # the same words at the same places, so highlights are the real ones
    # terms depend only on the words; a family (lemma, word class) may differ where the tagger reads a sentence
    # otherwise in its recombined context
    assert same_terms / total >= 0.8
    texts = {chunking.embedded(a, c.section, c.text) for a, r in zip(actions, real) for c in r.chunks}
    texts |= {whole_text(a) for a in actions}
    vectors = cache.vectors("fake-8", [sha(t) for t in texts], 8)
    assert len(vectors) == len(texts)
    assert np.allclose([np.linalg.norm(v) for v in vectors.values()], 1, atol=1e-5)
    cache.close()


def test_generated_queries_are_distinct_and_start_with_the_dev_queries(nlp: FrenchNLP) -> None:
    bench = _bench()
    queries = bench.Synthesizer(nlp, _FakeEncoder(), pool=60, bases=6).queries(300)
    assert queries[:16] == bench.QUERIES and len(set(queries)) == 300
    assert all(2 <= len(q.split()) <= 4 for q in queries[16:])


def test_bench_smoke_writes_every_row(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--smoke", "--out", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    built = json.loads((tmp_path / "real_build.json").read_text())
    # The real build analysed and embedded everything itself, and timed each stage.
    assert built["n"] == built["analysed"] == 3 and built["embedded"] == built["distinct_passages"] + 3
    assert set(built["seconds"]) == {"parse", "analyse", "embed", "index"} and all(built["seconds"].values())
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["n"] for r in rows] == [40]
    row = rows[0]
    # The build read every analysis and vector from the derived cache: nothing analysed or embedded.
    assert row["index_analysed"] == 0 and row["index_embedded"] == 0
    assert row["prefill"]["actions"] == 40 and row["prefill"]["passages"] == row["chunks"] > 40
    assert row["reindex_5_changed_embedded"] > 0 and row["reindex_added_embedded"] > 0
    for measure in ("parse_s", "nlp_s_extrapolated", "embed_s_extrapolated", "prefill_s", "index_s",
                    "reindex_5_changed_s", "reindex_5_added_5_deleted_s", "cold_start_s", "rss_1_worker_loaded_mb",
                    "rss_1_worker_mb", "disk_mb"):
        assert row[measure] > 0, measure
    assert set(row["latency_ms"]) == LATENCY_ROWS
    assert all(p["p50"] > 0 for p in row["latency_ms"].values())
    searches = [p for what, p in row["latency_ms"].items() if what not in ("encoder alone", "similar")]
    assert searches and all(0 <= p["empty"] <= 1 for p in searches)  # the share of "Aucune fiche" pages
    recall = row["recall_at_10"]
    assert 0 < recall["strict"] <= recall["tolerant"] <= 1 and 0 < recall["candidates_jaccard"] <= 1
    http = row["http"]
    assert http["workers"] == 1 and [h["concurrency"] for h in http["rows"]] == [1, 2]
    assert all(h["requests"] > 0 and h["errors"] == 0 for h in http["rows"])
    assert http["memory"]["processes"] >= 1 and http["memory"]["rss_total_mb"] > 0
    table = (tmp_path / "results.md").read_text()
    assert "--smoke" in table and "| 40 | hybrid |" in table and "| 40 | 1 | 2 |" in table
    assert "recall@10 tie-tolerant" in table and "candidates vs exact" in table
