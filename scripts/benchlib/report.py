"""The Markdown tables of results.md: build and resources, in-process latency, HTTP load."""

from __future__ import annotations

from . import RECALL_QUERIES


def _n(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}".replace(",", " ")


def markdown(rows: list[dict], command: str, args) -> str:
    cmd = f"Command: `{command}`"
    out = [cmd, "",
           ("| N | chunks | search | parse s | NLP s (extrap.) | embed s (extrap.) | index s | reindex 5 changed s "
            "| reindex +5 −5 s | cold start s | RSS MB 1 worker loaded / searched | service RSS MB total / max | disk MB "
            "| recall@10 strict | recall@10 tie-tolerant | candidates vs exact |"),
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec, mem = r.get("recall_at_10", {}), r.get("http", {}).get("memory")
        out.append(f"| {r['n']} | {_n(r['chunks'], 0)} | {r['search']} | {r['parse_s']:.2f} "
                   f"| {_n(r['nlp_s_extrapolated'], 0)} | {_n(r['embed_s_extrapolated'], 0)} | {r['index_s']:.1f} "
                   f"| {_n(r.get('reindex_5_changed_s'))} | {_n(r.get('reindex_5_added_5_deleted_s'))} "
                   f"| {_n(r.get('cold_start_s'), 2)} | {_n(r.get('rss_1_worker_loaded_mb'), 0)} / {_n(r.get('rss_1_worker_mb'), 0)} "
                   f"| {_n(mem['rss_total_mb'], 0) + ' / ' + _n(mem['rss_max_mb'], 0) if mem else '—'} "
                   f"| {_n(r['disk_mb'], 0)} | {_n(rec.get('strict'), 3)} | {_n(rec.get('tolerant'), 3)} "
                   f"| {_n(rec.get('candidates_jaccard'), 3)} |")
    light = [str(r["n"]) for r in rows if not r["full"]]
    out += ["", "NLP and embed: real throughputs on a few synthetic actions, extrapolated to N. Index: the real "
            "build over all N, with the build cache pre-filled by derived analyses and vectors (pre-fill, not part "
            "of any figure: " + ", ".join(f"N={r['n']} {r['prefill_s']:.0f} s" for r in rows) + "). "
            "Cold start: Popen of `semsearch serve` (1 worker) to the first 200 on /ready, file cache warm; "
            "RSS MB 1 worker: that process once ready, then after "
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
    out += ["", cmd, "", "| N | what | p50 ms | p95 ms | p99 ms | searches | empty pages |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        for what, p in r["latency_ms"].items():
            empty = f"{p['empty']:.0%}" if "empty" in p else "—"
            out.append(f"| {r['n']} | {what} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['samples']} "
                       f"| {empty} |")
    out += ["", ("In process, one search at a time (its query encoded on every core), medians of --runs runs. Every "
                 "row but `16 dev queries` (repeated: cached query vectors after the first round) and `similar` sends "
                 "distinct generated queries (2–4 content words of one sample sentence, as written, without accents or with a "
                 "typo) that no other row sends; `+filter` adds the commonest department; `vector cached`: its "
                 "queries searched once untimed, then timed (the search without the encoder); similar: 40 actions "
                 "spread over the corpus. Empty pages: the share of those searches answered \"Aucune fiche\".")]
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
