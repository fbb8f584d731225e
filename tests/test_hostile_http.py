"""Hostile HTTP input: schemathesis over the app's own /openapi.json (in-process ASGI, no network), then
explicit cases a fuzzer rarely hits (FTS5 and SQL syntax, control characters, huge values).

Nothing may answer 5xx; every answer must match the schema; bad input is a clear 4xx in the one error shape,
input that is merely odd is a correct (possibly empty) result.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from api.models import MAX_OFFSET
from semsearch.config import Settings
from semsearch.corpus import Corpus
from semsearch.records import FACETS
from semsearch.search import Searcher

CONFIG = schemathesis.Config.from_dict({
    # Bounded: 20 generated cases per operation (valid and invalid), no schema-wide coverage sweep.
    "generation": {"max-examples": 20, "mode": "all", "database": "none"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def app(settings: Settings, searcher: Searcher) -> FastAPI:
    # No admin token: /admin/reindex is off (404), so generated cases never start a rebuild.
    return create_app(Settings.from_env({}, index_dir=settings.index_dir, source=settings.source),
                      searcher=searcher)


def _schema_of(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(app.openapi(), config=CONFIG)


# The operations, known at collection time: the schema does not depend on the index (nothing is loaded here).
SCHEMA = _schema_of(create_app(Settings.from_env({})))
OPERATIONS = sorted((op.ok().method.upper(), op.ok().path) for op in SCHEMA.get_all_operations())


def test_the_fuzzed_schema_is_the_one_the_app_serves(app: FastAPI) -> None:
    with TestClient(app) as c:
        assert c.get("/openapi.json").json() == app.openapi() == SCHEMA.raw_schema
    assert len(OPERATIONS) >= 8 and ("POST", "/search") in OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_never_5xx_and_match_the_schema(app: FastAPI, method: str, path: str) -> None:
    """20 valid and 20 invalid requests per operation, sent in-process to the app (ASGI): no 5xx, every
    status, content type and body as the schema declares them."""
    operation = SCHEMA[path][method]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @hypothesis.settings(max_examples=20, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=operation.as_strategy(mode))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, app=app)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # No parameter, or only a free-form string in the path: nothing there is schema-invalid.
            assert mode is GenerationMode.NEGATIVE, path


# -- explicit hostile values -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _is_error(r, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}


SYNTAX = ['"', '""', '"precarite', "*", "precar*", "NEAR(", "NEAR(a b, 2)", "'; DROP TABLE actions; --",
          "a OR AND NOT", "AND", "NOT", "(", ")", "title:atelier", "^atelier", "-", "+", "{", "%", "_",
          "\\", "'", "\u00a0", "😀", "atelier\u200b"]


@pytest.mark.parametrize("q", SYNTAX)
@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_fts_and_sql_syntax_in_a_query_is_just_text(client: TestClient, q: str, mode: str) -> None:
    for r in (client.get("/search", params={"q": q, "mode": mode}),
              client.post("/search", json={"q": q, "mode": mode})):
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:
            _is_error(r, 422)
        else:
            body = r.json()
            assert body["total"] >= len(body["results"])
    # The table is still there and whole.
    assert client.get("/actions", params={"limit": 1}).json()["total"] == 24


@pytest.mark.parametrize("q", ["\x00", "atelier\x00", "\x1b[2J", "\x1b", "a\x07b", "\r\n", "\t", "\x7f"])
def test_control_characters_give_a_result_or_a_clear_422(client: TestClient, q: str) -> None:
    r = client.get("/search", params={"q": q})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        _is_error(r, 422)


def test_a_10000_character_query_is_refused_naming_q(client: TestClient) -> None:
    for r in (client.get("/search", params={"q": "précarité " * 1000}),
              client.post("/search", json={"q": "a" * 10_000})):
        _is_error(r, 422)
        assert r.json()["error"]["detail"]["parameter"] == "q"


@pytest.mark.parametrize("name", ["departement", "keywords", "q2", "__proto__", "filter[keyword]", "x" * 300])
def test_unknown_filter_names_are_refused_naming_them(client: TestClient, name: str) -> None:
    r = client.get("/search", params={"q": "atelier", name: "Santé"})
    _is_error(r, 422)
    assert r.json()["error"]["detail"]["parameter"] == name
    r = client.post("/search", json={"q": "atelier", name: ["Santé"]})
    _is_error(r, 422)


@pytest.mark.parametrize("path", ["/search?q=atelier", "/actions?", "/similar/{id}?", "/facets?"])
def test_an_offset_past_the_end_is_an_empty_page_a_huge_one_and_negative_limit_a_422(
        client: TestClient, ids: dict[str, str], path: str) -> None:
    path = path.replace("{id}", next(iter(ids.values())))
    if path != "/facets?":
        r = client.get(f"{path}&offset={MAX_OFFSET}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["results" if "results" in body else "actions"] == [] and body["offset"] == MAX_OFFSET
        assert body["total"] > 0  # the set is still counted, the page is just past its end
        _is_error(client.get(f"{path}&limit=-1"), 422)
        _is_error(client.get(f"{path}&offset=-1"), 422)
        for huge in (10**9, 10**30):  # past the documented bound, and past int64
            r = client.get(f"{path}&offset={huge}")
            _is_error(r, 422)
            assert r.json()["error"]["detail"]["parameter"] == "offset"
    else:
        _is_error(client.get(f"{path}limit=-1"), 422)


def test_odd_ids_are_404_never_500(client: TestClient) -> None:
    for action_id in ["'; DROP TABLE actions; --", "%00", "..%2F..%2Fetc%2Fpasswd", "a" * 5000, "é"]:
        for path in (f"/actions/{action_id}", f"/similar/{action_id}"):
            r = client.get(path)
            assert r.status_code == 404, (path, r.text)


def test_malformed_json_bodies_are_422(client: TestClient) -> None:
    for body in [b"{", b"null", b"[]", b'{"q": 5}', b'{"q": "a", "limit": "x"}', b"\xff\xfe", b'"q"']:
        r = client.post("/search", content=body, headers={"Content-Type": "application/json"})
        _is_error(r, 422)


# -- filter values are values, never SQL or patterns -------------------------------------------------
# Quote-breaking, LIKE wildcards and a statement terminator: a filter that pasted its value into SQL text (or
# compared with LIKE) would match everything, fail, or drop the table; a parameterised equality matches none.
HOSTILE_VALUES = ["x' OR '1'='1", "' OR 1=1 --", "%", "_", "*", '"; DROP TABLE actions; --',
                  "'); DELETE FROM facets; --", "\\", "\u00a0"]


def _holders(corpus: Corpus, facet: str, value: str) -> set[str]:
    return {a.id for a in corpus.actions if value in a.facet_values(facet)}


def _filtered(client: TestClient, facet: str, value: str) -> dict[str, set[str]]:
    """Ids each filtered endpoint answers with, one page of 100 (the sample has 24 actions)."""
    listing = client.get("/actions", params={facet: value, "limit": 100})
    found = {"GET /actions": listing}
    for mode in ("hybrid", "lexical"):
        found[f"GET /search {mode}"] = client.get("/search", params={"q": "atelier", "mode": mode, facet: value,
                                                                     "limit": 100})
        found[f"POST /search {mode}"] = client.post("/search", json={"q": "atelier", "mode": mode, facet: [value],
                                                                    "limit": 100})
    out: dict[str, set[str]] = {}
    for name, r in found.items():
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        items = body["actions" if "actions" in body else "results"]
        assert body["total"] == len(items), name  # one page holds them all: the count is of the same set
        out[name] = {item["id"] for item in items}
    return out


@pytest.mark.parametrize("facet", list(FACETS))
def test_hostile_filter_values_match_only_fiches_holding_them(client: TestClient, corpus: Corpus,
                                                              facet: str) -> None:
    whole = client.get("/actions", params={"limit": 100}).json()
    assert whole["total"] == len(corpus.actions)
    real = next(v for a in corpus.actions for v in a.facet_values(facet))
    # The real value's own prefix with a LIKE wildcard, so a LIKE comparison would show even on one facet.
    values = [*HOSTILE_VALUES, real[:3] + "%", real[:-1] + "_"]
    for value in values:
        expected = _holders(corpus, facet, value)
        for endpoint, got in _filtered(client, facet, value).items():
            assert got <= expected, (facet, value, endpoint)  # a search finds some of the holders
            if endpoint == "GET /actions":
                assert got == expected, (facet, value)  # the listing, all of them
    # A real value still filters (so the empty answers above are the filter at work, not a broken one).
    assert _filtered(client, facet, real)["GET /actions"] == _holders(corpus, facet, real) != set()
    # Nothing was dropped or deleted: the whole listing, facet counts included, is as it was.
    assert client.get("/actions", params={"limit": 100}).json() == whole
