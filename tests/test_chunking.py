"""Chunks follow sentences and sections, so every passage shown to a user is whole and placed."""

from __future__ import annotations

from semsearch.chunking import SECTIONS, chunk_action, pack
from semsearch.corpus import Corpus
from semsearch.nlp import FrenchNLP


def test_pack_fills_up_to_the_word_budget_and_overlaps_one_sentence() -> None:
    sentences = ["a b c d", "e f g", "h i j k l", "m n", "o"]
    assert pack(sentences, max_words=7, overlap=1) == ["a b c d e f g", "e f g h i j k l", "h i j k l m n", "m n o"]


def test_pack_without_overlap_never_repeats_a_sentence() -> None:
    assert pack(["a b c d", "e f g", "h i j k l", "m n", "o"], max_words=7, overlap=0) == [
        "a b c d e f g", "h i j k l m n", "o"]


def test_a_sentence_longer_than_the_budget_is_kept_whole() -> None:
    long = " ".join(["mot"] * 30)
    assert pack([long, "fin"], max_words=10, overlap=1) == [long, f"{long} fin"][:1] + ["fin"]


def test_chunks_stay_in_their_section_and_know_their_action(corpus: Corpus, nlp: FrenchNLP) -> None:
    action = next(a for a in corpus.actions if a.title == "Séjour Adultes")
    chunks = chunk_action(action, nlp.sentences, max_words=60, overlap=1)
    assert {c.action_id for c in chunks} == {action.id}
    assert [c.section for c in chunks] == sorted((c.section for c in chunks), key=list(SECTIONS).index)
    summary = [c for c in chunks if c.section == "summary"]
    assert len(summary) > 1 and [c.position for c in summary] == list(range(len(summary)))
    assert all(len(c.text.split()) <= 60 + 40 for c in summary)  # budget plus one overlapping sentence
    residents = [c.text for c in chunks if c.section == "result_residents"]
    assert residents == [action.evaluation.residents.replace("\n", " ")]


def test_empty_sections_give_no_chunk(corpus: Corpus, nlp: FrenchNLP) -> None:
    action = next(a for a in corpus.actions if a.title == "Défi Mode")
    assert not action.evaluation.centre
    assert "result_centre" not in {c.section for c in chunk_action(action, nlp.sentences)}
