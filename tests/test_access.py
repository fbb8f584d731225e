"""Access: the admin route (token, constant-time check, off without a token, rate-limited guessing), CORS only
for configured origins, no file served from outside the package's static directory, request size limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api import create_app, security
from semsearch import jobs
from semsearch.config import Settings
from semsearch.search import Searcher

TOKEN = "jeton-d-acces-de-test"
ROOT = Path(__file__).resolve().parent.parent


def _settings(settings: Settings, **overrides: Any) -> Settings:
    return Settings.from_env({}, index_dir=settings.index_dir, source=settings.source, **overrides)


@pytest.fixture
def admin_app(settings: Settings, searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setattr(jobs, "start_build", lambda s: jobs.BuildStatus(running=True, started_at="maintenant"))
    return create_app(_settings(settings, admin_token=TOKEN), searcher=searcher)


# -- admin ----------------------------------------------------------------------------------------------
def test_admin_is_off_without_a_token_and_never_counts_as_guessing(settings: Settings, searcher: Searcher) -> None:
    with TestClient(create_app(_settings(settings), searcher=searcher)) as c:
        for _ in range(security.FAILURES_ALLOWED + 3):
            r = c.post("/admin/reindex", headers={"Authorization": "Bearer devine"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("candidate", [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), TOKEN[:-1] + "X", "",
                                       "jéton".encode(), b"\xff" * len(TOKEN), TOKEN.encode() + b"\xc3"])
def test_only_the_exact_token_opens_admin_and_near_misses_are_a_clean_403(admin_app: FastAPI,
                                                                         candidate: str | bytes) -> None:
    """Prefixes, extensions, other cases and non-ASCII bytes are refused in the error shape, never a 500. That the
    comparison also takes constant time (hmac.compare_digest) is not measurable reliably in a test."""
    with TestClient(admin_app, raise_server_exceptions=False, client=("203.0.113.9", 5000)) as c:
        r = c.post("/admin/reindex", headers={"Authorization": b"Bearer " + (
            candidate if isinstance(candidate, bytes) else candidate.encode())})
        assert r.status_code in (401, 403) and r.json()["error"]["code"] in ("unauthorized", "forbidden"), r.text
        assert c.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202


def test_five_refused_tokens_from_one_address_get_429_with_retry_after(admin_app: FastAPI) -> None:
    now = [1000.0]
    admin_app.state.admin_guard.clock = lambda: now[0]
    with TestClient(admin_app, client=("203.0.113.7", 5000)) as c:
        assert c.post("/admin/reindex").status_code == 401  # no token counts too
        for _ in range(security.FAILURES_ALLOWED - 1):
            assert c.post("/admin/reindex", headers={"Authorization": "Bearer devine"}).status_code == 403
        blocked = c.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
        assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "too_many_requests"
        assert int(blocked.headers["Retry-After"]) == int(security.WINDOW_S)
        assert blocked.headers["X-Index-Version"]  # still stamped by the edge middleware
        assert c.get("/search", params={"q": "jeunes"}).status_code == 200  # only /admin is limited
        now[0] += 30
        assert int(c.post("/admin/reindex").headers["Retry-After"]) == int(security.WINDOW_S) - 30
        with TestClient(admin_app, client=("198.51.100.9", 5000)) as other:  # another address is not blocked
            assert other.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 202
        now[0] += security.WINDOW_S
        ok = c.post("/admin/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code in (202, 409), ok.text  # the window has passed: the right token works again


def test_the_guard_remembers_a_bounded_number_of_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "MAX_TRACKED", 50)
    guard = security.AdminGuard(clock=lambda: 0.0)
    for n in range(500):
        guard.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(guard._failures) <= 50


# -- CORS -----------------------------------------------------------------------------------------------
def test_cors_allows_a_configured_origin_and_refuses_another(settings: Settings, searcher: Searcher) -> None:
    app = create_app(_settings(settings, cors_origins=("https://www.centres-sociaux.fr",)), searcher=searcher)
    with TestClient(app) as c:
        preflight = {"Access-Control-Request-Method": "GET"}
        ok = c.options("/search", headers={"Origin": "https://www.centres-sociaux.fr", **preflight})
        assert ok.status_code == 200
        assert ok.headers["Access-Control-Allow-Origin"] == "https://www.centres-sociaux.fr"
        refused = c.options("/search", headers={"Origin": "https://evil.example", **preflight})
        assert refused.status_code == 400 and "Access-Control-Allow-Origin" not in refused.headers
        simple = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in simple.headers
    with TestClient(create_app(_settings(settings), searcher=searcher)) as c:  # none configured: no CORS
        r = c.get("/health", headers={"Origin": "https://www.centres-sociaux.fr"})
        assert "Access-Control-Allow-Origin" not in r.headers


# -- files ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(settings: Settings, searcher: Searcher) -> FastAPI:
    return create_app(_settings(settings), searcher=searcher)


def _raw_get(app: FastAPI, path: str) -> tuple[int, bytes]:
    """GET with the path exactly as given (an HTTP client would normalise the dots away)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode("latin-1"), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), body


TRAVERSALS = ["/static/../../etc/passwd", "/static/../../../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
              "/static/..%2f..%2fetc%2fpasswd", "/static/....//....//etc/passwd", "/static//etc/passwd",
              "/static/../api/app.py", "/static/../../pyproject.toml", "/static/..\\..\\etc\\passwd",
              "/static/%00../../etc/passwd", "/fiche/../../etc/passwd", "/../../etc/passwd", "//etc/passwd",
              "/static/../../index/current/manifest.json"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reads_a_file_outside_the_static_directory(app: FastAPI, path: str) -> None:
    status, body = _raw_get(app, path)
    assert b"root:" not in body and b"[project]" not in body and b"create_app" not in body
    assert b"build_id" not in body
    if path.startswith("/static"):
        assert status == 404, (path, status)
    else:
        assert status in (200, 404), (path, status)  # /fiche/... is the page shell, never the file


def test_the_only_files_served_are_the_packaged_static_directory(app: FastAPI) -> None:
    static = (ROOT / "api" / "static").resolve()
    for route in app.routes:
        if isinstance(route, Mount):
            directory = Path(getattr(route.app, "directory", "")).resolve()
            assert directory == static, (route.path, directory)


# -- request size -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_a_body_over_the_limit_is_413_by_content_length(client: TestClient) -> None:
    body = b'{"q": "atelier", "keyword": ["' + b"x" * security.MAX_BODY_BYTES + b'"]}'
    r = client.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert r.json()["error"]["detail"]["limit_bytes"] == security.MAX_BODY_BYTES


def test_a_streamed_body_over_the_limit_is_413_by_counting(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"q": "atelier", "keyword": ["'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"]}'

    r = client.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text


def test_a_body_under_the_limit_goes_through_unchanged(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"q": "atelier", '
        yield b'"limit": 2}'

    r = client.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    assert client.post("/search", json={"q": "atelier", "public": ["x" * 200] * 20}).status_code == 200


def test_a_json_body_that_is_not_text_is_a_422_naming_the_body(client: TestClient) -> None:
    r = client.post("/search", content=b'{"q": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["detail"]["parameter"] == "body"
