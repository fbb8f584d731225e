"""The search page for people: one static HTML shell (api/static/) whose script calls the JSON API.

The page holds no data of its own: `app.js` reads the query and filters from the URL, calls `/search`,
`/facets`, `/actions/{id}` and `/similar/{id}`, and renders the answers, so the page and the API cannot
drift apart. `/` and `/fiche/{id}` serve the same shell; the script routes on the path.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

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
def action_page(action_id: str) -> FileResponse:
    """An unknown id still gets the shell: the script asks /actions/{id} and says so in French."""
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers=HEADERS)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
