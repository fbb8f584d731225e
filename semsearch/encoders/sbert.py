"""The sentence-transformers backend: any such model, from a local directory, a package or the hub."""

from __future__ import annotations

import numpy as np

from ..errors import SemsearchError
from .base import as_rows, text_list


class SentenceTransformerEncoder:
    """Any sentence-transformers model: a local directory or a hub id. The prefixes are prepended to the
    texts here rather than passed as `prompts=`, so the registry alone says what the model sees."""

    def __init__(
        self,
        name: str,
        model: str,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        max_length: int | None = None,
        local_files_only: bool = False,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        from sentence_transformers import SentenceTransformer  # lazy: imports torch (~3-8 s)

        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise SemsearchError("SEMSEARCH_DEVICE=cuda : torch ne voit aucun GPU CUDA ici (torch CPU installé, "
                                     "ou pas de pilote NVIDIA)")
        self._model = SentenceTransformer(model, device=device, local_files_only=local_files_only)
        if max_length:
            self._model.max_seq_length = max_length
        self.name = name
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.source = model
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.batch_size = batch_size

    def _encode(self, prefix: str, texts: list[str]) -> np.ndarray:
        texts = [prefix + t for t in text_list(texts)]
        if not texts:  # encode([]) does not return a 2-D array
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return as_rows(vectors, self.dimension)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(self.query_prefix, texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(self.passage_prefix, texts)
