"""Search and similar actions over the real sample index, as a centre's staff would use them."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from semsearch.chunking import overview, section_texts
from semsearch.errors import InvalidQuery, NotFound
from semsearch.loading import load_index
from semsearch.ranking import _top
from semsearch.search import Searcher


def titles(results) -> list[str]:
    return [h.action.title for h in results.hits]


def test_food_insecurity_query_finds_the_solidarity_grocery_first(searcher: Searcher) -> None:
    assert titles(searcher.search("precarite alimentaire en rural"))[0] == "Epicerie solidaire ephémère"


@pytest.mark.parametrize(("typed", "correct"), [
    ("precarite alimentaire", "précarité alimentaire"),
    ("parentalite", "parentalité"),
    ("vieillissement", "Viellissement"),  # the corpus's own typo
    ("inclusion numerique", "inclusion numérique"),
])
def test_unaccented_or_misspelt_queries_find_the_same_top_results(searcher: Searcher, typed: str,
                                                                  correct: str) -> None:
    # The same three, not the same order: "vieillissement" ties two actions' fused scores (0.03252) that the
    # corpus's spelling separates by their semantic ranks, two cosines 0.001 apart.
    assert set(titles(searcher.search(typed, limit=3))) == set(titles(searcher.search(correct, limit=3)))


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "lexical"])
def test_every_mode_answers_with_passages_and_reasons(searcher: Searcher, mode: str) -> None:
    results = searcher.search("séjour de vacances pour adultes", mode=mode, limit=3)
    assert titles(results)[0] == "Séjour Adultes"
    for hit in results.hits:
        assert hit.passage is not None and hit.passage.text
        e = hit.explanation
        assert e.lexical_rank is not None or e.semantic_rank is not None
        assert mode != "lexical" or (e.lexical_rank and e.matched_terms and e.semantic_rank is None)
        assert mode != "semantic" or (e.semantic_rank and e.lexical_rank is None)


def test_each_result_shows_a_passage_of_its_own_fiche_and_its_neighbours_too(searcher: Searcher) -> None:
    # A page's records and passages are read together: each must stay with its own fiche.
    results = searcher.search("atelier parents enfants")
    assert len(results.hits) >= 3 and results.neighbours
    for hit in results.hits + results.neighbours:
        own = " ".join([overview(hit.action)] + [text for _, text in section_texts(hit.action)])
        assert hit.passage is not None and set(hit.passage.text.split()) <= set(own.replace("’", "'").split())


def test_lexical_matches_are_highlighted_in_the_passage(searcher: Searcher) -> None:
    hit = searcher.search("précarité menstruelle", mode="lexical").hits[0]
    assert hit.action.title == "Armoire solidaire de lutte contre la précarité menstruelle"
    marked = [hit.passage.text[a:b].lower() for a, b in hit.passage.highlights]
    assert {"précarité", "menstruelle"} & set(marked)
    assert "<mark>" in hit.passage.marked()


def test_values_of_one_filter_are_ored_and_filters_are_anded(searcher: Searcher) -> None:
    query = "atelier"
    seniors = searcher.search(query, {"public": ["Seniors"]}, limit=100)
    adults = searcher.search(query, {"public": ["Adultes"]}, limit=100)
    either = searcher.search(query, {"public": ["Seniors", "Adultes"]}, limit=100)
    assert set(titles(either)) == set(titles(seniors)) | set(titles(adults))
    both = searcher.search(query, {"public": ["Seniors", "Adultes"], "status": ["Terminée"]}, limit=100)
    assert all(h.action.status == "Terminée" and h.action.public in {"Seniors", "Adultes"} for h in both.hits)
    assert set(titles(both)) < set(titles(either)) or not both.hits


def test_facet_counts_match_the_results_a_tick_would_give(searcher: Searcher) -> None:
    results = searcher.search("lien social", limit=100)
    for facet in ("public", "keyword", "dimension"):
        for value in results.facets[facet]:
            ticked = searcher.search("lien social", {facet: [value.value]}, limit=100)
            assert ticked.total == value.count == len(ticked.hits), (facet, value)


def test_facet_limit_keeps_the_commonest_values_and_every_selected_one(searcher: Searcher) -> None:
    full = searcher.search("lien social", limit=100, facet_limit=None).facets["keyword"]
    assert len(full) > 3 and [v.count for v in full] == sorted((v.count for v in full), reverse=True)
    capped = searcher.search("lien social", limit=100, facet_limit=3).facets["keyword"]
    assert [(v.value, v.count) for v in capped] == [(v.value, v.count) for v in full[:3]]
    rare = full[-1].value
    ticked = searcher.search("lien social", {"keyword": [rare]}, limit=100, facet_limit=3).facets["keyword"]
    assert len(ticked) == 4 and ticked[-1].value == rare and ticked[-1].selected


def test_paging_and_filtering_one_query_encodes_it_once(sample_index, encoder) -> None:
    calls: list[list[str]] = []

    class Counting:
        name, dimension = encoder.name, encoder.dimension

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            calls.append(texts)
            return encoder.encode_queries(texts)

    counted = Searcher(load_index(sample_index), Counting())
    first = counted.search("atelier cuisine", limit=3)
    pages = [counted.search("atelier  cuisine", limit=3, offset=3),
             counted.search("atelier cuisine", {"public": ["Familles"]}, limit=3)]
    assert len(calls) == 1 and pages[0].total == first.total
    assert titles(counted.search("atelier cuisine", limit=3)) == titles(first)
    counted.search("atelier couture", limit=3)
    assert len(calls) == 2


def test_total_is_the_same_on_every_page(searcher: Searcher) -> None:
    pages = [searcher.search("enfants et familles", limit=3, offset=o) for o in (0, 3, 6)]
    assert len({p.total for p in pages}) == 1
    seen = [t for p in pages for t in titles(p)]
    assert len(seen) == len(set(seen)) == min(9, pages[0].total)


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"query": "   "}, "q"),
    ({"query": "x" * 501}, "q"),
    ({"query": "jeunes", "limit": 0}, "limit"),
    ({"query": "jeunes", "limit": 101}, "limit"),
    ({"query": "jeunes", "offset": -1}, "offset"),
    ({"query": "jeunes", "mode": "fuzzy"}, "mode"),
    ({"query": "jeunes", "facet_limit": 0}, "facet_limit"),
    ({"query": "jeunes", "filters": {"colour": ["bleu"]}}, "colour"),
])
def test_bad_parameters_are_named(searcher: Searcher, kwargs: dict, parameter: str) -> None:
    with pytest.raises(InvalidQuery) as error:
        searcher.search(**kwargs)
    assert error.value.parameter == parameter


@pytest.mark.parametrize(("query", "plain"), [('"parents"', "parents"), ("parents*", "parents"),
                                              ("NEAR(parents enfants)", "near(parents enfants"),
                                              ("parents OR enfants", "parents or enfants"),
                                              ("'; DROP TABLE actions; --", "drop table actions")])
def test_query_syntax_is_plain_text(searcher: Searcher, query: str, plain: str) -> None:
    """Quotes, operators and SQL in a query are words or punctuation like any other: the same fiches as the
    same words typed plainly, and the index still whole."""
    def found(q: str) -> list[str]:
        return [h.action.id for h in searcher.search(q, mode="lexical", limit=100).hits]

    assert found(query) == found(plain)
    assert found("parents")  # the words do find fiches: the comparison is not between two empty lists
    assert searcher.listing(limit=1).total == 24


def test_similar_never_returns_the_action_itself(searcher: Searcher, ids: dict[str, str]) -> None:
    for title, action_id in ids.items():
        similar = titles(searcher.similar(action_id, limit=10))
        assert title not in similar and len(similar) == 10


def test_similar_pages_follow_each_other(searcher: Searcher, ids: dict[str, str]) -> None:
    """Only the page asked for is sorted: pages must still continue one another, ranks and cosines included."""
    whole = searcher.similar(ids["world clean up day"], limit=20)
    pages = [searcher.similar(ids["world clean up day"], limit=4, offset=o) for o in range(0, 20, 4)]
    hits = [h for page in pages for h in page.hits]
    assert [(h.action.id, h.score) for h in hits] == [(h.action.id, h.score) for h in whole.hits]
    assert all(a.score >= b.score for a, b in pairwise(hits))
    assert {page.total for page in pages} == {whole.total} and len(whole.hits) == min(20, whole.total)


def test_similar_explains_in_plain_french(searcher: Searcher, ids: dict[str, str]) -> None:
    hits = searcher.similar(ids["world clean up day"], limit=3).hits
    assert hits[0].passage is not None
    assert any(h.explanation.shared_keywords for h in hits)
    for hit in hits:
        assert hit.explanation.reasons
        e = hit.explanation
        shared = [r for r in e.reasons if r.startswith("Mots-clés communs : ")]
        assert shared == ([f"Mots-clés communs : {', '.join(e.shared_keywords)}"] if e.shared_keywords else [])
        words = [r for r in e.reasons if r.startswith("Mots en commun : ")]
        assert words == ([f"Mots en commun : {', '.join(e.shared_words)}"] if e.shared_words else [])
        assert any(r.startswith("Passage proche : « ") for r in hit.explanation.reasons)
    assert any(h.explanation.shared_words for h in hits)


@pytest.mark.parametrize(("typed", "spelled"), [("epiceri solidaire", "épicerie solidaire"),
                                                ("atelier cuisinne", "atelier cuisine")])
def test_a_mistyped_word_taken_for_a_fiche_word_is_said(searcher: Searcher, typed: str, spelled: str) -> None:
    results = searcher.search(typed)
    assert results.total and results.corrected == spelled
    assert searcher.search(spelled).corrected is None  # spelled as the fiches do: nothing to say
    assert searcher.search("epicerie solidaire").corrected is None  # accents alone are not a correction


def test_similar_keeps_the_federations_filters(searcher: Searcher, ids: dict[str, str]) -> None:
    source = ids["Séjour Adultes"]
    for hit in searcher.similar(source, {"status": ["En cours"]}, limit=10).hits:
        assert hit.action.status == "En cours"


def test_unknown_id_is_not_found(searcher: Searcher) -> None:
    with pytest.raises(NotFound, match="no-such-action"):
        searcher.similar("no-such-action")


def test_the_top_of_mostly_zero_scores_is_the_full_sorts() -> None:
    """search() picks a page among fused scores that are mostly 0 (matches past the ranked head), selecting
    among the positive ones only when there are enough: the page must be the one a full sort gives, deep
    pages that reach the zeros (in export order) included."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        ids = rng.permutation(1000)[:n]
        scores = np.where(rng.random(n) < 0.8, 0.0, rng.integers(1, 20, n) / 7)  # zeros and ties
        position = rng.permutation(1000)
        k = int(rng.integers(1, 120))
        full = ids[np.lexsort((position[ids], -scores))][:k]
        assert np.array_equal(_top(ids, scores, position, k), full)
