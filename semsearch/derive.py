"""What a build derives from the actions: their analyses, their passages' vectors and their word counts, the
first two read from the build cache (store.BuildCache) where it has them, so a reindex only analyses new or
changed actions and only embeds passages it has not seen."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

import numpy as np
from tqdm import tqdm

from . import store
from .analysis import Analysis, analyse_actions, analysis_key, sha
from .chunking import Chunking
from .cores import build_processes
from .encoders import Encoder
from .nlp import FrenchNLP
from .records import Action

# Passages per encoder call: the ONNX encoder sorts a call's texts by length, so larger calls pad less (32 -> 96:
# 27 -> 40 passages/s here); still a progress step every few seconds.
BATCH = 128
ANALYSIS_BATCH = 64  # actions analysed (and committed to the cache) at a time
# A worker process takes ~6 s to start (spaCy's import and load), so below this many batches one process is
# as fast: 300 actions in 13.9 s in one process, 16.0 s in two; 1 024 in 43.8 s against 32.4 (2 cores).
POOL_FROM_BATCHES = 8


def counts(analyses: Sequence[Analysis], sign: int) -> tuple[list[tuple[str, str, str, int]],
                                                               list[tuple[str, str, int]]]:
    """(surface, term, family, n) lexicon rows and (surface, spelling, n) spelling rows of some actions, times sign."""
    lexicon: Counter[tuple[str, str, str]] = Counter()
    spellings: Counter[tuple[str, str]] = Counter()  # folded form -> how the fiches write it
    for analysis in analyses:
        for t in analysis.words():
            lexicon[t.surface, t.term, t.family] += 1
            spellings[t.surface, t.text] += 1
    return ([(*k, sign * n) for k, n in lexicon.items()], [(*k, sign * n) for k, n in spellings.items()])


_worker_nlp: FrenchNLP | None = None  # the spaCy pipeline of an analysis worker process


def _start_worker(model: str) -> None:
    global _worker_nlp
    _worker_nlp = FrenchNLP(model)


def _analyse_in_worker(actions: list[Action], chunking: Chunking) -> list[Analysis]:
    assert _worker_nlp is not None
    return analyse_actions(actions, _worker_nlp, chunking)


def analysed_batches(batches: list[list[Action]], nlp: FrenchNLP, chunking: Chunking,
                     processes: int) -> Iterator[list[Analysis]]:
    """analyse_actions of each batch, in order: in this process when few batches or one process, else in
    a pool of worker processes, each loading its own spaCy (~4 s) and analysing whole batches."""
    if processes <= 1 or len(batches) < POOL_FROM_BATCHES:
        for batch in batches:
            yield analyse_actions(batch, nlp, chunking)
        return
    # Spawned, not forked: the parent's encoder and OpenMP threads must not be copied mid-flight.
    pool = ProcessPoolExecutor(min(processes, len(batches)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(nlp.model,))
    try:
        yield from pool.map(_analyse_in_worker, batches, repeat(chunking))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def cached_analyses(actions: Sequence[Action], nlp: FrenchNLP, chunking: Chunking, progress: bool,
                    cache: store.BuildCache | None) -> tuple[list[Analysis], list[bytes], int]:
    """Every action's analysis, from the cache where it has one (and put there when it has not), in
    cores.build_processes() processes when there are enough; returns (analyses, keys, how many were new)."""
    keys = [analysis_key(a, nlp.model, chunking) for a in actions]
    known = cache.analyses(keys) if cache is not None else {}
    missing = [i for i, k in enumerate(keys) if k not in known]
    parts = [missing[start:start + ANALYSIS_BATCH] for start in range(0, len(missing), ANALYSIS_BATCH)]
    batches = [[actions[i] for i in part] for part in parts]
    with tqdm(total=len(missing), desc="analysing", unit="action", disable=not progress) as bar:
        for part, fresh in zip(parts, analysed_batches(batches, nlp, chunking, build_processes())):
            known.update((keys[i], a) for i, a in zip(part, fresh))
            if cache is not None:
                cache.put_analyses((keys[i], a) for i, a in zip(part, fresh))
            bar.update(len(part))
    return [known[k] for k in keys], keys, len(missing)


def embed(texts: list[str], encoder: Encoder, progress: bool, cache: store.BuildCache | None,
           counted: int | None = None) -> tuple[np.ndarray, list[bytes], int]:
    """One vector per text, embedding only the texts the cache lacks; returns (vectors, keys, how many of the
    first `counted` texts (all by default) were embedded: the passages, not the whole fiches after them)."""
    keys = [sha(t) for t in texts]
    known = cache.vectors(encoder.name, list(dict.fromkeys(keys)), encoder.dimension) if cache is not None else {}
    missing = list(dict.fromkeys(k for k in keys if k not in known)) if cache is not None else keys
    text_of = dict(zip(keys, texts))
    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    fresh: list[np.ndarray] = []
    with tqdm(total=len(missing), desc="embedding", unit="passage", disable=not progress) as bar:
        for start in range(0, len(missing), BATCH):
            part = missing[start:start + BATCH]
            batch = encoder.encode_passages([text_of[k] for k in part] if cache is not None else texts[start:start + BATCH])
            if cache is not None:
                cache.put_vectors(encoder.name, part, batch)  # one transaction per batch: a kill loses one batch
                known.update(zip(part, batch))
            else:
                fresh.append(batch)
            bar.update(len(part))
    if cache is None:
        if fresh:
            vectors[:] = np.concatenate(fresh)
    else:
        for i, k in enumerate(keys):
            vectors[i] = known[k]
    fresh_keys = set(missing)
    return vectors, keys, len({k for k in keys[:counted] if k in fresh_keys})
