"""HTTP service over semsearch: `create_app()` builds it, `semsearch serve` runs it."""

from .app import create_app

__all__ = ["create_app"]
