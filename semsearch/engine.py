"""Assembling the stages from Settings: the one place that knows how a searcher and a build are made."""

from __future__ import annotations

from . import jobs
from .config import Settings
from .corpus import Corpus, load_actions
from .encoders import Encoder, load_encoder
from .index import build_index
from .loading import Manifest, load_index
from .nlp import FrenchNLP
from .search import Searcher


def open_searcher(settings: Settings, encoder: Encoder | None = None) -> Searcher:
    """Load the live index with the configured encoder (pass one already loaded to reuse it); the index must
    have been built with the configured spaCy pipeline, which a search itself never loads (words.py)."""
    encoder = encoder or load_encoder(settings.encoder, settings.models_dir, device=settings.device)
    return Searcher(load_index(settings.index_dir, encoder.name, settings.spacy_model), encoder)


def rebuild(settings: Settings, corpus: Corpus | None = None, *, progress: bool = True,
            encoder: Encoder | None = None, nlp: FrenchNLP | None = None, full: bool = False) -> Manifest:
    """Build a new index from the export (parsed here unless given) that replaces the live one only when
    complete; `full` rebuilds everything rather than patching the live build."""
    corpus = corpus or load_actions(settings.source)
    # Every core for a build of its own: a batch of passages keeps an OpenMP team busy (~96 ms of CPU per 40-word
    # passage), unlike one short query. The service rebuilds with its serving encoder, leaving a core to searches.
    encoder = encoder or load_encoder(settings.encoder, settings.models_dir, passage_threads=None,
                                      device=settings.device)
    with jobs.exclusive(settings.index_dir):  # never beside a build the service started
        return build_index(corpus, settings.index_dir, encoder, nlp or FrenchNLP(settings.spacy_model),
                           progress=progress, full=full)
