"""The HTTP service over the real sample index, through TestClient (lifespan included)."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from processes import wait_until

from api import create_app
from api.models import SearchMode
from semsearch.config import Settings
from semsearch.corpus import Corpus, write_jsonl
from semsearch.encoders import Encoder
from semsearch.nlp import FrenchNLP
from semsearch.search import MODES, Passage, Searcher

QUERY = "precarite alimentaire en rural"
GROCERY = "Epicerie solidaire ephémère"
TOKEN = "jeton-de-test"


def search(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/search", params=params)
    assert r.status_code == 200, r.text
    return r.json()


# -- search -----------------------------------------------------------------------------------------
def test_food_insecurity_search_finds_the_solidarity_grocery_with_its_passage(client: TestClient,
                                                                            searcher: Searcher) -> None:
    cut = searcher.analyser.cut
    body = search(client, q=QUERY)
    assert body["query"] == QUERY and body["mode"] == "hybrid" and body["total"] >= len(body["results"])
    first = body["results"][0]
    assert first["title"] == GROCERY
    assert set(first) == {"id", "title", "score", "tier", "structure", "department", "dimension", "keywords",
                          "public", "status", "passage", "explanation"}
    assert first["tier"] == "proche" and first["explanation"]["reasons"]
    passage = first["passage"]
    assert passage["label"] and "<mark>" in passage["marked"] and passage["highlights"]
    assert html.unescape(re.sub("</?mark>", "", passage["marked"])) == passage["text"]
    assert {passage["text"][a:b].lower() for a, b in passage["highlights"]} & {"précarité", "alimentaire"}
    matched = first["explanation"]["matched_terms"]
    assert matched and {cut(m)[0].term for m in matched} <= {w.term for w in cut(QUERY)}
    assert first["explanation"]["lexical_rank"] and first["explanation"]["semantic_rank"]


def test_a_query_nothing_answers_says_so_with_what_to_try(client: TestClient) -> None:
    body = search(client, q="qzxwvkjtrpl mbhgf")
    assert body["total"] == 0 and body["results"] == [] and body["neighbours"] == []
    assert set(body["suggestions"]) == {"spellings", "without_filters"}
    typo = search(client, q="jardinage partajé")
    assert all(r["tier"] == "voisin" for r in typo["neighbours"])
    assert not {r["id"] for r in typo["neighbours"]} & {r["id"] for r in typo["results"]}


def test_marked_text_is_html_escaped_before_the_marks_go_in() -> None:
    text = "<b>repas</b> & précarité"
    start = text.index("précarité")
    passage = Passage("summary", "Résumé", text, [(start, start + len("précarité"))])
    assert passage.marked() == "&lt;b&gt;repas&lt;/b&gt; &amp; <mark>précarité</mark>"
    assert passage.marked("«", "»", html=False) == "<b>repas</b> & «précarité»"  # the terminal's


def test_post_search_takes_the_same_parameters_as_json(client: TestClient) -> None:
    params = {"q": "atelier", "limit": 4, "offset": 1, "mode": "lexical", "public": ["Seniors", "Adultes"]}
    r = client.post("/search", json=params)
    assert r.status_code == 200
    assert r.json() == search(client, **params)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_is_accepted(client: TestClient, mode: str) -> None:
    assert search(client, q="séjour de vacances pour adultes", mode=mode, limit=1)["results"][0]["title"] == \
        "Séjour Adultes"


def test_the_schema_modes_are_the_library_modes() -> None:
    assert get_args(SearchMode) == MODES


def test_values_of_one_filter_are_ored_and_filters_are_anded(client: TestClient) -> None:
    everything = search(client, q="atelier", limit=100)["results"]
    either = search(client, q="atelier", public=["Seniors", "Adultes"], limit=100)
    assert {r["id"] for r in either["results"]} == {r["id"] for r in everything
                                                     if r["public"] in {"Seniors", "Adultes"}}
    assert either["total"] == len(either["results"]) > 0
    both = search(client, q="atelier", public=["Seniors", "Adultes"], status=["Terminée"], limit=100)
    done = {r["id"] for r in either["results"] if r["status"] == "Terminée"}
    assert {r["id"] for r in both["results"]} == done
    assert both["total"] < either["total"]


def test_total_is_the_same_on_every_page_and_pages_tile_the_results(client: TestClient) -> None:
    whole = search(client, q="enfants et familles", limit=100)
    pages = [search(client, q="enfants et familles", limit=3, offset=o) for o in range(0, whole["total"], 3)]
    assert {p["total"] for p in pages} == {whole["total"]}
    assert [r["id"] for p in pages for r in p["results"]] == [r["id"] for r in whole["results"]]


def test_facet_counts_agree_with_the_filtered_results(client: TestClient) -> None:
    unfiltered = search(client, q="lien social", limit=100)
    body = search(client, q="lien social", keyword=["intergénérationnel"], limit=100)
    assert body["total"] == len(body["results"]) > 0
    for facet in ("dimension", "public", "status", "department"):
        counts = {v["value"]: v["count"] for v in body["facets"][facet]}
        assert counts == Counter(r[facet] for r in body["results"] if r[facet]), facet
    # The ticked facet counts what ticking each value would give: the other filters only (here none).
    keywords = {v["value"]: v["count"] for v in body["facets"]["keyword"]}
    assert keywords == Counter(k for r in unfiltered["results"] for k in r["keywords"])
    assert [v["value"] for v in body["facets"]["keyword"] if v["selected"]] == ["intergénérationnel"]


# -- similar, actions, facets -----------------------------------------------------------------------
def test_facet_limit_caps_each_facet_list(client: TestClient) -> None:
    full = client.get("/search", params={"q": "lien social", "limit": 100}).json()["facets"]
    capped = client.get("/search", params={"q": "lien social", "limit": 100, "facet_limit": 2}).json()["facets"]
    assert any(len(values) > 2 for values in full.values())
    assert capped == {name: values[:2] for name, values in full.items()}


def test_similar_actions_exclude_the_source_and_accept_filters(client: TestClient,
                                                               ids: dict[str, str]) -> None:
    grocery = ids[GROCERY]
    r = client.get(f"/similar/{grocery}")
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == GROCERY and body["mode"] == "similar" and len(body["results"]) == 5
    assert grocery not in {x["id"] for x in body["results"]}
    ongoing = client.get(f"/similar/{grocery}", params={"status": "En cours", "limit": 100}).json()
    assert ongoing["results"] and {x["status"] for x in ongoing["results"]} == {"En cours"}
    assert ongoing["total"] == len(ongoing["results"])


def test_an_action_is_returned_whole(client: TestClient, corpus: Corpus) -> None:
    for action in corpus.actions:
        r = client.get(f"/actions/{action.id}")
        assert r.status_code == 200
        assert r.json() == action.to_dict()  # every field of the record, none dropped by the wire model


def test_actions_are_listed_by_pages_with_filters(client: TestClient, corpus: Corpus) -> None:
    pages = [client.get("/actions", params={"limit": 7, "offset": o}).json() for o in range(0, 28, 7)]
    assert {p["total"] for p in pages} == {len(corpus.actions)}
    assert [a["id"] for p in pages for a in p["actions"]] == [a.id for a in corpus.actions]
    done = client.get("/actions", params={"status": "Terminée", "public": ["Adultes", "Seniors"]}).json()
    expected = [a.id for a in corpus.actions if a.status == "Terminée" and a.public in {"Adultes", "Seniors"}]
    assert [a["id"] for a in done["actions"]] == expected and done["total"] == len(expected) > 0


def test_facets_count_every_value_over_all_actions(client: TestClient, corpus: Corpus) -> None:
    body = client.get("/facets").json()
    assert body["total"] == len(corpus.actions)
    for facet, values in body["facets"].items():
        expected = Counter(v for a in corpus.actions for v in a.facet_values(facet))
        assert {v["value"]: v["count"] for v in values} == expected, facet
    filtered = client.get("/facets", params={"status": "Terminée"}).json()
    assert filtered["total"] == sum(v["count"] for v in filtered["facets"]["dimension"])


# -- service routes ---------------------------------------------------------------------------------
def test_health_and_ready(client: TestClient, searcher: Searcher) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    manifest = searcher.index.manifest
    assert ready["status"] == "ready" and ready["reindex"]["running"] is False
    assert {k: ready["index"][k] for k in ("build_id", "encoder", "actions", "chunks")} == \
        {"build_id": manifest.build_id, "encoder": manifest.encoder, "actions": manifest.actions,
         "chunks": manifest.chunks}


@pytest.mark.parametrize("url", ["/search?q=jeunes", "/similar/nope", "/actions?limit=1", "/facets",
                                 "/health", "/ready", "/openapi.json", "/docs", "/nowhere",
                                 "/search?q=x&limit=0"])
def test_every_response_names_the_index_build(client: TestClient, searcher: Searcher, url: str) -> None:
    assert client.get(url).headers["X-Index-Version"] == searcher.index.manifest.build_id


# -- transport: compression, caching, the pages' statuses -------------------------------------------
@pytest.mark.parametrize("url", ["/search?q=habitants", "/facets", "/static/app.js", "/static/app.css", "/"])
def test_answers_are_gzipped_for_clients_that_accept_it(client: TestClient, url: str) -> None:
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # httpx decoded it: the same bytes
    assert int(packed.headers["content-length"]) < len(plain.content) / 2


def test_the_page_files_are_revalidated_and_unchanged_ones_cost_a_304(client: TestClient) -> None:
    first = client.get("/static/app.js")
    assert first.headers["cache-control"] == "no-cache" and first.headers["etag"]
    again = client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "no-cache"


def test_an_unknown_fiche_page_is_a_404_still_in_french(client: TestClient, corpus: Corpus) -> None:
    known = client.get(f"/fiche/{corpus.actions[0].id}")
    unknown = client.get("/fiche/nexiste-pas-000000")
    assert known.status_code == 200 and unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html") and '<html lang="fr">' in unknown.text
    assert unknown.headers["content-security-policy"] == known.headers["content-security-policy"]


def test_openapi_documents_every_route_with_french_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/search", "/similar/{action_id}", "/actions/{action_id}", "/actions", "/facets", "/health",
            "/ready", "/admin/reindex"} <= set(spec["paths"])
    assert "précarité alimentaire en rural" in str(spec["paths"]["/search"])
    errors = spec["paths"]["/search"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert errors["$ref"].endswith("/ErrorResponse")
    assert "swagger" in client.get("/docs").text.lower()


def test_cors_answers_only_the_configured_origins(settings: Settings, searcher: Searcher) -> None:
    allowed = Settings.from_env({}, index_dir=settings.index_dir, cors_origins=("https://centres.example",))
    with TestClient(create_app(allowed, searcher=searcher)) as c:
        ok = c.get("/health", headers={"Origin": "https://centres.example"})
        assert ok.headers["access-control-allow-origin"] == "https://centres.example"
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "https://x.example"}).headers
    with TestClient(create_app(settings, searcher=searcher)) as c:
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "https://x.example"}).headers


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url", "body", "status", "code", "parameter"), [
    ("GET", "/search?q=", None, 422, "invalid_parameter", "q"),
    ("GET", "/search?q=%20%20", None, 422, "invalid_parameter", "q"),
    ("GET", "/search?q=" + "x" * 501, None, 422, "invalid_parameter", "q"),
    ("GET", "/search", None, 422, "invalid_parameter", "q"),
    ("GET", "/search?q=x&limit=0", None, 422, "invalid_parameter", "limit"),
    ("GET", "/search?q=x&limit=101", None, 422, "invalid_parameter", "limit"),
    ("GET", "/search?q=x&limit=dix", None, 422, "invalid_parameter", "limit"),
    ("GET", "/search?q=x&offset=-1", None, 422, "invalid_parameter", "offset"),
    ("GET", "/search?q=x&mode=fuzzy", None, 422, "invalid_parameter", "mode"),
    ("GET", "/search?q=x&facet_limit=0", None, 422, "invalid_parameter", "facet_limit"),
    ("GET", "/search?q=x&departement=49", None, 422, "invalid_parameter", "departement"),
    ("GET", "/search?q=x&keyword=" + "k" * 201, None, 422, "invalid_parameter", "keyword"),
    ("POST", "/search", {"q": "x", "keywords": ["Précarité"]}, 422, "invalid_parameter", "keywords"),
    ("POST", "/search", {"q": "x", "status": "En cours"}, 422, "invalid_parameter", "status"),
    ("POST", "/search", "{pas du json", 422, "invalid_parameter", "body"),
    ("GET", "/similar/x?limit=500", None, 422, "invalid_parameter", "limit"),
    ("GET", "/actions?colour=bleu", None, 422, "invalid_parameter", "colour"),
    ("GET", "/facets?foo=1", None, 422, "invalid_parameter", "foo"),
    ("GET", "/similar/no-such-action", None, 404, "not_found", None),
    ("GET", "/actions/no-such-action", None, 404, "not_found", None),
    ("GET", "/nowhere", None, 404, "not_found", None),
    ("DELETE", "/search", None, 405, "method_not_allowed", None),
    ("POST", "/admin/reindex", None, 404, "not_found", None),  # no SEMSEARCH_ADMIN_TOKEN: no admin routes
])
def test_every_error_has_the_one_shape(client: TestClient, method: str, url: str, body: Any, status: int,
                                       code: str, parameter: str | None) -> None:
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, str) \
        else {"json": body}
    r = client.request(method, url, **kwargs)
    assert r.status_code == status
    payload = r.json()
    assert list(payload) == ["error"] and list(payload["error"]) == ["code", "message", "detail"]
    assert payload["error"]["code"] == code and payload["error"]["message"]
    if parameter:
        assert payload["error"]["detail"]["parameter"] == parameter
        assert parameter in payload["error"]["message"]


@pytest.mark.parametrize(("method", "url", "body", "reason"), [
    ("GET", "/search?q=x&limit=101", None, "doit valoir 100 ou moins"),
    ("GET", "/search?q=x&offset=-1", None, "doit valoir 0 ou plus"),
    ("GET", "/search?q=x&limit=dix", None, "nombre entier attendu"),
    ("GET", "/search?q=x&mode=fuzzy", None, "valeurs possibles : 'hybrid', 'semantic' ou 'lexical'"),
    ("GET", "/search?q=x&departement=49", None, "paramètre inconnu"),
    ("GET", "/search?q=x&keyword=" + "k" * 201, None, "200 caractère(s) au plus"),
    ("GET", "/search", None, "paramètre obligatoire absent"),
    ("POST", "/search", {"q": "x", "limit": True}, "nombre entier JSON attendu"),
    ("POST", "/search", {"q": "x", "status": "En cours"}, "liste attendue"),
    ("POST", "/search", "{pas du json", "JSON invalide"),
])
def test_validation_reasons_are_in_french(client: TestClient, method: str, url: str, body: Any, reason: str) -> None:
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, str) \
        else {"json": body}
    r = client.request(method, url, **kwargs)
    assert r.status_code == 422 and r.json()["error"]["detail"]["reason"] == reason, r.text


def test_an_unexpected_error_is_a_logged_500_without_traceback(client: TestClient, searcher: Searcher,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(searcher, "search", broken)
    with caplog.at_level(logging.ERROR, logger="semsearch.api"):
        r = client.get("/search", params={"q": "jeunes"})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.headers["X-Index-Version"] == searcher.index.manifest.build_id
    assert any("secret internals" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)


# -- administration and reloading -------------------------------------------------------------------
def admin_settings(settings: Settings, **overrides: Any) -> Settings:
    return Settings.from_env({}, **{"index_dir": settings.index_dir, "source": settings.source,
                                    "admin_token": TOKEN, **overrides})


@pytest.fixture
def index_copy(tmp_path: Path, sample_index: Path) -> Path:
    """A private copy of the sample index, so builds and swaps do not touch the session's index."""
    copy = tmp_path / "index"
    shutil.copytree(sample_index, copy, symlinks=True)
    return copy


def test_reindex_needs_the_token_and_runs_one_build_at_a_time(index_copy: Path, settings: Settings,
                                                              encoder: Encoder) -> None:
    settings = admin_settings(settings, index_dir=index_copy)
    with TestClient(create_app(settings, encoder=encoder)) as c:
        assert c.post("/admin/reindex").status_code == 401
        assert c.post("/admin/reindex").headers["WWW-Authenticate"] == "Bearer"
        assert c.post("/admin/reindex", headers={"Authorization": "Bearer faux"}).status_code == 403
        auth = {"Authorization": f"Bearer {TOKEN}"}
        first = c.post("/admin/reindex", headers=auth)
        assert first.status_code == 202 and first.json()["status"] == "started"
        second = c.post("/admin/reindex", headers=auth)
        assert second.status_code == 409 and second.json()["error"]["code"] == "reindex_running"
        assert c.get("/ready").json()["reindex"]["running"] is True
        assert c.get("/search", params={"q": "jeunes"}).status_code == 200  # search goes on meanwhile
        wait_until(lambda: not c.get("/ready").json()["reindex"]["running"], timeout=180)
        assert c.get("/ready").json()["reindex"]["error"] is None


def test_reindex_swaps_the_index_in_and_a_failed_one_keeps_it(index_copy: Path, tmp_path: Path,
                                                              corpus: Corpus, encoder: Encoder) -> None:
    source = tmp_path / "three.jsonl"
    write_jsonl(corpus.actions[:3], source)
    settings = Settings.from_env({}, index_dir=index_copy, source=source, admin_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings, encoder=encoder)) as c:
        service = c.app.state.service
        before = c.get("/ready").json()["index"]["build_id"]
        with service.lease() as old:  # a request in flight during the swap
            assert c.post("/admin/reindex", headers=auth).status_code == 202
            wait_until(lambda: not c.get("/ready").json()["reindex"]["running"], timeout=180)
            wait_until(lambda: c.get("/ready").json()["index"]["build_id"] != before, timeout=10)
            assert old.listing(limit=100).total == len(corpus.actions) > 3  # still answering from the old index
            old.search("jeunes", limit=100)
        with pytest.raises(sqlite3.ProgrammingError):  # closed once its last request finished
            old.index.db.execute("SELECT 1")
        ready = c.get("/ready").json()
        after = ready["index"]["build_id"]
        assert after != before and ready["reindex"]["build_id"] == after and ready["reindex"]["error"] is None
        response = c.get("/facets")
        assert response.json()["total"] == 3 and response.headers["X-Index-Version"] == after

        source.write_text("{pas du json\n", encoding="utf-8")
        assert c.post("/admin/reindex", headers=auth).status_code == 202
        wait_until(lambda: not c.get("/ready").json()["reindex"]["running"], timeout=60)
        ready = c.get("/ready").json()
        assert ready["index"]["build_id"] == after and "three.jsonl" in ready["reindex"]["error"]
        assert c.get("/search", params={"q": "jeunes"}).headers["X-Index-Version"] == after

        # `semsearch reindex` beside the server only moves the `current` symlink: the watcher follows it.
        relink(index_copy, before)
        wait_until(lambda: c.get("/health").headers["X-Index-Version"] == before, timeout=10)
        assert c.get("/facets").json()["total"] == len(corpus.actions)
        (index_copy / "builds" / "broken").mkdir()  # a build that cannot be loaded is reported, not served
        relink(index_copy, "broken")
        wait_until(lambda: c.get("/ready").json()["load_error"] is not None, timeout=10)
        assert "broken" in c.get("/ready").json()["load_error"]
        assert c.get("/search", params={"q": "jeunes"}).headers["X-Index-Version"] == before


def relink(index_dir: Path, build: str) -> None:
    """Point `current` at another build atomically, as semsearch.index does."""
    tmp_link = index_dir / ".current-test"
    os.symlink(Path("builds") / build, tmp_link)
    os.replace(tmp_link, index_dir / "current")


def test_the_service_starts_without_an_index_and_serves_one_once_built(
        tmp_path: Path, sample_index: Path, encoder: Encoder, nlp: FrenchNLP) -> None:
    empty = tmp_path / "index"
    settings = Settings.from_env({}, index_dir=empty)
    with TestClient(create_app(settings, encoder=encoder)) as c:
        assert c.get("/health").status_code == 200
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        assert "aucun index" in ready.json()["error"]["detail"]["reason"]
        assert c.get("/search", params={"q": "jeunes"}).status_code == 503
        assert ready.headers["X-Index-Version"] == "none"
        build = (sample_index / "current").resolve()
        shutil.copytree(build, empty / "builds" / build.name)
        os.symlink(Path("builds") / build.name, empty / "current")
        wait_until(lambda: c.get("/ready").status_code == 200, timeout=10)
        assert c.get("/search", params={"q": QUERY}).json()["results"][0]["title"] == GROCERY
