"""One JSON shape for every error, `{"error": {"code", "message", "detail"}}`, built by `error_response`.

Library exceptions are translated here and only here: `NotFound` -> 404, `InvalidQuery` and FastAPI's own
validation errors -> 422 naming the parameter, an index that cannot be loaded -> 503. Whatever else
escapes a route becomes a 500 with a generic message in `app.py`'s middleware, never a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch.errors import IndexMismatchError, IndexMissingError, InvalidQuery, NotFound, SemsearchError

# Machine-readable codes of the HTTP errors Starlette raises itself (unknown route, wrong method...).
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 503: "not_ready"}
_HTTP_MESSAGES = {404: "Ressource introuvable.", 405: "Méthode HTTP non autorisée sur cette ressource."}


def error_body(code: str, message: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


def error_response(status: int, code: str, message: str, detail: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, detail), status_code=status, headers=headers)


class ApiError(Exception):
    """An error the routes raise on purpose (auth, conflicts, index not loaded), rendered by its handler."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.detail, self.headers = detail, headers


def invalid_parameter(parameter: str, reason: str, location: str = "query") -> JSONResponse:
    return error_response(422, "invalid_parameter", f"Paramètre « {parameter} » invalide.",
                          {"parameter": parameter, "reason": reason, "location": location})


def _parameter(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(parameter, location) of a pydantic error location: ("query", "keyword", 0) -> ("keyword", "query")."""
    location = str(loc[0]) if loc else "request"
    names = [part for part in loc[1:] if isinstance(part, str)]
    return (names[0] if names else location), location


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    parameter, location = _parameter(tuple(first.get("loc", ())))
    reason = "unknown parameter" if first.get("type") == "extra_forbidden" else str(first.get("msg", ""))
    return invalid_parameter(parameter, reason, location)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidQuery):
        return invalid_parameter(exc.parameter, exc.reason)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"Aucune action n'a l'identifiant « {exc.action_id} ».",
                              {"id": exc.action_id})
    if isinstance(exc, IndexMissingError | IndexMismatchError):
        return error_response(503, "not_ready", "L'index de recherche n'est pas disponible.",
                              {"reason": str(exc)})
    # Other SemsearchError messages are written for users (see semsearch/errors.py), so they may be shown.
    return error_response(500, "search_error", str(exc))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    """Register the handlers; the catch-all for unexpected exceptions is the middleware in app.py."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SemsearchError, _library_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
