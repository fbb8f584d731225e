"""What every part of the bench shares: paths, the dev queries, the chunking the build uses, stage timing.

scripts/bench.py runs itself in the service's thread policy (semsearch.cores.serving_env), so that the bench
measures the service's threads.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semsearch.chunking import Chunking

ROOT = Path(__file__).resolve().parent.parent.parent
CHUNKING = Chunking()  # what build_index uses
# The 16 dev queries (with typos and without accents), kept as their own latency row for comparison.
QUERIES = ["precarite alimentaire en rural", "atelier cuisine", "viellissement", "parents séparés",
           "inclusion numérique", "jeunes filles et hygiène", "séjour de vacances pour adultes", "zero dechet",
           "personnes agees isolees", "lien social pendant la pandémie", "théâtre et spectacles",
           "distribution de colis alimentaires", "missions courtes pour adolescents", "caravane",
           "groupe d'échange entre parents", "musique classique pour enfants"]
RECALL_QUERIES = 200  # 50 gave tie-tolerant recall 0.972-0.994 on one setting across runs: too noisy to judge 0.98
MODES = ("hybrid", "semantic", "lexical")


T0 = time.perf_counter()


@contextmanager
def stage(label: str) -> Iterator[None]:
    """Elapsed time of each stage on stderr, so a 15-minute run shows where it is."""
    t = time.perf_counter()
    print(f"[{t - T0:6.0f} s] {label} …", file=sys.stderr, flush=True)
    yield
    now = time.perf_counter()
    print(f"[{now - T0:6.0f} s] {label}: {now - t:.1f} s", file=sys.stderr, flush=True)

