"""The search page for people: one static HTML shell (api/static/) whose script calls the JSON API.

The page holds no data of its own: its scripts read the query, filters and selection from the URL, call
`/search`, `/facets`, `/actions`, `/actions/{id}`, `/similar/{id}` and `POST /recommend`, and render the answers,
so the page and the API cannot drift apart. `/` and `/fiche/{id}` serve the same shell; the script routes on the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from semsearch.errors import NotFound, SemsearchError

STATIC = Path(__file__).resolve().parent / "static"
SHELL = STATIC / "index.html"
# The shell is tiny and changes with each release: revalidated on every load, so a stale page never calls
# a newer API (/static/ answers with ETag and Last-Modified for the same purpose).
NO_STALE = {"Cache-Control": "no-cache"}
# Nothing may come from elsewhere (no CDN, no font service): the policy says so to the browser too, and
# is a second guard behind the escaping of `passage.marked` (semsearch.passages), the one HTML the script
# inserts. No other site may frame the page (clickjacking): frame-ancestors for current browsers,
# X-Frame-Options for older ones.
POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'")
HEADERS = {**NO_STALE, "Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def search_page() -> FileResponse:
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers=HEADERS)


@router.api_route("/fiche/{action_id}", methods=["GET", "HEAD"])
def action_page(request: Request, action_id: str) -> FileResponse:
    """An unknown id gets the shell too, with status 404 (for crawlers and link checkers); the script asks
    /actions/{id} and says in French that the fiche does not exist. While no index is loaded the page
    cannot tell, and the script shows the service's own message."""
    status = 200
    try:
        with request.app.state.service.lease() as live:
            live.rowid(action_id)
    except NotFound:
        status = 404
    except SemsearchError:
        pass
    return FileResponse(SHELL, status_code=status, media_type="text/html; charset=utf-8", headers=HEADERS)


class _StaticFiles(StaticFiles):
    """The page's files, revalidated on every use: a new release is picked up at once, and an unchanged
    file costs a 304 (the ETag and Last-Modified StaticFiles already sends)."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_STALE)
        return response


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", _StaticFiles(directory=STATIC), name="static")
