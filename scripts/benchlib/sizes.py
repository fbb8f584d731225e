"""One corpus size: generate it, pre-fill the build cache, time the build and the incremental reindex, then run
every measurement over the built index."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

from semsearch import store
from semsearch.analysis import analyse_actions
from semsearch.builds import current_build
from semsearch.corpus import load_actions, write_jsonl
from semsearch.index import CACHE_FILE, build_index
from semsearch.loading import load_index
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher

from . import CHUNKING, MODES, QUERIES, stage
from .recall import recall_at_10
from .service import cold_start, http
from .synth import Synthesizer, embed
from .timing import encoder_latency, latency, similar_latency


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def throughput(syn: Synthesizer, nlp: FrenchNLP, encoder, args) -> dict:
    """Real spaCy analysis and real embedding rates on a few synthetic actions (the same at any N)."""
    probe = syn.actions(args.probe, start=10**7)
    t = time.perf_counter()
    analyses = analyse_actions(probe, nlp, CHUNKING)
    nlp_rate = len(probe) / (time.perf_counter() - t)
    texts = [c.text for a in analyses for c in a.chunks][:args.probe_passages]
    t = time.perf_counter()
    embed(encoder, texts)
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
    row = {"n": n, "chunks": manifest.chunks, "search": manifest.search, "parse_s": parse_s,
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
        searcher = Searcher(index, encoder)
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

