"""A real build, end to end and timed stage by stage: N synthetic fiches written as a text export, parsed,
analysed by spaCy, embedded by the encoder and assembled into an index, from an empty build cache.

The stages are the library's own (corpus.load_actions, derive.cached_analyses, derive.embed, index.build_index)
called one after the other as `semsearch reindex` calls them; the last one finds every analysis and vector in the
cache the first ones filled, so its time is the assembly alone. Larger N are stated from these rates, marked
extrapolated, never mixed with measured figures.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from semsearch import store
from semsearch.chunking import whole_text
from semsearch.corpus import load_actions
from semsearch.derive import cached_analyses, embed
from semsearch.export import render_export
from semsearch.index import CACHE_FILE, build_index
from semsearch.nlp import FrenchNLP

from . import CHUNKING, stage
from .synth import Synthesizer

STAGES = ("parse", "analyse", "embed", "index")
EXTRAPOLATED_TO = (10_000, 50_000)


def real_build(n: int, out: Path, syn: Synthesizer, nlp: FrenchNLP, encoder) -> dict:
    directory = out / f"real{n}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    source = directory / "export.txt"
    source.write_text(render_export(syn.actions(n, start=2 * 10**6)), encoding="utf-8")
    seconds: dict[str, float] = {}

    with stage(f"real build N={n}: parse the export"):
        t = time.perf_counter()
        corpus = load_actions(source)
        seconds["parse"] = time.perf_counter() - t
    cache = store.BuildCache(directory / CACHE_FILE)
    try:
        with stage(f"real build N={n}: analyse"):
            t = time.perf_counter()
            analyses, _, analysed = cached_analyses(corpus.actions, nlp, CHUNKING, False, cache)
            seconds["analyse"] = time.perf_counter() - t
        # What the build embeds: each passage in its context (the chunking's choice, e.g. under the title).
        texts = [CHUNKING.embedded(action, c.section, c.text) for action, a in zip(corpus.actions, analyses)
                 for c in a.chunks]
        split: dict[str, float] = {}
        with stage(f"real build N={n}: embed {len(texts)} passages and {n} whole fiches"):
            t = time.perf_counter()
            _, _, embedded = embed(texts, encoder, False, cache)
            split["passages"] = time.perf_counter() - t
            _, _, wholes = embed([whole_text(a) for a in corpus.actions], encoder, False, cache)
            embedded += wholes
            seconds["embed"] = time.perf_counter() - t
            split["whole fiches"] = seconds["embed"] - split["passages"]
    finally:
        cache.close()
    with stage(f"real build N={n}: assemble the index"):
        t = time.perf_counter()
        manifest = build_index(corpus, directory, encoder, nlp, progress=False)
        seconds["index"] = time.perf_counter() - t
    assert manifest.actions_analysed == 0 and manifest.passages_embedded == 0, manifest

    fiches = len(corpus.actions)
    total = sum(seconds.values())
    row = {"n": fiches, "passages": len(texts), "distinct_passages": len(set(texts)), "embedded": embedded,
           "analysed": analysed, "seconds": seconds, "total_s": total, "embed_split_s": split,
           "fiches_per_s": {s: fiches / seconds[s] for s in STAGES},
           "passages_per_s": len(set(texts)) / seconds["embed"] if seconds["embed"] else None}
    # Extrapolated: each stage's rate at N scaled linearly (the index assembly is close to linear at these sizes).
    row["extrapolated_s"] = {str(m): sum(m * seconds[s] / fiches for s in STAGES) for m in EXTRAPOLATED_TO}
    shutil.rmtree(directory, ignore_errors=True)
    return row


def markdown(row: dict, command: str) -> str:
    s, rate = row["seconds"], row["fiches_per_s"]
    lines = [f"Command: `{command}`", "",
             "| stage | seconds (measured) | fiches/s |", "|---|---|---|"]
    lines += [f"| {name} | {s[name]:.1f} | {rate[name]:.1f} |" for name in STAGES]
    lines += [f"| **total** | **{row['total_s']:.1f}** | {row['n'] / row['total_s']:.1f} |", "",
              f"Measured: a real build of {row['n']} fiches ({row['passages']} passages, {row['distinct_passages']} "
              f"distinct, {row['embedded']} texts embedded, passages and whole fiches, "
              f"{row['embedded'] / s['embed']:.1f} texts/s: the distinct passages in "
              f"{row['embed_split_s']['passages']:.0f} s, the whole fiches in {row['embed_split_s']['whole fiches']:.0f} s) "
              f"from an empty build cache. "
              + "Extrapolated from these rates: " + "; ".join(
                  f"{int(m):,} fiches ≈ {v / 60:.0f} min".replace(",", " ")
                  for m, v in row["extrapolated_s"].items()) + "."]
    return "\n".join(lines) + "\n"
