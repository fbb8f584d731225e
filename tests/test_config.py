"""Settings: read once from SEMSEARCH_* variables, every one documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.config import Settings, documented_settings
from semsearch.errors import SemsearchError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme_table() -> None:
    readme = README.read_text(encoding="utf-8")
    for variable, default, help_text in documented_settings():
        assert f"| `{variable}` | `{default}` | {help_text} |" in readme, variable


def test_environment_is_read_with_casts_and_flags_win() -> None:
    s = Settings.from_env({"SEMSEARCH_PORT": "9000", "SEMSEARCH_CORS_ORIGINS": "https://a.fr, https://b.fr",
                           "SEMSEARCH_INDEX_DIR": "/srv/index"}, index_dir=Path("/tmp/other"))
    assert (s.port, s.cors_origins, s.index_dir) == (9000, ("https://a.fr", "https://b.fr"), Path("/tmp/other"))


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SemsearchError, match="^SEMSEARCH_PORT='huit mille' : nombre entier attendu$"):
        Settings.from_env({"SEMSEARCH_PORT": "huit mille"})
