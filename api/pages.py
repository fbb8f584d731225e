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
# The shell is tiny and changes with each release; revalidating every time keeps a stale page from
# calling a newer API. The assets are revalidated too (ETag), which costs one 304 per load.
NO_STALE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def search_page() -> FileResponse:
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers=NO_STALE)


@router.get("/fiche/{action_id}")
def action_page(action_id: str) -> FileResponse:
    """An unknown id still gets the shell: the script asks /actions/{id} and says so in French."""
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers=NO_STALE)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
