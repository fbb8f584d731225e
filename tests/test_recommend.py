"""Recommendations from several fiches (POST /recommend, `semsearch recommend`), as a centre would use them: the
fiches it liked, some it does not want more of, and why each proposal is there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from semsearch.cli import main
from semsearch.errors import InvalidQuery, NotFound
from semsearch.search import Searcher
from semsearch.similar import MAX_EXAMPLES, UNLIKE_WEIGHT

FALLS, COVID = "SENIORS_Prévention des chutes", "Covid et après"  # two fiches for seniors
TALK, SOLO = "Groupe de parole parentalité", "Ateliers parents solo"  # two on parenting
CLEAN_UP = "world clean up day"
DIGITAL = "Tiers lieu numérique"


def recommend(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/recommend", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def similarity(searcher: Searcher, action_id: str) -> dict[str, float]:
    """Every other fiche's similarity to one (what /similar ranks by)."""
    return {h.action.id: h.score for h in searcher.similar(action_id, limit=100).hits}


# -- what a user notices ----------------------------------------------------------------------------
@pytest.mark.parametrize(("liked", "theme", "first"), [
    ((FALLS, COVID), "Viellissement", "Animateur numérique"),
    ((TALK, SOLO), "Parentalité", "Parenthèse"),
])
def test_liking_two_fiches_on_one_theme_proposes_that_theme_first_never_the_liked_ones(
        client: TestClient, ids: dict[str, str], liked: tuple[str, str], theme: str, first: str) -> None:
    body = recommend(client, like=[ids[t] for t in liked], limit=100)
    results = body["results"]
    assert body["mode"] == "recommend" and body["query"] == " ; ".join(liked)
    assert results[0]["title"] == first and theme in results[0]["keywords"]
    assert not {ids[t] for t in liked} & {r["id"] for r in results}
    assert body["total"] == len(results) == len(ids) - 2
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_an_unliked_fiche_moves_the_fiches_like_it_down(searcher: Searcher, ids: dict[str, str]) -> None:
    like, unlike = [ids[FALLS], ids[COVID]], ids[DIGITAL]
    before = searcher.recommend(like, limit=100).hits
    after = searcher.recommend(like, [unlike], limit=100).hits
    assert unlike in {h.action.id for h in before} and unlike not in {h.action.id for h in after}
    rank_before = {h.action.id: i for i, h in enumerate(before)}
    rank_after = {h.action.id: i for i, h in enumerate(after)}
    score_before, score_after = {h.action.id: h.score for h in before}, {h.action.id: h.score for h in after}
    near = similarity(searcher, unlike)
    closest = max((i for i in score_after), key=near.__getitem__)  # the fiche most like the unliked one
    assert rank_after[closest] > rank_before[closest]
    for action_id, score in score_after.items():
        # Only closeness above the average counts against a fiche, by UNLIKE_WEIGHT; the others keep their score.
        assert score == pytest.approx(score_before[action_id] - UNLIKE_WEIGHT * max(near[action_id], 0.0))


def test_each_result_names_the_liked_fiche_it_is_closest_to_and_why(searcher: Searcher,
                                                                   ids: dict[str, str]) -> None:
    liked = [FALLS, TALK, CLEAN_UP]  # three themes
    per_like = {t: similarity(searcher, ids[t]) for t in liked}
    results = searcher.recommend([ids[t] for t in liked], limit=100)
    assert results.total == len(results.hits) == len(ids) - 3
    for hit in results.hits:
        closest = max(liked, key=lambda t: per_like[t][hit.action.id])
        e = hit.explanation
        assert e.closest_liked is not None and (e.closest_liked.id, e.closest_liked.title) == (ids[closest], closest)
        assert hit.score == pytest.approx(per_like[closest][hit.action.id])  # the best of the likes
        assert e.reasons[0] == f"Proche de « {closest} »"
        assert any(r.startswith("Passage proche : « ") for r in e.reasons)
        assert set(e.shared_keywords) <= set(hit.action.keywords) & set(searcher.get(ids[closest]).keywords)
    assert len({h.explanation.closest_liked.id for h in results.hits[:6]}) > 1  # not one theme only


def test_recommendations_keep_filters_and_pages(client: TestClient, ids: dict[str, str]) -> None:
    like = [ids[TALK], ids[SOLO]]
    whole = recommend(client, like=like, limit=12)
    pages = [recommend(client, like=like, limit=4, offset=o) for o in (0, 4, 8)]
    assert [r["id"] for p in pages for r in p["results"]] == [r["id"] for r in whole["results"]]
    ongoing = recommend(client, like=like, status=["En cours"], limit=100)
    assert ongoing["results"] and {r["status"] for r in ongoing["results"]} == {"En cours"}
    assert ongoing["total"] == len(ongoing["results"])
    closest = whole["results"][0]["explanation"]["closest_liked"]
    assert closest["id"] in like and set(closest) == {"id", "title"}


# -- errors -----------------------------------------------------------------------------------------
def _real(ids: dict[str, str], n: int, skip: int = 0) -> list[str]:
    return list(ids.values())[skip:skip + n]


@pytest.mark.parametrize(("body", "status", "parameter"), [
    ({"unlike": ["{FALLS}"]}, 422, "like"),  # only unliked fiches
    ({"like": [], "unlike": ["{FALLS}"]}, 422, "like"),
    ({"like": ["{FALLS}", "{COVID}"], "unlike": ["{COVID}"]}, 422, "unlike"),  # the same fiche in both
    ({"like": "{FALLS}"}, 422, "like"),  # not a list
    ({"like": ["{FALLS}"], "limit": 0}, 422, "limit"),
    ({"like": ["{FALLS}"], "keywords": ["Santé"]}, 422, "keywords"),
])
def test_bad_recommendation_requests_are_422_naming_the_parameter(client: TestClient, ids: dict[str, str],
                                                                  body: dict[str, Any], status: int,
                                                                  parameter: str) -> None:
    names = {"FALLS": ids[FALLS], "COVID": ids[COVID]}
    body = json.loads(json.dumps(body).replace("{FALLS}", names["FALLS"]).replace("{COVID}", names["COVID"]))
    r = client.post("/recommend", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and error["detail"]["parameter"] == parameter
    assert parameter in error["message"]


def test_too_many_fiches_are_refused(client: TestClient, ids: dict[str, str]) -> None:
    assert len(ids) > MAX_EXAMPLES
    together = client.post("/recommend", json={"like": _real(ids, 15), "unlike": _real(ids, MAX_EXAMPLES - 14, 15)})
    assert together.status_code == 422 and together.json()["error"]["detail"]["parameter"] == "unlike"
    assert f"{MAX_EXAMPLES} fiches au plus" in together.json()["error"]["detail"]["reason"]
    liked = client.post("/recommend", json={"like": _real(ids, MAX_EXAMPLES + 1)})
    assert liked.status_code == 422 and liked.json()["error"]["detail"]["parameter"] == "like"
    assert client.post("/recommend", json={"like": _real(ids, 10), "unlike": _real(ids, 10, 10)}).status_code == 200


@pytest.mark.parametrize("where", ["like", "unlike"])
def test_an_unknown_id_is_a_404_naming_it(client: TestClient, ids: dict[str, str], where: str) -> None:
    body = {"like": [ids[FALLS], "pas-une-fiche-000000"]} if where == "like" else \
        {"like": [ids[FALLS]], "unlike": ["pas-une-fiche-000000"]}
    r = client.post("/recommend", json=body)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "not_found" and error["detail"] == {"id": "pas-une-fiche-000000"}
    assert "« pas-une-fiche-000000 »" in error["message"]


def test_the_library_says_the_same(searcher: Searcher, ids: dict[str, str]) -> None:
    with pytest.raises(InvalidQuery) as empty:
        searcher.recommend([], [ids[FALLS]])
    assert empty.value.parameter == "like" and "fiche aimée" in str(empty.value)
    with pytest.raises(InvalidQuery, match="aimée et écartée") as both:
        searcher.recommend([ids[FALLS]], [ids[FALLS]])
    assert both.value.parameter == "unlike"
    with pytest.raises(InvalidQuery, match=f"{MAX_EXAMPLES} fiches au plus"):
        searcher.recommend([f"x{i}" for i in range(MAX_EXAMPLES + 1)])
    with pytest.raises(NotFound, match="no-such-action"):
        searcher.recommend([ids[FALLS], "no-such-action"])
    # The same fiche liked twice counts once.
    once = searcher.recommend([ids[FALLS]], limit=5)
    twice = searcher.recommend([ids[FALLS], ids[FALLS]], limit=5)
    assert [(h.action.id, h.score) for h in once.hits] == [(h.action.id, h.score) for h in twice.hits]


def test_openapi_documents_recommend_with_an_example(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/recommend"]["post"]
    assert {"200", "404", "422"} <= set(operation["responses"])
    assert "seniors-prevention-des-chutes-269be8" in json.dumps(client.get("/openapi.json").json())


# -- command line -----------------------------------------------------------------------------------
@pytest.fixture
def cli_index(monkeypatch: pytest.MonkeyPatch, sample_index: Path) -> None:
    monkeypatch.setenv("SEMSEARCH_INDEX_DIR", str(sample_index))


@pytest.mark.usefixtures("cli_index")
def test_cli_json_is_what_http_answers(capsys: pytest.CaptureFixture[str], client: TestClient,
                                       ids: dict[str, str]) -> None:
    argv = ["recommend", "--like", ids[FALLS], "--like", ids[COVID], "--unlike", ids[DIGITAL], "--limit", "3",
            "--status", "En cours"]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    answer = recommend(client, like=[ids[FALLS], ids[COVID]], unlike=[ids[DIGITAL]], limit=3, status=["En cours"])
    assert printed == answer and printed["results"]


@pytest.mark.usefixtures("cli_index")
def test_cli_prints_the_proposals_with_their_reasons(capsys: pytest.CaptureFixture[str],
                                                     ids: dict[str, str]) -> None:
    assert main(["recommend", "--like", ids[FALLS], "--like", ids[COVID], "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(ids) - 2} projet(s) qui pourraient vous inspirer, d'après « {FALLS} ; {COVID} »")
    assert "\n1. Animateur numérique\n" in out and f"· Proche de « {FALLS} »" in out
    assert "cosinus" not in out and f"id : {ids['Animateur numérique']}" in out


def test_cli_without_like_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "--unlike", "x"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("semsearch : erreur : argument(s) obligatoire(s) manquant(s) : --like ; voir semsearch "
                          "recommend --help"), err


@pytest.mark.usefixtures("cli_index")
@pytest.mark.parametrize(("argv", "message"), [
    (["recommend", "--like", "no-such-id"], "aucune action n'a l'identifiant « no-such-id »"),
    (["recommend", "--like", "a", "--unlike", "a"], "paramètre « unlike » : « a » est aussi dans like"),
])
def test_cli_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                            message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
