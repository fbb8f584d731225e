"""The engine's BM25 against an independent implementation (rank_bm25) on the sample corpus.

rank_bm25's BM25Okapi computes the term-frequency part, the length normalisation, k1 and b on its own; only its
idf is replaced, by Lucene's ln(1 + (N - n + 0.5) / (n + 0.5)) that lexical.py uses (rank_bm25 uses Robertson's
ln((N - n + 0.5) / (n + 0.5)), floored at epsilon x the mean idf, which no variant of it turns into Lucene's).
Both read the same terms per fiche: lexical.COLUMNS weighs every column 1, so a fiche is its columns' terms one
after another. Each query word is given as one index term, so that the engine's per-word merging of spellings
(query.py) does not enter the comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from semsearch import lexical
from semsearch.analysis import COLUMNS, analyse_actions
from semsearch.chunking import DEFAULT_CHUNKING
from semsearch.corpus import Corpus
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher

QUERIES = ["précarité alimentaire en milieu rural", "atelier parents enfants", "jeunes", "lien social seniors",
           "jardin partagé et déchets", "familles familles vacances", "mot-que-personne-n-a-ecrit atelier"]


class LuceneBM25(BM25Okapi):
    """rank_bm25's Okapi BM25 with Lucene's idf (see the module docstring)."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, holders in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - holders + 0.5) / (holders + 0.5))


@pytest.fixture(scope="module")
def documents(corpus: Corpus, nlp: FrenchNLP) -> list[dict[str, list[str]]]:
    return [a.column_terms() for a in analyse_actions(corpus.actions, nlp, DEFAULT_CHUNKING)]


def test_flat_column_weights_make_a_fiche_one_bag_of_terms() -> None:
    assert set(lexical.COLUMNS) == set(COLUMNS) and set(lexical.COLUMNS.values()) == {1.0}


def test_the_recounted_postings_are_the_sample_index(documents: list[dict[str, list[str]]],
                                                     searcher: Searcher) -> None:
    """What this test scores is what the sample index holds: same terms, same fiche lengths."""
    mine = lexical.Postings.from_counts(enumerate(documents, start=1), len(documents) + 1)
    held = searcher.lexical.postings
    assert mine.terms.tolist() == held.terms.tolist()
    assert sorted(mine.lengths[mine.lengths > 0].tolist()) == sorted(held.lengths[held.lengths > 0].tolist())
    assert np.array_equal(np.diff(mine.offsets), np.diff(held.offsets))  # holders per term


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_scores_match_rank_bm25(documents: list[dict[str, list[str]]], searcher: Searcher, query: str) -> None:
    engine = lexical.LexicalIndex(lexical.Postings.from_counts(enumerate(documents, start=1), len(documents) + 1,
                                                               weights=lexical.COLUMNS))
    bags = [[t for c in COLUMNS for t in d.get(c, [])] for d in documents]
    reference = LuceneBM25(bags, k1=lexical.K1, b=lexical.B)
    terms = [w.term for w in searcher.analyser.cut(query)]
    assert terms

    found = engine.match([[t] for t in terms])
    raw = reference.get_scores(terms)
    # The engine divides by the most the query could score, every word saturated, a word no fiche holds included.
    holders = {t: sum(t in d for d in reference.doc_freqs) for t in terms}
    best = sum(math.log(1 + (len(bags) - holders[t] + 0.5) / (holders[t] + 0.5)) for t in terms) * (lexical.K1 + 1)
    expected = raw / best

    rowids = np.flatnonzero(expected) + 1
    assert found.ids.tolist() == rowids.tolist()
    assert np.allclose(found.scores, expected[rowids - 1], rtol=0, atol=1e-6)
    ranking = sorted(rowids.tolist(), key=lambda r: (-expected[r - 1], r))
    ranked = [int(r) for _, r in sorted(zip((-found.scores).tolist(), found.ids.tolist()))]
    assert ranked == ranking
    assert len(rowids) > 0
