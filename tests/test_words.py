"""Queries are cut into words as spaCy cut the fiches, without loading spaCy (semsearch/words.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semsearch.corpus import Corpus
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher
from semsearch.words import Words

ROOT = Path(__file__).resolve().parent.parent
# Words spaCy's French rules decide on: elisions, prefixes kept whole, a compound cut, a URL, a date, capitals.
TRICKY = ("L'atelier anti-gaspillage du centre-ville : les Familles précaires d'Angers, contre-allée.\n"
          "Inscriptions sur www.caf.fr/partenaires avant le 12/03/2024 ! Un 2e repas aujourd'hui ?\n- jardin partagé "
          "avec la CAF ; la MSA, le CENTRE SOCIAL ITINERANT et les grands-parents (ici.Indiquez km/h).")


def spacy_words(nlp: FrenchNLP, text: str) -> list[tuple[str, str, int, int]]:
    return [(t.surface, t.term, t.start, t.end) for t in nlp.terms(text)]


def cut_words(cut: Words, text: str) -> list[tuple[str, str, int, int]]:
    return [(t.surface, t.term, t.start, t.end) for t in cut(text)]


def test_a_text_whose_words_the_fiches_use_is_cut_exactly_as_spacy_cuts_it(nlp: FrenchNLP) -> None:
    expected = spacy_words(nlp, TRICKY)
    cut = Words({surface for surface, *_ in expected}, nlp.stop_words)
    assert cut_words(cut, TRICKY) == expected
    assert ("anti-gaspillage", "anti-gaspillag", 10, 25) in expected  # kept whole, as the fiches wrote it
    assert {s: t for s, t, *_ in expected}["caf"] == "CAF"


def test_the_fields_of_the_sample_are_cut_as_spacy_cut_them(corpus: Corpus, nlp: FrenchNLP,
                                                           searcher: Searcher) -> None:
    """With the sample index's own lexicon. The few texts that differ hold symbols inside a word ("10€/familles",
    "VAL’ MAUGES"), which nobody types in a search."""
    texts = [v if isinstance(v, str) else " ; ".join(v) for a in corpus.actions
             for v in (a.title, a.summary, a.public, a.structure, a.keywords, a.partners) if v]
    same = [cut_words(searcher.analyser.cut, t) == spacy_words(nlp, t) for t in texts]
    assert len(texts) > 100 and sum(same) / len(same) >= 0.98, [t for t, s in zip(texts, same) if not s]


@pytest.mark.parametrize(("query", "surfaces"), [
    ("l'aide aux devoirs d'ados", ["aide", "devoirs", "ados"]),
    ("jardin-partagé / potager", ["jardin", "partage", "potager"]),  # unknown as one word: cut at the hyphen
    ("Ateliers pour les Seniors, en 2024 !", ["ateliers", "seniors"]),  # no stop word, number or punctuation
])
def test_a_query_keeps_its_content_words(searcher: Searcher, query: str, surfaces: list[str]) -> None:
    assert [w.surface for w in searcher.analyser.cut(query)] == surfaces


def test_capitals_make_an_acronym_only_alone(searcher: Searcher) -> None:
    terms = {w.surface: w.term for w in searcher.analyser.cut("CAF ; MSA, CENTRE SOCIAL ITINERANT, cafés")}
    assert terms["caf"] == "CAF" and terms["msa"] == "MSA" and terms["cafes"] != "CAF"
    assert not terms["itinerant"].isupper()  # a run of capitals is a shouted title


SEARCH = textwrap.dedent("""
    import sys
    from pathlib import Path
    from semsearch.config import Settings
    from semsearch.engine import open_searcher
    results = open_searcher(Settings.from_env({}, index_dir=Path(sys.argv[1]))).search("precarite alimentaire en rural")
    assert results.hits, "nothing found"
    print(sorted(name for name in ("spacy", "thinc", "torch") if name in sys.modules))
""")


def test_a_search_never_loads_spacy(sample_index: Path) -> None:
    """spaCy and what it drags in cost ~4 s and ~250 MB per process; only builds need them."""
    run = subprocess.run([sys.executable, "-c", SEARCH, str(sample_index)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
