"""The near-duplicate report for the federation (GET /duplicates, `semsearch duplicates`): the sample's exact
duplicate with its export lines, an edited copy found with what changed, fiches on one theme left alone."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from semsearch.cli import main
from semsearch.corpus import Corpus, make_ids
from semsearch.duplicates import DEFAULT_THRESHOLD, EXACT, differing_fields, summary_diff
from semsearch.encoders import Encoder
from semsearch.errors import InvalidQuery
from semsearch.evaluation.duplicates import KINDS, edit, labelled_corpus
from semsearch.index import build_index
from semsearch.loading import Manifest, load_index
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher

LETTERS = "Les p'tites lettres solidaires"  # twice in the sample export, lines 992 and 1059
FALLS, COVID = "SENIORS_Prévention des chutes", "Covid et après"  # two fiches for seniors, by two centres
PARTNERS = "Avec qui cette action a-t-elle été menée ?"


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus, encoder: Encoder, nlp: FrenchNLP) -> dict:
    """Three sample fiches and a re-submission of the first (a year later, a sentence and a partner more)."""
    original = corpus.actions[0]
    copy = edit(original, "resubmit", random.Random(1))
    actions = [replace(a) for a in corpus.actions[:3]] + [copy]
    for action, action_id in zip(actions, make_ids(actions), strict=True):
        action.id = action_id
    index_dir = tmp_path_factory.mktemp("copied")
    build_index(Corpus(actions, corpus.source, "copied"), index_dir, encoder, nlp, progress=False)
    return {"index": index_dir, "original": actions[0], "copy": actions[3]}


# -- what the federation sees -----------------------------------------------------------------------
def test_the_sample_exact_duplicate_is_listed_with_its_export_lines(searcher: Searcher, ids: dict[str, str]) -> None:
    report = searcher.duplicates()
    first = report.pairs[0]
    assert first.kind == EXACT and first.score == 1.0 and report.source == "actions-maine-et-loire.txt"
    assert first.first.id == first.second.id == ids[LETTERS] and first.first.title == LETTERS
    assert (first.first.line, first.second.line) == (992, 1059)
    assert searcher.index.manifest.duplicate_lines == {ids[LETTERS]: [992, 1059]}


def test_fiches_on_one_theme_by_two_centres_are_not_duplicates(searcher: Searcher, ids: dict[str, str]) -> None:
    report = searcher.duplicates()
    assert report.total == 1 and [p.kind for p in report.pairs] == [EXACT]  # only the exact duplicate
    everything = searcher.duplicates(threshold=0.0, limit=100)
    near = [p for p in everything.pairs if p.kind != EXACT]
    assert near and max(p.score for p in near) < DEFAULT_THRESHOLD
    seniors = [p for p in near if {p.first.id, p.second.id} == {ids[FALLS], ids[COVID]}]
    assert all(p.score < DEFAULT_THRESHOLD for p in seniors)
    assert [p.score for p in near] == sorted((p.score for p in near), reverse=True)


def test_an_edited_copy_is_found_with_the_fields_that_differ_and_a_diff(copied: dict, encoder: Encoder) -> None:
    searcher = Searcher(load_index(copied["index"], encoder.name), encoder)
    report = searcher.duplicates()
    assert report.total == 1
    pair = report.pairs[0]
    original, copy = copied["original"], copied["copy"]
    assert pair.kind == "proche" and {pair.first.id, pair.second.id} == {original.id, copy.id}
    assert DEFAULT_THRESHOLD <= pair.score < 1 and pair.first.line is None
    assert "Résumé" in pair.fields and PARTNERS in pair.fields and "Titre" not in pair.fields
    added = copy.summary.split()[-4:]
    assert any(line.startswith("+ ") and " ".join(added) in line for line in pair.diff), pair.diff
    assert 1 <= len(pair.diff) <= 6


# -- the pieces -------------------------------------------------------------------------------------
def test_summary_diff_says_which_words_went_and_came() -> None:
    diff = summary_diff("Un séjour en 2021 avec 11 adultes.", "Un séjour en 2022 avec 11 adultes et 2 enfants.")
    assert diff == ["- 2021", "+ 2022", "- adultes.", "+ adultes et 2 enfants."]
    long = summary_diff(" ".join(f"a{i} b" for i in range(20)), " ".join(f"c{i} b" for i in range(20)))
    assert len(long) == 6 and long[-1].startswith("… et ")


def test_differing_fields_are_named_as_the_export_names_them(corpus: Corpus) -> None:
    a = corpus.actions[0]
    b = replace(a, partners=[*a.partners, "Mairie"], summary=a.summary + "  ", department="Sarthe")
    assert differing_fields(a, b) == ["Département", PARTNERS]  # in the order of the fiche's fields
    assert differing_fields(a, replace(a, id="other")) == []


def test_every_kind_of_edit_changes_the_fiche(corpus: Corpus) -> None:
    labelled = labelled_corpus(corpus)
    n = len(corpus.actions)
    assert len(labelled.corpus.actions) == 2 * n and len(labelled.positives) == n
    assert set(labelled.kinds.values()) == set(KINDS)
    for original, copy in zip(labelled.corpus.actions[:n], labelled.corpus.actions[n:], strict=True):
        assert differing_fields(original, copy) and original.id != copy.id


def test_older_manifests_without_duplicate_lines_still_load(sample_index: Path) -> None:
    path = (sample_index / "current").resolve()
    data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    data.pop("duplicate_lines")
    copy = Manifest(**data)
    assert copy.duplicate_lines == {} and copy.duplicates == 1


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_a_threshold_outside_0_1_is_refused(searcher: Searcher, threshold: float) -> None:
    with pytest.raises(InvalidQuery) as caught:
        searcher.duplicates(threshold)
    assert caught.value.parameter == "threshold"


# -- HTTP and command line --------------------------------------------------------------------------
def test_http_lists_the_pairs_with_paging(client: TestClient, ids: dict[str, str]) -> None:
    r = client.get("/duplicates")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold"] == DEFAULT_THRESHOLD and body["total"] == 1
    pair = body["pairs"][0]
    assert pair["kind"] == "exact" and pair["first"]["id"] == ids[LETTERS]
    assert (pair["first"]["line"], pair["second"]["line"]) == (992, 1059)
    low = client.get("/duplicates", params={"threshold": 0, "limit": 2, "offset": 1}).json()
    assert low["total"] > 2 and len(low["pairs"]) == 2 and all(p["kind"] == "proche" for p in low["pairs"])


@pytest.mark.parametrize(("params", "parameter"), [
    ({"threshold": 2}, "threshold"), ({"threshold": "abc"}, "threshold"), ({"threshold": "nan"}, "threshold"),
    ({"limit": 0}, "limit"), ({"offset": -1}, "offset"), ({"seuil": 1}, "seuil"),
])
def test_bad_parameters_are_422_naming_them(client: TestClient, params: dict, parameter: str) -> None:
    r = client.get("/duplicates", params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and error["detail"]["parameter"] == parameter
    assert error["message"] == f"Paramètre « {parameter} » invalide."


@pytest.fixture
def cli_index(monkeypatch: pytest.MonkeyPatch, sample_index: Path) -> None:
    monkeypatch.setenv("SEMSEARCH_INDEX_DIR", str(sample_index))


@pytest.mark.usefixtures("cli_index")
def test_cli_json_is_what_http_answers(capsys: pytest.CaptureFixture[str], client: TestClient) -> None:
    assert main(["duplicates", "--threshold", "0.5", "--limit", "5", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == client.get("/duplicates", params={"threshold": 0.5, "limit": 5}).json()


@pytest.mark.usefixtures("cli_index")
def test_cli_prints_the_exact_duplicate_with_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["duplicates"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1 paire(s) de fiches semblables à {DEFAULT_THRESHOLD:.2f} ou plus")
    assert f"1. doublon exact : « {LETTERS} », lignes 992 et 1059 de actions-maine-et-loire.txt" in out


@pytest.mark.parametrize("value", ["2", "abc", "nan"])
def test_cli_bad_threshold_is_one_french_line_and_exit_2(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["duplicates", "--threshold", value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"semsearch : erreur : argument --threshold : nombre entre 0 et 1 attendu, pas '{value}'"), err

