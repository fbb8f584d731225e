"""Benchmarks at federation scale: build, incremental reindex, latency, HTTP, cold start, memory, disk, recall.

    .venv/bin/python scripts/bench.py                    # N = 1 000, 10 000 and 50 000 (11 minutes here)
    .venv/bin/python scripts/bench.py --sizes 2000 --runs 1 --rounds 1 --http-count 100 --http-seconds 10
    .venv/bin/python scripts/bench.py --smoke            # N = 40, every measurement, for tests/test_bench.py
    .venv/bin/python scripts/bench.py --real-build 2000 --sizes   # a real build of 2 000 fiches, stage by stage

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
--real-build N builds N synthetic fiches for real instead, from a text export to a served index, every stage
timed (benchlib/build.py); larger corpora are extrapolated from its rates and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # semsearch from this checkout, and the benchlib package beside

from semsearch.cores import in_serving_env, serving_env

if __name__ == "__main__" and not in_serving_env(os.environ):
    # Run again with the service's thread policy, which the runtimes read when they load (semsearch.cores).
    os.execve(sys.executable, [sys.executable, *sys.argv], serving_env(os.environ))

from benchlib import QUERIES, RECALL_QUERIES, ROOT, T0, stage
from benchlib import build as real
from benchlib.report import markdown
from benchlib.sizes import bench_size, throughput
from benchlib.synth import Synthesizer
from benchlib.timing import QueryStream

from semsearch.config import Settings
from semsearch.encoders import load_encoder
from semsearch.nlp import FrenchNLP

__all__ = ["QUERIES", "Synthesizer", "main"]  # what tests/test_bench.py reads from this script
SETTINGS = Settings.from_env()  # SEMSEARCH_ENCODER names another encoder, for an A/B; SEMSEARCH_DEVICE a GPU


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 50000],
                   help="corpus sizes built from derived analyses and vectors (none: only --real-build)")
    p.add_argument("--real-build", type=int, metavar="N",
                   help="also build N fiches for real, end to end, every stage timed (parse, analyse, embed, index)")
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
    p.add_argument("--peers", action="store_true", help="also LanceDB and txtai over the same passages and vectors "
                   "(the optional bench extra; peers.md under --out)")
    p.add_argument("--http-workers", type=int, default=2, help="SEMSEARCH_WORKERS of the served process")
    p.add_argument("--http-count", type=int, default=300, help="requests per concurrency level at most")
    p.add_argument("--http-seconds", type=float, default=15, help="seconds per concurrency level at most")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--cold-runs", type=int, default=1)
    p.add_argument("--cold-searches", type=int, default=2000,
                   help="searches before the 1-worker RSS is read a second time")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs, args.rounds, args.queries, args.pool, args.bases = [40], 1, 1, 8, 20, 4
        args.probe, args.probe_passages, args.http_workers, args.http_count, args.http_seconds = 2, 4, 1, 6, 10
        args.concurrency, args.cold_searches = [1, 2], 4
        args.real_build = args.real_build or 3
    command = "python scripts/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with stage("load spaCy and the encoder, analyse and embed the sentence pool"):
        # As `semsearch reindex` has it: passage batches on every core; queries share the cores as when serving.
        nlp, encoder = FrenchNLP(), load_encoder(SETTINGS.encoder, ROOT / "models", passage_threads=None,
                                                device=SETTINGS.device)
        syn = Synthesizer(nlp, encoder, args.pool, args.bases)
    if args.real_build:
        built = real.real_build(args.real_build, args.out, syn, nlp, encoder)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "real_build.json").write_text(json.dumps({"command": command, **built}, indent=2))
        print(real.markdown(built, command), flush=True)
    if not args.sizes:
        return
    varied = syn.queries(len(QUERIES) + RECALL_QUERIES + 4000)
    streams = {"recall": varied[:RECALL_QUERIES], "latency": QueryStream(varied[RECALL_QUERIES:2000]),
               "http": QueryStream(varied[2000:])}
    with stage("NLP and embedding throughput (real, on synthetic actions)"):
        rates = throughput(syn, nlp, encoder, args)
    rows, peers = [], []
    for n in args.sizes:
        rows.append(bench_size(n, args.out, syn, nlp, encoder, rates, streams, args))
        print(json.dumps(rows[-1]), flush=True)
        if args.peers:  # imported only here: lancedb and txtai are the optional bench extra
            from benchlib.peers import compare
            peers.append(compare(n, args.out / f"n{n}", rows[-1], streams["latency"].take(400), encoder, command))
            (args.out / "peers.json").write_text(json.dumps([r for r, _ in peers], indent=2))
            (args.out / "peers.md").write_text("\n".join(md for _, md in peers))
            print(peers[-1][1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2))
    (args.out / "results.md").write_text(markdown(rows, command, args))
    print(markdown(rows, command, args))
    print(f"peak RSS of the bench process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total {time.perf_counter() - T0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
