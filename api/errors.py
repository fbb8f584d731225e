"""One JSON shape for every error, `{"error": {"code", "message", "detail"}}`, built by `error_response`.

Library exceptions are translated here and only here: `NotFound` -> 404, `InvalidQuery` and FastAPI's own
validation errors -> 422 naming the parameter, an index that cannot be loaded or is not loaded yet -> 503, a
build already running -> 409, one that cannot start -> 503 (api/service.py raises these, never HTTP
errors). Whatever else escapes a route becomes a 500 with a generic message in `app.py`'s middleware, never
a traceback.
Errors that Starlette answers in text/plain on its own (a refused CORS preflight, a bad Range header on a
static file) are put in the same shape by `PlainErrorMiddleware`. No answer names an absolute path on the
server: `public_paths` rewrites them (relative to the index directory, else the file name alone), and the
full message stays in the server log.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semsearch.errors import (
    BuildError,
    IndexMismatchError,
    IndexMissingError,
    IndexNotLoaded,
    InvalidQuery,
    NotFound,
    SemsearchError,
)
from semsearch.jobs import BuildRunning

logger = logging.getLogger("semsearch.api")

# Machine-readable codes of the HTTP errors Starlette raises itself (unknown route, wrong method...).
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 503: "not_ready"}
_HTTP_MESSAGES = {404: "Ressource introuvable.", 405: "Méthode HTTP non autorisée sur cette ressource."}
# The plain-text refusals Starlette writes itself, by status: (code, message).
_PLAIN_ERRORS = {400: ("bad_request", "Requête refusée : en-têtes invalides."),
                 416: ("range_not_satisfiable", "Plage d'octets (Range) hors du fichier.")}
_CORS_REFUSED = ("cors_refused", "Requête d'une autre origine refusée (CORS).")
# An absolute POSIX path: starts with "/", "~/" or "file:/" where a word cannot go on (so "a/b" and "http://x"
# are no match) and runs until a space, a quote, a bracket or punctuation that ends a path in a sentence.
_ABSOLUTE_PATH = re.compile(r"(?:\bfile:|(?<![\w.:/~-])~?)/[^\s'\"`,;:()<>\[\]{}]*")
INDEX_DIR_WORDS = "le dossier de l'index"


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


def public_paths(text: str | None, index_dir: Path) -> str | None:
    """`text` without absolute paths, for an HTTP answer: a path inside `index_dir` becomes relative to it
    ("builds/<id>/actions.sqlite"), the directory itself "le dossier de l'index", any other one its name."""
    if not text:
        return text
    for root in {str(index_dir.absolute()), str(index_dir.resolve())} - {"/"}:
        text = text.replace(root + "/", "")
        text = re.sub(re.escape(root) + r"(?![\w.-])", INDEX_DIR_WORDS, text)
    return _ABSOLUTE_PATH.sub(lambda m: Path(m.group()).name or "/", text)


def without_paths(value: Any, index_dir: Path) -> Any:
    """`public_paths` over every string of a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return public_paths(value, index_dir)
    if isinstance(value, dict):
        return {key: without_paths(item, index_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [without_paths(item, index_dir) for item in value]
    return value


def invalid_parameter(parameter: str, reason: str, location: str = "query") -> JSONResponse:
    return error_response(422, "invalid_parameter", f"Paramètre « {parameter} » invalide.",
                          {"parameter": parameter, "reason": reason, "location": location})


# pydantic's reasons (English) in French, by error type; {names} come from the error's context.
_REASONS = {
    "extra_forbidden": "paramètre inconnu",
    "missing": "paramètre obligatoire absent",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier JSON attendu",
    "int_from_float": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "float_type": "nombre attendu",
    "finite_number": "nombre fini attendu",
    "string_type": "chaîne attendue",
    "list_type": "liste attendue",
    "model_type": "objet JSON attendu",
    "model_attributes_type": "objet JSON attendu",
    "dict_type": "objet JSON attendu",
    "json_invalid": "JSON invalide",
    "greater_than_equal": "doit valoir {ge} ou plus",
    "less_than_equal": "doit valoir {le} ou moins",
    "greater_than": "doit valoir plus de {gt}",
    "less_than": "doit valoir moins de {lt}",
    "string_too_short": "{min_length} caractère(s) au moins",
    "string_too_long": "{max_length} caractère(s) au plus",
    "too_short": "{min_length} valeur(s) au moins",
    "too_long": "{max_length} valeur(s) au plus",
    "literal_error": "valeurs possibles : {expected}",
}


def _reason(error: dict[str, Any]) -> str:
    """A validation error's reason in French; a type not known here keeps pydantic's words in parentheses."""
    context = {key: str(value).replace("' or '", "' ou '") for key, value in (error.get("ctx") or {}).items()}
    try:
        return _REASONS[error.get("type", "")].format(**context)
    except (KeyError, IndexError):
        return f"valeur refusée ({error.get('msg', '')})"


def _parameter(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(parameter, location) of a pydantic error location: ("query", "keyword", 0) -> ("keyword", "query")."""
    location = str(loc[0]) if loc else "request"
    names = [part for part in loc[1:] if isinstance(part, str)]
    return (names[0] if names else location), location


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    parameter, location = _parameter(tuple(first.get("loc", ())))
    return invalid_parameter(parameter, _reason(first), location)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidQuery):
        return invalid_parameter(exc.parameter, exc.reason)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"Aucune action n'a l'identifiant « {exc.action_id} ».",
                              {"id": exc.action_id})
    index_dir = request.app.state.settings.index_dir
    if isinstance(exc, IndexNotLoaded):  # the service is up, still waiting for its first good build
        return error_response(503, "not_ready", "L'index de recherche n'est pas encore chargé.",
                              {"reason": public_paths(exc.reason, index_dir)})
    if isinstance(exc, IndexMissingError | IndexMismatchError):
        return error_response(503, "not_ready", "L'index de recherche n'est pas disponible.",
                              {"reason": public_paths(str(exc), index_dir)})
    if isinstance(exc, BuildRunning):  # asked of any worker, or `semsearch reindex` beside the service
        return error_response(409, "reindex_running", "Une reconstruction de l'index est déjà en cours.",
                              {"started_at": exc.started_at})
    if isinstance(exc, BuildError):  # only /admin/reindex starts builds: the lock, the status or the process
        logger.error("%s", exc)
        return error_response(503, "reindex_unavailable", "La reconstruction de l'index n'a pas pu "
                              "démarrer ; la cause est dans le journal du service.")
    # Other SemsearchError messages are written for users (see semsearch/errors.py), so they may be shown.
    return error_response(500, "search_error", public_paths(str(exc), index_dir) or "")


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}))


class PlainErrorMiddleware:
    """Puts the 4xx answers Starlette writes in text/plain (CORSMiddleware's "Disallowed CORS origin",
    FileResponse's bad or unsatisfiable Range) in the one error shape; their headers are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the start of a plain-text error, sent once its body is known
        text = b""

        async def shaped(message: Message) -> None:
            nonlocal held, text
            if message["type"] == "http.response.start":
                content_type = MutableHeaders(raw=list(message.get("headers", []))).get("content-type", "")
                if message["status"] >= 400 and content_type.startswith("text/plain"):
                    held = message
                    return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            text += message.get("body", b"")
            if message.get("more_body", False):
                return
            await self._send_shaped(held, text.decode("utf-8", "replace"), send)

        await self.app(scope, receive, shaped)

    @staticmethod
    async def _send_shaped(start: Message, text: str, send: Send) -> None:
        status = start["status"]
        cors = text.startswith("Disallowed CORS")
        code, message = _CORS_REFUSED if cors else _PLAIN_ERRORS.get(
            status, (_HTTP_CODES.get(status, "http_error"), _HTTP_MESSAGES.get(status, "Requête refusée.")))
        shaped = error_response(status, code, message, {"reason": text} if text else None)
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        for name in ("content-type", "content-length"):
            del headers[name]
        for name, value in shaped.headers.items():
            headers[name] = value
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": shaped.body})


def install(app: FastAPI) -> None:
    """Register the handlers; the catch-all for unexpected exceptions is the middleware in app.py."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SemsearchError, _library_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
