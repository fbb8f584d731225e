"""Search quality on the development sets, and the metrics the table is made of."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semsearch import evaluation as ev
from semsearch.search import Searcher

EVAL = Path(__file__).resolve().parent.parent / "eval"


def test_ndcg_against_a_hand_worked_ranking() -> None:
    grades = {"a": 2, "b": 1}
    ideal = 3 + 1 / math.log2(3)
    assert ev.ndcg(["a", "b"], grades) == 1.0
    assert ev.ndcg(["x", "b", "a"], grades) == pytest.approx((1 / math.log2(3) + 3 / math.log2(4)) / ideal)
    assert ev.recall(["x", "b", "a"], grades, 2) == 0.5
    assert ev.reciprocal_rank(["x", "b", "a"], grades) == pytest.approx(1 / 3)


def test_query_set_lines_are_parsed_and_errors_name_the_line(tmp_path: Path) -> None:
    judged = ev.read_queries(EVAL / "dev_queries.tsv")
    assert len(judged) == 15 and judged[0].grades == {"HULC (Habitants Unis = Localité Choyée)": 2,
                                                       "world clean up day": 2}
    bad = tmp_path / "bad.tsv"
    bad.write_text("# comment\nquery without tab\n", encoding="utf-8")
    with pytest.raises(ev.ParseError, match="line 2"):
        ev.read_queries(bad)


@pytest.fixture(scope="module")
def table(searcher: Searcher) -> dict:
    return ev.evaluate_search(searcher, ev.read_queries(EVAL / "dev_queries.tsv"))


def test_hybrid_meets_the_quality_bar(table: dict) -> None:
    assert table["hybrid"]["ndcg@10"] >= 0.95 and table["hybrid"]["recall@5"] >= 0.95


@pytest.mark.parametrize("metric", ["ndcg@10", "recall@5", "mrr"])
def test_hybrid_is_at_least_as_good_as_each_single_mode(table: dict, metric: str) -> None:
    assert table["hybrid"][metric] >= max(table["semantic"][metric], table["lexical"][metric])


def test_similar_actions_agree_with_the_editors(searcher: Searcher) -> None:
    assert ev.evaluate_similar(searcher, ev.read_similar(EVAL / "dev_similar.tsv"))["recall@3"] >= 0.85
