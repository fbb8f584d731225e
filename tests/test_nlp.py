"""French analysis: the forms users type meet the forms the fiches use."""

from __future__ import annotations

import pytest

from semsearch.nlp import FrenchNLP, clean, fold


def terms(nlp: FrenchNLP, text: str) -> list[str]:
    return [t.term for t in nlp.terms(text)]


@pytest.mark.parametrize(("typed", "written"), [
    ("precarite", "précarité"),
    ("parentalite", "Parentalité"),
    ("dechets", "déchets"),
    ("personnes agees", "personnes âgées"),
])
def test_unaccented_and_inflected_forms_meet(nlp: FrenchNLP, typed: str, written: str) -> None:
    assert terms(nlp, typed) == terms(nlp, written)


def test_elisions_and_stop_words_are_not_terms(nlp: FrenchNLP) -> None:
    assert terms(nlp, "l'épicerie de l’école et d'un quartier") == terms(nlp, "épicerie école quartier")


def test_terms_keep_the_surface_form_for_highlighting(nlp: FrenchNLP) -> None:
    assert [t.surface for t in nlp.terms("Les Familles précaires")] == ["familles", "precaires"]


def test_clean_normalises_unicode_quotes_and_spaces() -> None:
    assert clean("L’atelier\u00a0 des   parents\t\n\n e\u0301te\u0301 ") == "L'atelier des parents\nété"


def test_fold_strips_accents_and_case() -> None:
    assert fold("Élèves ŒUVRE Noël") == "eleves oeuvre noel"


def test_sentences_split_on_punctuation_and_lines(nlp: FrenchNLP) -> None:
    text = "Le groupe est parti en septembre. Il a visité le port !\n- un repas au restaurant"
    assert nlp.sentences(text) == ["Le groupe est parti en septembre.", "Il a visité le port !",
                                   "- un repas au restaurant"]


def test_stemming_is_safe_from_several_threads(nlp: FrenchNLP) -> None:
    from concurrent.futures import ThreadPoolExecutor

    words = [f"{w}{i}" for i in range(2000) for w in ("précarités", "alimentaires", "vieillissement")]
    expected = [nlp.stem(w) for w in words]
    fresh = FrenchNLP()  # its cache of stems is empty: every call below stems, eight at a time
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(fresh.stem, words)) == expected


def test_passages_get_the_same_words_from_the_tokenizer_alone(nlp: FrenchNLP, corpus) -> None:
    """A build takes passages' word spans from the tokenizer (no tagger): the same spans and terms."""
    from semsearch.chunking import DEFAULT_CHUNKING, chunk_action

    texts = [c.text for a in corpus.actions[:6]
             for c in chunk_action(a, nlp.sentences, DEFAULT_CHUNKING.words, DEFAULT_CHUNKING.overlap)]
    tagged = [[(t.start, t.end, t.term) for t in terms] for terms in nlp.terms_many(texts)]
    assert len(texts) > 20 and [[(t.start, t.end, t.term) for t in terms] for terms in nlp.words_many(texts)] == tagged
