"""A query keeps its answer however staff phrase it: metamorphic tests over the development queries of the sample.

Each graded query, rephrased as staff write ("comment …", "des projets pour …", "lutter contre …", "nous voulons
mettre en place …", "… dans notre centre social", the other number, no accents, one typo), must keep a fiche
graded 2 among the results of its first page: words that only frame a request, and small slips, never make the
fiche that holds the topic fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from semsearch import evaluation as ev
from semsearch.evaluation.judgments import title_key
from semsearch.search import Searcher
from semsearch.words import fold

EVAL = Path(__file__).resolve().parent.parent / "eval"


def _longest(query: str) -> str:
    return max(query.split(), key=len)


def _other_number(query: str) -> str:
    word = _longest(query)
    return query.replace(word, word[:-1] if word.endswith("s") else word + "s", 1)


def _one_typo(query: str) -> str:
    """The longest word with its middle letter dropped."""
    word = _longest(query)
    return query.replace(word, word[:len(word) // 2] + word[len(word) // 2 + 1:], 1)


REPHRASINGS: dict[str, Callable[[str], str]] = {
    "comment": lambda q: f"comment {q}",
    "des projets pour": lambda q: f"des projets pour {q}",
    "lutter contre": lambda q: f"lutter contre {q}",
    "nous voulons mettre en place": lambda q: f"nous voulons mettre en place {q}",
    "dans notre centre social": lambda q: f"{q} dans notre centre social",
    "singulier ou pluriel": _other_number,
    "sans accents": fold,
    "une faute de frappe": _one_typo,
}
QUERIES = [j for s in ev.discover(EVAL) for j in ev.read_queries(s.queries)]


def test_the_rephrasings_change_the_queries() -> None:
    assert _other_number("familles monoparentales") == "familles monoparentale"
    assert _one_typo("soutien à la parentalité") == "soutien à la parenalité"
    assert len(QUERIES) == 58


@pytest.mark.parametrize("how", REPHRASINGS)
def test_a_rephrased_query_keeps_what_the_user_looks_for_on_its_first_page(searcher: Searcher, ids: dict[str, str],
                                                                          how: str) -> None:
    by_key = {title_key(t): i for t, i in ids.items()}
    lost = []
    for judged in QUERIES:
        wanted = {by_key[title_key(t)] for t, g in judged.grades.items() if g == 2}
        query = REPHRASINGS[how](judged.query)
        page = searcher.search(query, limit=10)
        if not wanted & {h.action.id for h in page.hits}:
            lost.append((query, page.total))
    assert lost == []
