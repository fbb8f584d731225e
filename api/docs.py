"""/docs: Swagger UI from the service itself (api/static/vendor/swagger-ui/), never from a CDN, so the
documentation works offline and runs no script the service did not ship. ReDoc is off (it would need a CDN).

FastAPI's page starts Swagger UI with one inline script. Rather than allow every inline script, the page's
Content-Security-Policy names that script by its SHA-256, computed here from the HTML actually served, so
the policy cannot drift from the page. Styles may be inline on this page only: Swagger UI's rendered
markup carries style attributes; scripts stay locked down.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from . import pages

DOCS_URL = "/docs"
ASSETS = "/static/vendor/swagger-ui"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _policy(html: bytes) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                      for s in _INLINE_SCRIPT.findall(html))
    return f"{pages.POLICY}; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'"


def install(app: FastAPI) -> None:
    """Serve /docs; the app must be created with docs_url=None and redoc_url=None."""
    html = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - documentation de l'API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png", oauth2_redirect_url=None,
        # Swagger UI would otherwise send the schema's address to validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    headers = {**pages.HEADERS, "Content-Security-Policy": _policy(html)}

    @app.api_route(DOCS_URL, methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)
