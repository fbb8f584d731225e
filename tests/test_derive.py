"""A build analyses its actions in worker processes when it has several batches: the same analyses as here."""

from __future__ import annotations

from semsearch.analysis import analyse_actions
from semsearch.chunking import DEFAULT_CHUNKING
from semsearch.corpus import Corpus
from semsearch.derive import POOL_FROM_BATCHES, analysed_batches
from semsearch.nlp import FrenchNLP


def test_analyses_made_by_worker_processes_are_the_ones_made_here(corpus: Corpus, nlp: FrenchNLP) -> None:
    size = len(corpus.actions) // POOL_FROM_BATCHES
    batches = [list(corpus.actions[i:i + size]) for i in range(0, len(corpus.actions), size)]
    here = [a.to_json() for batch in batches for a in analyse_actions(batch, nlp, DEFAULT_CHUNKING)]
    pooled = [a.to_json() for batch in analysed_batches(batches, nlp, DEFAULT_CHUNKING, processes=2) for a in batch]
    assert len(pooled) == len(corpus.actions) and pooled == here
