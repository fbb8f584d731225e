"""The one configuration object, read from SEMSEARCH_* environment variables at the edge.

Every setting is declared once in SETTINGS with its default and help text; the README's table is
checked against it by tests/test_config.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import SemsearchError

PREFIX = "SEMSEARCH_"
ROOT = Path(__file__).resolve().parent.parent  # the repository root in the (editable) install


def _path(value: str) -> Path:
    return Path(value).expanduser()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("nombre entier attendu") from None


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    """Settings of the library, the CLI and the service. Field metadata holds the help and the cast."""

    index_dir: Path = field(default=ROOT / "index", metadata={"help": "directory of the built index", "cast": _path})
    source: Path = field(
        default=ROOT / "data" / "actions-maine-et-loire.txt",
        metadata={"help": "export (text or .jsonl) the index is built from", "cast": _path},
    )
    encoder: str = field(
        default="multilingual-e5-small-onnx", metadata={"help": "model name from models/registry.json", "cast": str}
    )
    device: str = field(
        default="cpu", metadata={"help": "where the encoder runs: cpu, or cuda (onnxruntime-gpu or torch with CUDA)",
                                 "cast": str}
    )
    models_dir: Path = field(
        default=ROOT / "models", metadata={"help": "registry and local model directories", "cast": _path}
    )
    spacy_model: str = field(default="fr_core_news_sm", metadata={"help": "spaCy French pipeline", "cast": str})
    host: str = field(default="127.0.0.1", metadata={"help": "address the service listens on", "cast": str})
    port: int = field(default=8000, metadata={"help": "port the service listens on", "cast": _int})
    workers: int = field(default=1, metadata={"help": "uvicorn worker processes", "cast": _int})
    cors_origins: tuple[str, ...] = field(
        default=(), metadata={"help": "comma-separated origins allowed by CORS (none by default)", "cast": _csv}
    )
    admin_token: str = field(
        default="", metadata={"help": "bearer token for /admin routes; unset disables them", "cast": str}
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(), metadata={"help": "comma-separated proxy addresses whose X-Forwarded-For is believed (none by "
                                      "default)", "cast": _csv}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read SEMSEARCH_<FIELD> variables; explicit overrides (CLI flags) win over the environment."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = PREFIX + f.name.upper()
            if key in environ:
                cast: Callable[[str], Any] = f.metadata["cast"]
                try:
                    values[f.name] = cast(environ[key])
                except ValueError as exc:
                    raise SemsearchError(f"{key}={environ[key]!r} : {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def to_env(settings: Settings) -> dict[str, str]:
    """Settings as the SEMSEARCH_* variables from_env reads back: how a child process gets the same ones."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        out[PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return out


def documented_settings() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting: what the README's configuration table lists."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path):
            default = default.relative_to(ROOT) if default.is_relative_to(ROOT) else default
        elif isinstance(default, tuple):
            default = ",".join(default)
        rows.append((PREFIX + f.name.upper(), str(default), f.metadata["help"]))
    return rows
